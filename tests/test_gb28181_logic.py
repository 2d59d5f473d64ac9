"""GB/T 28181 pieces without a network (parser, digest, MANSCDP, presence, catalog assembly) and
server cases a raw peer covers: an IPC registering directly, catalog events, TCP, restart, refusals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from gb28181_helpers import (DEFAULT_PASSWORD, IPC, NVR, NVR_PASSWORD, TcpPeer, UdpPeer, channels, running_server,
                             seed, wait_for)
from sqlalchemy import select

from lookout.federation.gb28181 import digest, manscdp, sip
from lookout.federation.gb28181.catalog import CatalogAssembler
from lookout.federation.gb28181.config import load_config
from lookout.federation.gb28181.manscdp import CatalogItem
from lookout.federation.gb28181.presence import PresenceBook
from lookout.federation.models import GbRegistration, GbStatusEvent
from lookout.store.db import session_scope

T0 = datetime(2026, 11, 22, 1, 30, tzinfo=timezone.utc)

REGISTER = (b"REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n"
            b"v: SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1\r\n"
            b"f: <sip:34020000001320000009@3402000000>;tag=1\r\n"
            b"t: <sip:34020000001320000009@3402000000>\r\n"
            b"i: abc\r\nCSeq: 1 REGISTER\r\nUser-Agent: IP\r\n  Camera\r\nExpires: 3600\r\nl: 0\r\n\r\n")


# ---- parser ----------------------------------------------------------------------------------------

def test_parser_reads_compact_and_folded_headers():
    m = sip.parse(REGISTER)
    assert (m.method, m.call_id, m.cseq, m.header("user-agent")) == ("REGISTER", "abc", (1, "REGISTER"), "IP Camera")
    assert sip.parse_name_addr(m.header("From")).user == "34020000001320000009"
    assert m.branch == "z9hG4bK1" and sip.parse_via(m.header("Via")).port == 5060


@pytest.mark.parametrize("data,reason", [
    (REGISTER.replace(b"i: abc\r\n", b""), "missing Call-ID header"),
    (REGISTER.replace(b"CSeq: 1 REGISTER", b"CSeq: 1 MESSAGE"), "does not match request method"),
    (REGISTER.replace(b"l: 0", b"l: 10"), "Content-Length says 10"),
    (REGISTER.replace(b"l: 0", b"l: ten"), "bad Content-Length"),
    (REGISTER.replace(b"Expires: 3600", b"Expires 3600"), "bad header line"),
    (REGISTER.replace(b"SIP/2.0\r\nv:", b"SIP/3.0\r\nv:", 1), "bad start line"),
    (REGISTER.replace(b"sip:3402", b"http:3402", 1), "is not a sip: URI"),
    (REGISTER.replace(b"\r\n\r\n", b"\r\n"), "no blank line"),
    (b"X" * 70_000, "exceeds"),
])
def test_parser_rejects_malformed_messages_naming_the_fault(data, reason):
    with pytest.raises(sip.SipError) as exc:
        sip.parse(data)
    assert reason in exc.value.reason


def test_auth_header_parsing():
    scheme, p = sip.parse_auth('Digest username="a b", realm="3402000000",nonce="n\\"x", qop=auth, nc=00000001')
    assert scheme == "Digest" and p == {"username": "a b", "realm": "3402000000", "nonce": 'n"x', "qop": "auth",
                                        "nc": "00000001"}
    with pytest.raises(sip.SipError):
        sip.parse_auth('Digest username="unterminated')


# ---- digest ----------------------------------------------------------------------------------------

def test_digest_matches_rfc2617_example():
    assert digest.expected_response("Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
                                    "dcd98b7102dd2f0e8b11d0f600bfb0c093", "auth", "00000001",
                                    "0a4f113b") == "6629fae49393a05397450978507c4ef1"


def test_digest_verify_fresh_stale_forged_and_wrong():
    key, now = b"k" * 32, 1_800_000_000.0
    nonce = digest.make_nonce(key, now)

    def params(password="pw", nonce=nonce):
        resp = digest.expected_response(NVR, "3402000000", password, "REGISTER", "sip:x", nonce, "auth", "1", "c")
        return {"username": NVR, "realm": "3402000000", "nonce": nonce, "uri": "sip:x", "response": resp,
                "qop": "auth", "nc": "1", "cnonce": "c"}

    kw = dict(method="REGISTER", realm="3402000000", username=NVR, password="pw", key=key, nonce_ttl_s=300)
    assert digest.verify(params(), now=now + 10, **kw).ok
    assert digest.verify(params("other"), now=now + 10, **kw).status == 403
    stale = digest.verify(params(), now=now + 301, **kw)
    assert (stale.status, stale.stale) == (401, True)
    assert digest.make_nonce(key, now) != digest.make_nonce(key, now)  # unique even within a millisecond
    forged = digest.make_nonce(b"x" * 32, now)
    assert digest.verify(params(nonce=forged), now=now, **kw).reason == "nonce was not issued by this server"
    other_user = dict(kw, username="34020000001180000002")
    assert "not the device ID" in digest.verify(params(), now=now, **other_user).reason


# ---- MANSCDP ---------------------------------------------------------------------------------------

def test_catalog_response_in_gb2312_with_chinese_names():
    body = ('<?xml version="1.0" encoding="GB2312"?><Response><CmdType>Catalog</CmdType><SN>7</SN>'
            f'<DeviceID>{NVR}</DeviceID><SumNum>2</SumNum><DeviceList Num="1"><Item>'
            '<DeviceID>34020000001310000001</DeviceID><Name>北门广场</Name><Status>ON</Status>'
            '<Longitude>106.55</Longitude><Latitude>0</Latitude></Item></DeviceList></Response>').encode("gb2312")
    m = manscdp.parse(body)
    assert (m.root, m.cmd_type, m.sn, m.sum_num, m.list_num) == ("Response", "Catalog", "7", 2, 1)
    (it,) = m.items
    assert (it.name, it.status, it.longitude, it.latitude) == ("北门广场", "ON", 106.55, None)


@pytest.mark.parametrize("body,reason", [
    (b"<Notify><CmdType>Keepalive</CmdType><SN>1</SN></Notify>", "missing DeviceID"),
    (b"<Notify><SN>1</SN><DeviceID>1</DeviceID></Notify>", "missing CmdType"),
    (b"<Html/>", "root element"),
    (b"<Notify><CmdType>Keepalive", "not well-formed"),
    (b"<Notify><CmdType>Catalog</CmdType><SN>1</SN><DeviceID>1</DeviceID><DeviceList Num=\"2\"><Item>"
     b"<DeviceID>2</DeviceID></Item></DeviceList></Notify>", "Num=2 but 1 Item"),
    (b"<Notify><CmdType>Catalog</CmdType><SN>1</SN><DeviceID>1</DeviceID><DeviceList Num=\"1\"><Item>"
     b"<DeviceID>2</DeviceID><Event>EXPLODE</Event></Item></DeviceList></Notify>", "unknown Event"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
     b"<Notify><CmdType>&b;</CmdType></Notify>", "refused"),
])
def test_manscdp_rejects_bad_bodies(body, reason):
    with pytest.raises(manscdp.ManscdpError) as exc:
        manscdp.parse(body)
    assert reason in str(exc.value)


# ---- presence and catalog assembly (time passed in) ------------------------------------------------

def test_presence_transitions():
    book = PresenceBook(keepalive_timeout_s=180, keepalive_interval_s=60)
    assert book.register(NVR, T0, 3600).reason == "registered"
    assert book.register(NVR, T0 + timedelta(seconds=5), 3600) is None  # already online
    assert book.keepalive(NVR, T0 + timedelta(seconds=60)) is None
    assert book.sweep(T0 + timedelta(seconds=239)) == []
    (t,) = book.sweep(T0 + timedelta(seconds=240))
    assert (t.online, t.reason) == (False, "no keepalive for 180 s (3 missed)")
    assert book.keepalive(NVR, T0 + timedelta(seconds=300)).reason == "keepalive received"
    (t,) = book.sweep(T0 + timedelta(seconds=3605))
    assert t.reason == "registration expired" and not book.is_registered(NVR, T0 + timedelta(seconds=3605))
    book.register(NVR, T0 + timedelta(seconds=4000), 60)
    assert book.unregister(NVR, T0 + timedelta(seconds=4001)).reason == "unregistered (Expires: 0)"
    assert book.take_dirty() == {NVR: T0 + timedelta(seconds=300)} and book.take_dirty() == {}


def test_catalog_assembler_counts_distinct_items_and_hands_back_partial_answers():
    asm = CatalogAssembler(timeout_s=30)
    a, b, c = (CatalogItem(f"3402000000131000000{i}") for i in (1, 2, 3))
    assert asm.add(NVR, "1", 3, [a, b], T0) is None
    assert asm.add(NVR, "1", 3, [b], T0) is None  # a retransmitted part
    done = asm.add(NVR, "1", 3, [c], T0)
    assert done.complete and [i.device_id for i in done.items] == [a.device_id, b.device_id, c.device_id]
    asm.add(NVR, "2", 3, [a], T0)
    assert asm.expire(T0 + timedelta(seconds=29)) == []
    (partial,) = asm.expire(T0 + timedelta(seconds=30))
    assert not partial.complete and len(partial.items) == 1
    with pytest.raises(ValueError):
        asm.add(NVR, "3", 10_000_000, [], T0)


def test_config_validates_codes():
    with pytest.raises(ValueError, match="10 digits"):
        load_config(domain="34020")
    with pytest.raises(ValueError, match="not a platform"):
        load_config(server_id="34020000001320000001")


# ---- server with a raw peer ------------------------------------------------------------------------

def _notify(items: str, sn: int = 9, code: str = NVR) -> bytes:
    return (f'<?xml version="1.0" encoding="GB2312"?><Notify><CmdType>Catalog</CmdType><SN>{sn}</SN>'
            f'<DeviceID>{code}</DeviceID><SumNum>1</SumNum><DeviceList Num="{items.count("<Item>")}">{items}'
            "</DeviceList></Notify>").encode("gb18030")


def test_ipc_registering_directly_with_default_password_and_catalog_events(db_url):
    ids = seed(db_url)
    with running_server(db_url, catalog_on_register=False) as srv:
        ipc = UdpPeer(srv.udp_port)
        nvr = UdpPeer(srv.udp_port)
        try:
            assert ipc.register(IPC, DEFAULT_PASSWORD).startswith("SIP/2.0 200")
            assert channels(db_url)[IPC].status == "online"
            assert nvr.register(NVR, NVR_PASSWORD).startswith("SIP/2.0 200")
            r = nvr.message(NVR, _notify(
                "<Item><DeviceID>34020000001310000001</DeviceID><Event>OFF</Event></Item>"
                "<Item><DeviceID>34020000001310000005</DeviceID><Event>ADD</Event><Name>东门</Name>"
                "<Status>ON</Status></Item>"))
            assert r.startswith("SIP/2.0 200")
            chs = channels(db_url)
            assert chs["34020000001310000001"].status == "offline"
            assert chs["34020000001310000001"].status_reason == "catalog event OFF"
            added = chs["34020000001310000005"]
            assert (added.name, added.status, added.device_id) == ("东门", "online", ids["nvr_id"])
            nvr.message(NVR, _notify("<Item><DeviceID>34020000001310000005</DeviceID><Event>VLOST</Event></Item>"
                                     "<Item><DeviceID>34020000001310000001</DeviceID><Event>DEL</Event></Item>", 10))
            chs = channels(db_url)
            assert (chs["34020000001310000005"].status, chs["34020000001310000005"].status_reason) == (
                "fault", "video lost (catalog event VLOST)")
            assert "DEL" in chs["34020000001310000001"].status_reason
            # the IPC's registration is its own: the NVR's events did not touch it
            assert chs[IPC].status == "online"
        finally:
            ipc.close()
            nvr.close()


def test_refusals_for_messages(db_url):
    seed(db_url)
    with running_server(db_url, catalog_on_register=False) as srv:
        p = UdpPeer(srv.udp_port)
        try:
            r = p.message(NVR, manscdp.keepalive(1, NVR))
            assert r.startswith("SIP/2.0 403") and "is not registered" in r
            assert p.register(NVR, NVR_PASSWORD).startswith("SIP/2.0 200")
            r = p.message(NVR, manscdp.keepalive(2, "34020000001180000002"))
            assert r.startswith("SIP/2.0 400") and "is not the sender" in r
            p.send(p.request("MESSAGE", NVR, {"Content-Type": "text/plain"}, b"hello"))
            r = p.recv()
            assert r.startswith("SIP/2.0 415")
            p.send(p.request("INVITE", NVR))
            assert p.recv().startswith("SIP/2.0 405")
            assert p.message(NVR, manscdp.keepalive(3, NVR)).startswith("SIP/2.0 200")
            # an NVR's answer about one of its channels (a DeviceControl result) names that channel
            result = ('<?xml version="1.0"?><Response><CmdType>DeviceControl</CmdType><SN>9</SN>'
                      '<DeviceID>34020000001310000001</DeviceID><Result>OK</Result></Response>').encode()
            assert p.message(NVR, result).startswith("SIP/2.0 200")
        finally:
            p.close()


def test_a_replayed_authorization_is_challenged_again(db_url):
    seed(db_url)
    with running_server(db_url, catalog_on_register=False) as srv:
        p = UdpPeer(srv.udp_port)
        try:
            assert p.register(NVR, NVR_PASSWORD).startswith("SIP/2.0 200")
            p.send(p.request("REGISTER", NVR, {"Expires": "3600", "Authorization": p.last_auth}))
            r = p.recv()
            assert r.startswith("SIP/2.0 401") and "stale=TRUE" in r
            assert p.register(NVR, NVR_PASSWORD).startswith("SIP/2.0 200")
        finally:
            p.close()


def test_tcp_registration_keepalive_and_catalog_query(db_url):
    seed(db_url)
    with running_server(db_url) as srv:
        p = TcpPeer(srv.tcp_port)
        try:
            assert p.register(NVR, NVR_PASSWORD).startswith("SIP/2.0 200")
            q = p.recv_request() if p.requests else p._read_one()
            assert q.startswith("MESSAGE ") and "<CmdType>Catalog</CmdType>" in q and "SIP/2.0/TCP" in q
            assert p.message(NVR, manscdp.keepalive(1, NVR)).startswith("SIP/2.0 200")
        finally:
            p.close()
    with session_scope(db_url) as s:
        (reg,) = s.execute(select(GbRegistration)).scalars()
        assert (reg.transport, reg.online) == ("TCP", True)


def test_registrations_survive_a_restart(db_url):
    seed(db_url)
    p = UdpPeer(0)
    try:
        with running_server(db_url, catalog_on_register=False) as srv:
            p.server = ("127.0.0.1", srv.udp_port)
            assert p.register(NVR, NVR_PASSWORD).startswith("SIP/2.0 200")
        with running_server(db_url, catalog_on_register=False, keepalive_timeout_s=1.0) as srv:
            p.server = ("127.0.0.1", srv.udp_port)
            assert p.message(NVR, manscdp.keepalive(1, NVR)).startswith("SIP/2.0 200")

            def offline():
                with session_scope(db_url) as s:
                    return s.execute(select(GbStatusEvent).where(GbStatusEvent.status == "offline",
                                                                 GbStatusEvent.channel_id.is_(None))).first()
            wait_for(offline)
    finally:
        p.close()


def test_ptz_preset_commands_follow_appendix_a():
    """Byte 6 carries the preset number, byte 8 the sum of bytes 1–7; a command read back is checked."""
    from lookout.federation.gb28181 import ptz

    assert ptz.encode(ptz.preset("call", 1)) == "A50F018200010038"
    assert ptz.encode(ptz.preset("call", 3)) == "A50F01820003003A"
    assert ptz.encode(ptz.preset("set", 255)) == "A50F018100FF0035"
    assert ptz.encode(ptz.preset("delete", 255)) == "A50F018300FF0037"
    assert ptz.decode("a50f01820003003a").preset == ("call", 3)
    assert ptz.decode(ptz.encode(ptz.PtzCommand(0x29, 0x10, 0x20, 0x3, address=0x123))) == ptz.PtzCommand(
        0x29, 0x10, 0x20, 0x3, address=0x123)
    for bad, what in (("A50F01820003003B", "checksum"), ("A50F018200030", "not hexadecimal"),
                      ("A50F0182000300", "7 bytes"), ("B50F01820003003A", "A5"), ("A50E01820003003A", "check nibble")):
        with pytest.raises(ptz.PtzError, match=what):
            ptz.decode(bad)
    for action, number in (("call", 0), ("call", 256), ("turn", 1)):
        with pytest.raises(ptz.PtzError):
            ptz.preset(action, number)
    body = manscdp.parse(manscdp.ptz_control(7, "34020000001310000001", "A50F01820003003A"))
    assert (body.root, body.cmd_type, body.sn, body.device_id) == ("Control", "DeviceControl", "7", "34020000001310000001")
    assert body.fields["PTZCmd"] == "A50F01820003003A"


def test_a_simulated_device_registers_reports_its_channels_and_takes_preset_commands(db_url):
    """The simulated NVR (the demo's) against the real server: digest registration, its catalog into
    the registry, keepalives, and front-end commands handed to its callback; a bad PTZCmd or an
    unknown channel gets a clear refusal."""
    import asyncio

    from lookout.federation.gb28181 import ptz
    from lookout.federation.gb28181.devsim import SimChannel, SimulatedDevice

    seed(db_url)
    called = []
    with running_server(db_url) as srv:
        dev = SimulatedDevice(NVR, NVR_PASSWORD, ("127.0.0.1", srv.udp_port),
                              [SimChannel("34020000001310000001", "北门1"), SimChannel("34020000001310000004", "南门"),
                               SimChannel("34020000001310000005", "湖边", status="OFF")],
                              on_ptz=lambda code, cmd: called.append((code, cmd)))

        def run(coro):
            return asyncio.run_coroutine_threadsafe(coro, srv.test_loop).result(20)

        run(dev.start())
        wait_for(lambda: srv.stats["catalogs"] == 1)
        chs = channels(db_url)
        assert chs["34020000001310000004"].name == "南门" and chs["34020000001310000005"].status == "offline"
        run(dev.keepalive())
        resp = run(srv.control_ptz(NVR, "34020000001310000004", ptz.preset("call", 2)))
        assert resp.status == 200
        wait_for(lambda: called)
        assert called == [("34020000001310000004", ptz.preset("call", 2))] and dev.commands == called
        bad = manscdp.ptz_control(99, "34020000001310000004", "A50F01820002003A")  # checksum off by one
        resp = run(srv.send_request(NVR, "MESSAGE", bad, manscdp.CONTENT_TYPE, "bad PTZ"))
        assert resp.status == 400 and "checksum" in resp.header("Warning")
        resp = run(srv.control_ptz(NVR, "34020000001310000099", ptz.preset("call", 1)))
        assert resp.status == 404 and "no channel" in resp.header("Warning")
        run(dev.stop())
        assert not srv.book.is_registered(NVR, srv.clock())
    assert len(called) == 1
