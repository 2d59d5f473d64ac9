"""Action adapters against real peers: a local SMTP server, espeak-ng, and the upward report at red."""

import socketserver
import threading
import wave
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from lookout.safety.actions.broadcast import synthesize
from lookout.safety.actions.email import SmtpSender
from lookout.safety.engine import Occupancy
from lookout.safety.live import SafetyService
from lookout.safety.models import OutboxMessage
from lookout.safety.outbox import DeliveryError
from lookout.store.db import session_scope

T0 = datetime(2026, 10, 1, 3, 0, tzinfo=timezone.utc)


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP to accept one message."""

    def handle(self):
        w = lambda s: self.wfile.write((s + "\r\n").encode())  # noqa: E731
        w("220 test ESMTP")
        data, in_data = [], False
        for raw in self.rfile:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if in_data:
                if line == ".":
                    in_data = False
                    self.server.messages.append("\n".join(data))
                    w("250 queued")
                else:
                    data.append(line)
                continue
            cmd = line[:4].upper()
            if cmd in ("EHLO", "HELO"):
                w("250 test")
            elif cmd == "DATA":
                in_data = True
                w("354 go on")
            elif cmd == "QUIT":
                w("221 bye")
                return
            else:
                w("250 ok")


def test_email_through_a_real_smtp_server():
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    srv.messages = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        msg = OutboxMessage(key="alert:1:member:1:email", channel="email", target="duty@example.org",
                            payload={"to": ["duty@example.org"], "subject": "洪崖洞 二级(橙色)", "body": "请确认"})
        SmtpSender("127.0.0.1", srv.server_address[1])(msg)
        assert len(srv.messages) == 1 and "duty@example.org" in srv.messages[0]
    finally:
        srv.shutdown()
        srv.server_close()
    with pytest.raises(DeliveryError) as exc:  # nobody listening: retryable
        SmtpSender("127.0.0.1", srv.server_address[1], timeout=2)(msg)
    assert exc.value.retryable
    bad = OutboxMessage(key="k", channel="email", target="", payload={"to": ["nobody"]})
    with pytest.raises(DeliveryError) as exc:
        SmtpSender("127.0.0.1", 25).build(bad)
    assert not exc.value.retryable


def test_broadcast_sound_file_with_espeak_ng(tmp_path):
    path = synthesize("一级红色预警,景区只出不进,请有序离开。", tmp_path)
    with wave.open(str(path)) as w:
        assert w.getnframes() / w.getframerate() > 1.0  # more than a second of speech
    assert synthesize("一级红色预警,景区只出不进,请有序离开。", tmp_path) == path  # cached by text


@pytest.mark.db
def test_red_queues_upward_report_and_stop_sales(db_url, safety_site):
    hook = "http://127.0.0.1:9/h"
    ids = safety_site(config={"upward_url": hook, "ticketing_url": hook, "broadcast_url": hook})
    svc = SafetyService(db_url, publish=lambda *a: None)
    svc.on_occupancy(ids["site_id"], Occupancy(present=970, entered_today=4000, zones={"观景台": 300}), T0)
    svc.on_occupancy(ids["site_id"], Occupancy(present=100, entered_today=4000), T0 + timedelta(minutes=1))
    for m in range(2, 40):
        svc.tick(T0 + timedelta(minutes=m))
    with session_scope(db_url) as s:
        msgs = {m.key.rsplit(":", 1)[-1]: m.payload for m in s.execute(select(OutboxMessage)).scalars()}
        channels = sorted(m.channel for m in s.execute(select(OutboxMessage)).scalars())
    up = msgs["upward"]
    assert up["level"] == "red" and up["crowd_size"] == 970 and up["area"] and up["scope_of_impact"]
    assert msgs["stop_sales"]["action"] == "stop_sales" and msgs["resume_sales"]["action"] == "resume_sales"
    assert channels.count("broadcast") == 4  # red, then orange, yellow, none on the way down
