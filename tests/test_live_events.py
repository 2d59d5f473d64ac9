import time

from foundation_helpers import login, make_client
from test_api_registry import PW, seed_two_sites

from lookout.registry import service
from lookout.registry.models import Channel
from lookout.runtime.bus import bus
from lookout.store.db import session_scope


def _publish_until_received(ws, topics, expect):
    """Publish (after the relay subscribed) until the expected topic arrives; return what arrived."""
    for _ in range(50):
        for t in topics:
            bus.publish(t, {"n": 1})
        msg = ws.receive_json()
        if msg["topic"] == expect:
            return msg
        time.sleep(0.05)
    raise AssertionError(f"{expect} never arrived")


def test_events_are_filtered_by_scope_and_new_channels_are_found(data_dir, db_url):
    ids = seed_two_sites(db_url)
    c = make_client(data_dir)
    h = login(c, "mgr_a", PW)
    token = h["Authorization"].split()[1]
    with c.websocket_connect(f"/api/v1/ws?token={token}&topics=site.,channel.") as ws:
        first = _publish_until_received(ws, [f"site.{ids['b']}.level", f"site.{ids['a']}.level"],
                                        f"site.{ids['a']}.level")
        assert first["data"] == {"n": 1}
        with session_scope(db_url) as s:
            ch = service.create(s, "t", Channel, {"site_id": ids["a"], "code": "50015600001328000077",
                                                  "name": "新", "resource_class": 3}, "channel")
            new_id = ch.id
        got = _publish_until_received(ws, [f"channel.{ids[('B景区', 3)]}.status", f"channel.{new_id}.status"],
                                      f"channel.{new_id}.status")
        assert got["topic"] == f"channel.{new_id}.status"
        # nothing about site B ever reached this account
        bus.publish(f"site.{ids['a']}.occupancy", {"end": True})
        while True:
            m = ws.receive_json()
            assert f"site.{ids['b']}" not in m["topic"] and m["topic"] != f"channel.{ids[('B景区', 3)]}.status"
            if m["data"] == {"end": True}:
                break


def test_anonymous_socket_is_refused(data_dir, db_url):
    c = make_client(data_dir)
    import pytest
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as e:
        with c.websocket_connect("/api/v1/ws") as ws:
            ws.receive_json()
    assert e.value.code == 4401
