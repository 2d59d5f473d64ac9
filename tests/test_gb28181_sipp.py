"""GB/T 28181 server against real SIP peers (sipp): registration, admission, keepalive, catalog, bad input."""

from __future__ import annotations

import asyncio
import json

import pytest
from gb28181_helpers import (IPC, NVR, NVR_PASSWORD, UNKNOWN, UdpPeer, channels, device, have_sipp, running_server,
                             seed, sipp, wait_for)
from sqlalchemy import select
from typer.testing import CliRunner

from lookout.federation.models import GbAdmissionAlert, GbCatalogItem, GbRegistration, GbStatusEvent
from lookout.runtime.bus import bus
from lookout.security import audit
from lookout.security.models import AuditRecord
from lookout.store.db import session_scope

pytestmark = pytest.mark.skipif(not have_sipp(), reason="sipp (Debian package sip-tester) is not installed")


def _rows(db_url, model, *where):
    with session_scope(db_url) as s:
        return list(s.execute(select(model).where(*where)).scalars())


def test_register_with_digest_then_unregister(db_url):
    seed(db_url)
    with running_server(db_url, catalog_on_register=False) as srv:
        run = sipp("register_digest.xml", srv.udp_port, user=NVR, password=NVR_PASSWORD)
        assert run.ok, run.explain()
    (reg,) = _rows(db_url, GbRegistration)
    assert (reg.code, reg.remote_host, reg.remote_port, reg.transport) == (NVR, "127.0.0.1", run.port, "UDP")
    assert reg.online is False and reg.status_reason.startswith("unregistered")
    events = _rows(db_url, GbStatusEvent, GbStatusEvent.channel_id.is_(None))
    assert [(e.status, e.reason) for e in events] == [("online", "registered"), ("offline", "unregistered (Expires: 0)")]
    assert device(db_url).status == "offline"
    with session_scope(db_url) as s:
        assert audit.verify(s).ok
        acts = [(r.action, r.entity, r.after.get("status")) for r in s.execute(select(AuditRecord)).scalars()
                if r.actor == "gb28181"]
    assert ("status", "device", "online") in acts and ("status", "device", "offline") in acts


def test_register_and_keepalive_over_tcp(db_url):
    seed(db_url)
    with running_server(db_url, catalog_on_register=False) as srv:
        run = sipp("keepalive.xml", srv.tcp_port, user=NVR, password=NVR_PASSWORD, transport="t1")
        assert run.ok, run.explain()
        assert srv.stats["keepalive"] == 1
    (reg,) = _rows(db_url, GbRegistration)
    assert (reg.transport, reg.online) == ("TCP", True)


def test_wrong_password_gets_403(db_url):
    seed(db_url)
    with running_server(db_url) as srv:
        run = sipp("wrong_password.xml", srv.udp_port, user=NVR, password="not-the-password")
        assert run.ok, run.explain()
        assert srv.stats["auth_failed"] == 1
    assert _rows(db_url, GbRegistration) == []
    assert device(db_url).status == "unknown"
    assert _rows(db_url, GbAdmissionAlert) == []  # a known device with a bad password is not an admission alert


def test_unknown_and_malformed_devices_get_403_and_an_admission_alert(db_url):
    seed(db_url)
    with running_server(db_url) as srv:
        first = sipp("unknown_device.xml", srv.udp_port, user=UNKNOWN, password="whatever")
        assert first.ok, first.explain()
        again = sipp("unknown_device.xml", srv.udp_port, user=UNKNOWN, password="whatever")
        assert again.ok, again.explain()
        bad = sipp("unknown_device.xml", srv.udp_port, user="3402000000132000001X", password="x")
        assert bad.ok, bad.explain()
    alerts = {a.code: a for a in _rows(db_url, GbAdmissionAlert)}
    assert set(alerts) == {UNKNOWN, "3402000000132000001X"}
    unknown = alerts[UNKNOWN]
    assert (unknown.remote_host, unknown.remote_port, unknown.attempts) == ("127.0.0.1", again.port, 2)
    assert unknown.reason == "device ID is not in the registry" and unknown.user_agent == "IP Camera"
    assert "malformed device ID" in alerts["3402000000132000001X"].reason
    assert "non-digit 'X'" in alerts["3402000000132000001X"].reason
    assert _rows(db_url, GbRegistration) == []


