"""Stored online status: changes from probes and from GB/T 28181 merged, applied to the channel,
published on the bus, and turned into rates and daily history with a controlled clock."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from lookout.federation.models import GbStatusEvent
from lookout.health import rates, status
from lookout.health.models import ChannelDailyOnline, ChannelStatusChange
from lookout.registry import service
from lookout.registry.models import Channel, Site
from lookout.security.models import AuditRecord
from lookout.store.db import session_scope

SH = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 20)


def at(h: float) -> datetime:  # hours after local midnight of DAY
    return datetime(2026, 11, 20, tzinfo=SH) + timedelta(hours=h)


def seed(db_url: str) -> dict[str, int]:
    with session_scope(db_url) as s:
        city = service.create_org_unit(s, "t", "city", "重庆市", "500000")
        dist = service.create_org_unit(s, "t", "district", "武隆区", "500156", parent_id=city.id)
        key_site = service.create(s, "t", Site, {"name": "天坑", "org_unit_id": dist.id, "key_unit": True}, "site")
        hotel = service.create(s, "t", Site, {"name": "酒店", "org_unit_id": dist.id, "category": "hotel"}, "site")
        ids = {"key_site": key_site.id, "hotel": hotel.id, "dist": dist.id}
        for name, site, url in (("a", key_site, "rtsp://10.0.0.1/a"), ("b", hotel, "rtsp://10.0.0.2/b"),
                                ("c", hotel, None)):
            ch = service.create(s, "t", Channel, {"site_id": site.id, "code": f"500156000013200000{len(ids):02d}",
                                                  "name": name, "main_url": url}, "channel")
            ids[name] = ch.id
    return ids


def test_apply_status_stores_changes_audits_and_publishes(db_url):
    ids = seed(db_url)

    async def scenario():
        from lookout.runtime.bus import bus

        sub = bus.subscribe(f"channel.{ids['a']}.")
        with session_scope(db_url) as s:
            ch = s.get(Channel, ids["a"])
            ev = status.apply_status(s, ch, "offline", "stream probe failed: timed out", "probe", at(1))
            assert status.apply_status(s, ch, "offline", "stream probe failed: timed out", "probe", at(2)) is None
            # a new reason without a new state updates the channel but adds no change row
            assert status.apply_status(s, ch, "offline", "stream probe failed: refused", "probe", at(3)) is None
        status.publish([ev])
        got = await asyncio.wait_for(sub.get(), 2)
        sub.close()
        return got

    got = asyncio.run(scenario())
    assert got.topic == f"channel.{ids['a']}.status"
    assert got.payload["status"] == "offline" and got.payload["previous"] == "unknown" and got.payload["source"] == "probe"
    with session_scope(db_url) as s:
        ch = s.get(Channel, ids["a"])
        assert (ch.status, ch.status_reason, ch.status_changed_at) == ("offline", "stream probe failed: refused", at(1))
        (row,) = s.execute(select(ChannelStatusChange)).scalars()
        assert (row.status, row.previous, row.at, row.source) == ("offline", "unknown", at(1), "probe")
        assert s.execute(select(AuditRecord).where(AuditRecord.action == "status")).scalars().all()


def test_history_merges_probe_and_gb28181_and_drives_the_rates(db_url):
    ids = seed(db_url)
    with session_scope(db_url) as s:
        a, b = s.get(Channel, ids["a"]), s.get(Channel, ids["b"])
        status.apply_status(s, a, "online", "picture received", "patrol", at(-30))  # before the day
        s.add(GbStatusEvent(code="x", channel_id=ids["a"], status="offline", reason="keepalive timeout", at=at(6)))
        s.add(ChannelStatusChange(channel_id=ids["a"], at=at(7), status="fault", previous="offline",
                                  reason="picture faults: blur", source="patrol"))
        status.apply_status(s, b, "online", "picture received", "patrol", at(12))
    now = at(24 + 6)  # 06:00 the next day
    with session_scope(db_url) as s:
        hist = status.load_history(s, [ids["a"]], at(0), at(24))[ids["a"]]
        assert [(e.status, e.source) for e in hist] == [("online", "patrol"), ("offline", "gb28181"), ("fault", "patrol")]
        by_site = {g["id"]: g for g in rates.online_rates(s, DAY, DAY, now, SH, "site")}
        key = by_site[ids["key_site"]]
        # channel a: online 0-6, offline 6-7 (GB/T 28181), fault (counts as online) 7-24 → 23/24, a key unit
        assert key["key"]["channels"] == 1 and key["key"]["rate"] == pytest.approx(23 / 24, abs=1e-5)
        assert key["meets"] is False  # 95.8 % is below the 98 % target of key units
        # normal (正常): online with no picture fault — only 0-6, the blurred picture 7-24 is not
        assert key["key"]["normal_rate"] == pytest.approx(6 / 24, abs=1e-5) and key["normal_meets"] is False
        assert key["normal_s"] == pytest.approx(6 * 3600)
        hotel = by_site[ids["hotel"]]
        # channel b: unobserved 0-12, online 12-24; channel c never observed
        assert hotel["channels"] == 2 and hotel["industry"]["rate"] == 1.0 and hotel["meets"] is True
        assert hotel["unobserved_s"] == pytest.approx(12 * 3600 + 24 * 3600)
        (dist,) = rates.online_rates(s, DAY, DAY, now, SH, "district")
        assert dist["id"] == ids["dist"] and dist["channels"] == 3
        assert dist["rate"] == pytest.approx((23 + 12) / (24 + 12), abs=1e-5)

        trend = rates.online_rate_trend(s, at(0), now, channel_ids=select(Channel.id), tz=SH)
        assert [p["day"] for p in trend] == ["2026-11-20", "2026-11-21"]
        assert trend[0]["fraction"] == pytest.approx(35 / 36) and trend[1]["fraction"] == 1.0
        assert trend[0]["rate"] == pytest.approx(97.22)  # percent, as the web pages show rates
        assert trend[0]["normal_rate"] == pytest.approx(100 * (6 + 12) / 36, abs=0.01)

        net = {g["id"]: g for g in rates.networking_rates(s, "site")}
        assert net[ids["hotel"]]["networked"] == 1 and net[ids["hotel"]]["ledger"] == 2

        assert rates.refresh_daily(s, DAY, DAY + timedelta(days=1), now, SH) == 6
    with session_scope(db_url) as s:
        rows = {(r.channel_id, r.day): r for r in s.execute(select(ChannelDailyOnline)).scalars()}
        assert rows[(ids["a"], DAY)].fraction == pytest.approx(23 / 24) and rows[(ids["a"], DAY)].complete
        assert rows[(ids["a"], DAY)].fault_s == pytest.approx(17 * 3600)
        assert rows[(ids["c"], DAY)].fraction is None
        assert not rows[(ids["a"], DAY + timedelta(days=1))].complete
        # a stored complete day stands even when its change rows are pruned
        s.query(ChannelStatusChange).delete()
        s.query(GbStatusEvent).delete()
    with session_scope(db_url) as s:
        (g,) = [g for g in rates.online_rates(s, DAY, DAY, now, SH, "site") if g["id"] == ids["key_site"]]
        assert g["rate"] == pytest.approx(23 / 24, abs=1e-5) and g["normal_rate"] == pytest.approx(6 / 24, abs=1e-5)
        # a day stored before faulty seconds were kept is not read as all normal: it is computed again
        s.query(ChannelDailyOnline).filter_by(channel_id=ids["a"], day=DAY).update({"fault_s": None})
        (g,) = [g for g in rates.online_rates(s, DAY, DAY, now, SH, "site") if g["id"] == ids["key_site"]]
        assert g["rate"] is None  # its changes are gone: unobserved, not 100 % normal


def test_patrol_service_is_discovered_and_can_be_turned_off(monkeypatch, tmp_path):
    from lookout.health.services import services
    from lookout.runtime.supervisor import discover
    from lookout.settings import load_settings

    settings = load_settings(data_dir=tmp_path, secret_key="k" * 32)
    assert [s.name for s in services(settings)] == ["patrol"]
    monkeypatch.setenv("LOOKOUT_PATROL_ENABLED", "false")
    assert services(settings) == []
    assert "patrol" not in [s.name for s in discover(settings)]


def test_old_diagnoses_are_pruned_and_snapshots_capped(db_url, tmp_path):
    import numpy as np

    from lookout.health.models import DiagnosisRecord
    from lookout.health.patrol import _save_snapshot, prune_diagnoses

    ids = seed(db_url)
    with session_scope(db_url) as s:
        for days_ago in (100, 91, 10):
            s.add(DiagnosisRecord(channel_id=ids["a"], at=at(0) - timedelta(days=days_ago), online=True, faults=[],
                                  scores={}))
    with session_scope(db_url) as s:
        assert prune_diagnoses(s, at(0) - timedelta(days=90)) == 2
    with session_scope(db_url) as s:
        assert len(s.execute(select(DiagnosisRecord)).scalars().all()) == 1
    img = np.zeros((64, 64, 3), np.uint8)
    paths = [_save_snapshot(tmp_path, 7, at(i), img, keep=3) for i in range(5)]
    kept = sorted(p.name for p in (tmp_path / "health" / "snapshots" / "7").glob("*.jpg"))
    assert kept == sorted(p.split("/")[-1] for p in paths[-3:])
