"""Occupancy fusion: the pure rule, the business day, and the snapshot from stored samples."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from lookout.counting.fusion import (FlowTotal, FusionInputs, PresenceReading, business_day_start, fuse,
                                     site_occupancy)
from lookout.counting.sources import ensure_source, ingest_samples
from lookout.registry.models import OrgUnit, Site, Zone
from lookout.store.db import session_scope

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)  # 14:00 in Shanghai


def test_business_day_starts_at_the_sites_opening_time_in_its_zone():
    assert business_day_start(NOW, "08:00", "Asia/Shanghai") == datetime(2026, 11, 22, 0, 0, tzinfo=timezone.utc)
    early = datetime(2026, 11, 21, 23, 0, tzinfo=timezone.utc)  # 07:00 local, before opening
    assert business_day_start(early, "08:00", "Asia/Shanghai") == datetime(2026, 11, 21, 0, 0, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="HH:MM"):
        business_day_start(NOW, "8h", "Asia/Shanghai")


def test_entries_minus_exits_with_zones_as_lower_bound_and_notes():
    inputs = FusionInputs(1, "2026-11-22", flows=[FlowTotal("gate-a", 500, 200), FlowTotal("gate-b", 100, 50),
                                                  FlowTotal("staff-door", 40, 0, is_entrance=False)],
                          presences=[PresenceReading("cam-1", 120, NOW - timedelta(minutes=1), zone_id=7)],
                          site_zones={7: "plaza", 8: "hall"})
    snap = fuse(inputs, NOW)
    assert (snap.present, snap.entered_today, snap.exited_today) == (350, 600, 250)
    assert snap.zones == {7: 120} and snap.notes == []
    # zones alone see more people than the gates: the gates miss entries
    inputs.presences.append(PresenceReading("cam-2", 500, NOW - timedelta(minutes=2), zone_id=8))
    snap = fuse(inputs, NOW)
    assert snap.present == 620  # zones now cover the site: corrected to their sum
    assert any("corrected" in n for n in snap.notes)


def test_stale_presence_is_ignored_and_site_wide_estimate_disagreement_is_noted():
    inputs = FusionInputs(1, "d", flows=[FlowTotal("gate", 100, 20)],
                          presences=[PresenceReading("cam", 500, NOW - timedelta(hours=1), zone_id=3),
                                     PresenceReading("wifi", 200, NOW - timedelta(minutes=3), covers_site=True)],
                          site_zones={3: "z"})
    snap = fuse(inputs, NOW)
    assert snap.present == 80 and snap.zones == {}
    assert any("wifi" not in n and "estimate (200)" in n for n in snap.notes)
    # no flow source: the site-wide estimate stands in
    snap = fuse(FusionInputs(1, "d", presences=[PresenceReading("wifi", 200, NOW, covers_site=True)]), NOW)
    assert snap.present == 200


def test_site_occupancy_from_stored_samples_resets_at_opening(db_url):
    with session_scope(db_url) as s:
        org = OrgUnit(tier="city", name="c", division_code="500000", path="/")
        s.add(org)
        s.flush()
        site = Site(org_unit_id=org.id, name="S", opening_time="08:00", timezone="Asia/Shanghai")
        s.add(site)
        s.flush()
        zone = Zone(site_id=site.id, name="plaza")
        s.add_all([zone, Zone(site_id=site.id, name="hall")])  # the hall has no camera: zones cover part of the site
        s.flush()
        ensure_source(s, site.id, "cam-plaza", "presence", zone_id=zone.id, category="video_zone")
        day_start = datetime(2026, 11, 22, 0, 0, tzinfo=timezone.utc)
        samples = [
            {"source": "gate", "seq": 1, "ts": day_start - timedelta(minutes=30), "in": 50, "out": 0},  # yesterday
            {"source": "gate", "seq": 2, "ts": day_start + timedelta(hours=1), "in": 30, "out": 5},
            {"source": "gate", "seq": 3, "ts": day_start + timedelta(hours=2), "in": 20, "out": 10},
            {"source": "cam-plaza", "seq": 1, "ts": NOW - timedelta(minutes=2), "present": 12},
            {"source": "cam-plaza", "seq": 2, "ts": NOW - timedelta(minutes=1), "present": 14},
        ]
        res = ingest_samples(s, site.id, samples, NOW, late_window=timedelta(days=1))
        assert res.accepted == 5
        snap = site_occupancy(s, site.id, NOW)
    assert (snap.entered_today, snap.exited_today, snap.present) == (50, 15, 35)
    assert snap.zones == {zone.id: 14} and snap.zone_names == {zone.id: "plaza"}
    assert snap.day == "2026-11-22"
    d = snap.to_dict()
    assert d["zones"] == {str(zone.id): 14} and d["ts"].startswith("2026-11-22T06:00")