def test_keepalive_then_silence_marks_device_and_channels_offline(db_url, data_dir):
    ids = seed(db_url)
    with running_server(db_url, keepalive_timeout_s=1.5, catalog_on_register=False) as srv:
        sub = asyncio.run_coroutine_threadsafe(_subscribe("channel."), srv.test_loop).result(5)
        run = sipp("keepalive.xml", srv.udp_port, user=NVR, password=NVR_PASSWORD)
        assert run.ok, run.explain()
        assert srv.stats["keepalive"] == 1
        wait_for(lambda: device(db_url).status == "offline")
        events = asyncio.run_coroutine_threadsafe(_drain(sub), srv.test_loop).result(5)
        wait_for(lambda: _rows(db_url, GbRegistration)[0].last_keepalive_at is not None)
        out = CliRunner().invoke(_cli(), ["gb28181", "status", "--json"])
    reg = _rows(db_url, GbRegistration)[0]
    assert reg.last_keepalive_at is not None and reg.last_keepalive_at >= reg.registered_at
    dev_events = _rows(db_url, GbStatusEvent, GbStatusEvent.channel_id.is_(None))
    assert [e.status for e in dev_events] == ["online", "offline"]
    assert dev_events[1].reason == "no keepalive for 1.5 s (1 missed)"
    assert dev_events[1].at > reg.last_keepalive_at
    ch = channels(db_url)["34020000001310000001"]
    assert ch.status == "offline" and ch.status_reason.startswith("GB/T 28181 device offline: no keepalive")
    assert ch.status_changed_at == dev_events[1].at
    assert channels(db_url)[IPC].status == "unknown"  # not this device's channel
    topic = f"channel.{ids['known_channel_id']}.status"
    assert [(e.topic, e.payload["status"]) for e in events] == [(topic, "offline")]
    assert out.exit_code == 0, out.output
    st = json.loads(out.stdout)
    (row,) = st["devices"]
    assert row["code"] == NVR and row["online"] is False and row["last_keepalive"] and row["registered"]


def test_catalog_split_over_two_messages_creates_channels(db_url):
    ids = seed(db_url)
    with running_server(db_url) as srv:
        run = sipp("catalog_register.xml", srv.udp_port, user=NVR, password=NVR_PASSWORD, ooc="catalog_answer.xml")
        assert run.ok, run.explain()
        wait_for(lambda: srv.stats["catalogs"] == 1)
    chs = channels(db_url)
    known, second, hall = (chs[f"3402000000131000000{i}"] for i in (1, 2, 3))
    assert known.id == ids["known_channel_id"] and known.name == "North Gate 1"
    assert (known.longitude, known.latitude) == (106.5516, 29.5630)
    assert (second.name, second.status, second.device_id, second.site_id) == (
        "North Gate 2", "offline", ids["nvr_id"], ids["site_id"])
    assert (hall.name, hall.status, hall.device_id) == ("Ticket Hall", "online", ids["nvr_id"])
    assert known.status == "online" and second.status_reason == "GB/T 28181 catalog: Status OFF"
    assert hall.retention_days == 90  # a scenic area keeps 90 days
    (reg,) = _rows(db_url, GbRegistration)
    assert (reg.catalog_sum, reg.catalog_received) == (3, 3)
    items = {i.code: i for i in _rows(db_url, GbCatalogItem)}
    assert set(items) == {known.code, second.code, hall.code}
    assert items[hall.code].data["Info"] == {"PTZType": "1"} and items[hall.code].data["Manufacturer"] == "Hikvision"
    with session_scope(db_url) as s:
        recs = [(r.action, r.entity_id) for r in s.execute(select(AuditRecord)).scalars() if r.entity == "channel"]
        assert audit.verify(s).ok
    assert ("create", str(second.id)) in recs and ("create", str(hall.id)) in recs
    assert ("update", str(known.id)) in recs


