"""A notification endpoint that is down for 10 minutes still receives every message once."""

import json
import socket
import threading
import pytest
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import select

from lookout.safety.actions.webhook import WebhookSender
from lookout.safety.engine import Occupancy
from lookout.safety.live import SafetyService
from lookout.safety.models import OutboxMessage
from lookout.safety.outbox import Backoff, deliver_due, enqueue
from lookout.store.db import session_scope

T0 = datetime(2026, 10, 1, 1, 0, tzinfo=timezone.utc)

pytestmark = pytest.mark.db


class Receiver:
    """A real HTTP server on a fixed port; ``mode`` is "refuse" (not listening), "503" or "ok"."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.got: list[tuple[str, dict]] = []
        self.hits = 0
        self.mode = "refuse"
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        if mode != "refuse" and self.server is None:
            outer = self

            class H(BaseHTTPRequestHandler):
                def do_POST(self):
                    body = self.rfile.read(int(self.headers["Content-Length"]))
                    outer.hits += 1
                    if outer.mode == "503":
                        self.send_response(503)
                        self.end_headers()
                        return
                    outer.got.append((self.headers["Idempotency-Key"], json.loads(body)))
                    self.send_response(200)
                    self.end_headers()

                def log_message(self, *a):
                    pass

            self.server = ThreadingHTTPServer(("127.0.0.1", self.port), H)
            threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def test_endpoint_down_ten_minutes_gets_every_message_once(db_url, safety_site):
    rx = Receiver()
    ids = safety_site(
        config={"ticketing_url": rx.url, "screen_url": rx.url},
        duty=[("site", "值班员甲", rx.url)],
    )
    svc = SafetyService(db_url, publish=lambda *a: None)
    svc.on_occupancy(ids["site_id"], Occupancy(850), T0)  # yellow: screen + duty alert
    svc.on_occupancy(ids["site_id"], Occupancy(920), T0 + timedelta(seconds=30))  # orange: + stop sales
    with session_scope(db_url) as s:
        for i in range(20):  # plus a burst of plain notifications
            enqueue(s, key=f"test:{i}", channel="webhook", target=rx.url, payload={"n": i}, now=T0)
        expected = set(s.execute(select(OutboxMessage.key)).scalars())
    assert len(expected) >= 25

    senders = {c: WebhookSender(timeout=2) for c in ("webhook", "ticketing", "screen")}
    backoff = Backoff(base=timedelta(seconds=2), factor=2, cap=timedelta(seconds=60))
    now = T0
    try:
        # 0-5 min: connection refused; 5-10 min: the server answers 503
        while now < T0 + timedelta(minutes=10):
            if now >= T0 + timedelta(minutes=5):
                rx.set_mode("503")
            deliver_due(db_url, senders, now, backoff=backoff)
            now += timedelta(seconds=5)
        assert rx.got == [] and rx.hits > 0
        with session_scope(db_url) as s:
            rows = s.execute(select(OutboxMessage)).scalars().all()
            assert all(r.status == "pending" and r.attempts >= 5 for r in rows)
            assert all("503" in r.last_error for r in rows)
        rx.set_mode("ok")
        while now < T0 + timedelta(minutes=12):
            deliver_due(db_url, senders, now, backoff=backoff)
            now += timedelta(seconds=5)
    finally:
        rx.close()
    keys = [k for k, _ in rx.got]
    assert sorted(keys) == sorted(expected)  # every message, each once
    assert len(keys) == len(set(keys))
    with session_scope(db_url) as s:
        assert {r.status for r in s.execute(select(OutboxMessage)).scalars()} == {"sent"}
    stop = [p for _, p in rx.got if p.get("action") == "stop_sales"]
    assert len(stop) == 1 and stop[0]["level"] == "orange"


def test_permanent_error_is_kept_failed_not_retried(db_url, safety_site):
    safety_site()
    with session_scope(db_url) as s:
        enqueue(s, key="bad", channel="webhook", target="ftp://example", payload={}, now=T0)
    st = deliver_due(db_url, {"webhook": WebhookSender()}, T0)
    assert st.failed == 1
    st = deliver_due(db_url, {"webhook": WebhookSender()}, T0 + timedelta(hours=1))
    assert st.sent == st.failed == st.retried == 0
    with session_scope(db_url) as s:
        row = s.execute(select(OutboxMessage)).scalar_one()
        assert row.status == "failed" and "not an http" in row.last_error


def test_backoff_grows_and_caps():
    b = Backoff(base=timedelta(seconds=2), factor=2, cap=timedelta(seconds=60))
    assert [b.delay(n).total_seconds() for n in (1, 2, 3, 6, 10)] == [2, 4, 8, 60, 60]