def test_malformed_messages_get_400_and_the_server_keeps_serving(db_url):
    seed(db_url)
    with running_server(db_url, catalog_on_register=False) as srv:
        run = sipp("malformed.xml", srv.udp_port, user=NVR)
        assert run.ok, run.explain()
        peer = UdpPeer(srv.udp_port)
        try:
            peer.send(b"\x00\xff\xfe garbage that is not SIP\r\n\r\n")
            r = peer.recv()
            assert r.startswith("SIP/2.0 400 Bad Request") and "header bytes are not UTF-8" in r
            peer.send(peer.request("MESSAGE", NVR, {"Content-Type": "Application/MANSCDP+xml",
                                                    "Content-Length": "500"}, b"<Notify/>"))
            r = peer.recv()
            assert r.startswith("SIP/2.0 400") and "Content-Length says 500" in r
            assert srv.stats["malformed"] == 3
        finally:
            peer.close()
        ok = sipp("register_digest.xml", srv.udp_port, user=NVR, password=NVR_PASSWORD)
        assert ok.ok, ok.explain()


async def _subscribe(prefix: str):
    return bus.subscribe(prefix)


async def _drain(sub):
    out = []
    while True:
        try:
            out.append(await asyncio.wait_for(sub.get(), 0.3))
        except asyncio.TimeoutError:
            sub.close()
            return out


def _cli():
    from lookout.cli import app

    return app


def test_a_preset_call_reaches_the_device_over_sip(db_url, data_dir):
    """An operator turns a camera back to preset 3: a DeviceControl with PTZCmd A50F01820003003A goes
    to the NVR the channel is on (sipp checks the body and answers 200); audited. A channel with no
    registered device, or a preset number out of range, is refused clearly."""
    import threading

    from foundation_helpers import login, make_client

    from lookout.security import accounts

    ids = seed(db_url)
    with session_scope(db_url) as s:
        accounts.add_user(s, "t", "op", "secret-pass", "operator", clearance=1)
        accounts.add_user(s, "t", "viewer", "secret-pass", "viewer", clearance=1)
    client = make_client(data_dir)
    h, viewer = login(client, "op", "secret-pass"), login(client, "viewer", "secret-pass")
    url = f"/api/v1/gb28181/channels/{ids['known_channel_id']}/preset"
    assert client.post(url, json={"action": "call", "number": 3}, headers=h).status_code == 409  # no server here
    with running_server(db_url, catalog_on_register=False) as srv:
        assert client.post(url, json={"action": "call", "number": 3}, headers=h).status_code == 409  # not registered
        runs = []
        peer = threading.Thread(target=lambda: runs.append(sipp("ptz_register.xml", srv.udp_port, user=NVR,
                                                                  password=NVR_PASSWORD, ooc="ptz_answer.xml")))
        peer.start()
        wait_for(lambda: NVR in srv.peers)
        assert client.post(url, json={"action": "call", "number": 0}, headers=h).status_code == 422
        assert client.post(url, json={"action": "call", "number": 3}, headers=viewer).status_code == 403
        r = client.post(url, json={"action": "call", "number": 3}, headers=h)
        assert r.status_code == 200, r.text
        assert r.json() | {"answer": None} == {"channel_id": ids["known_channel_id"], "device": NVR, "action": "call",
                                               "number": 3, "ptz_cmd": "A50F01820003003A", "answer": None}
        assert r.json()["answer"]["status"] == 200
        other = client.post(f"/api/v1/gb28181/channels/{ids['ipc_channel_id']}/preset", json={"number": 3}, headers=h)
        assert other.status_code == 409 and IPC in other.json()["detail"]
        peer.join(20)
    assert runs and runs[0].ok, runs[0].explain() if runs else "sipp did not run"
    with session_scope(db_url) as s:
        rec = s.execute(select(AuditRecord).where(AuditRecord.action == "ptz_preset_call")).scalar_one()
        assert rec.actor == "op" and rec.after["ptz_cmd"] == "A50F01820003003A" and rec.after["answer"]["status"] == 200
