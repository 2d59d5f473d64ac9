"""Retention: the janitor with a controllable clock, the disk guard, compliance and the storage plan."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lookout.media.retention import (
    RetentionRule,
    SegmentInfo,
    disk_guard,
    expired_segments,
    run_disk_guard,
    run_janitor,
)
from lookout.media.storage import PlanChannel, plan_storage
from lookout.store.db import session_scope
from test_record_helpers import seed_channels

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def seg(i: int, channel: int, days_ago: float, minutes: float = 1, nbytes: int = 1000) -> SegmentInfo:
    start = NOW - timedelta(days=days_ago)
    return SegmentInfo(i, channel, start, start + timedelta(minutes=minutes), nbytes, f"/x/{i}.mp4")


# ---------------------------------------------------------------- pure policy


def test_expired_segments_are_exactly_those_entirely_older_than_the_keep_period():
    rules = {1: RetentionRule(1, 90), 2: RetentionRule(2, 60, keep_days=75)}
    segs = [
        seg(1, 1, 91),  # expired
        seg(2, 1, 90, minutes=0.5),  # ended 89.99... days ago? no: started 90 d ago, ends 30 s later: kept
        seg(3, 1, 90 + 1 / 1440),  # started 90 d + 1 min ago, ends exactly at the limit: expired
        seg(4, 1, 89),
        seg(5, 2, 70),  # past the required 60 days but inside keep_days 75: kept
        seg(6, 2, 76),  # expired
        seg(7, 3, 400),  # no rule for channel 3: never expires
    ]
    assert [s.id for s in expired_segments(segs, rules, NOW)] == [1, 3, 6]
    # the clock moves on a day: the 89-day segment and the 75-day-old ones follow
    later = NOW + timedelta(days=1, minutes=1)
    assert [s.id for s in expired_segments(segs, rules, later)] == [1, 2, 3, 4, 6]


def test_naive_now_is_rejected():
    with pytest.raises(ValueError):
        expired_segments([], {}, datetime(2026, 1, 1))


def test_disk_guard_deletes_only_allowed_footage_past_its_required_days_oldest_first():
    rules = {1: RetentionRule(1, 30, keep_days=90, guard_may_delete=True),
             2: RetentionRule(2, 30, keep_days=90, guard_may_delete=False)}
    segs = [seg(1, 1, 50, nbytes=300), seg(2, 1, 80, nbytes=300), seg(3, 1, 10, nbytes=300),
            seg(4, 2, 85, nbytes=5000), seg(5, 1, 31, nbytes=300)]
    # 10 % threshold of 10 000 = 1000; free 500 → need 500
    d = disk_guard(segs, rules, NOW, free_bytes=500, total_bytes=10_000, threshold_percent=10)
    assert d.low and d.need_bytes == 500
    assert [s.id for s in d.delete] == [2, 1]  # oldest first, only channel 1, never the 10-day one
    assert d.shortfall_bytes == 0
    # needing more than the allowed footage: the rest is reported, never taken from required days
    d = disk_guard(segs, rules, NOW, free_bytes=0, total_bytes=100_000, threshold_percent=10)
    assert [s.id for s in d.delete] == [2, 1, 5]
    assert d.shortfall_bytes == 10_000 - 900 and "inside its required retention" in d.message
    # enough space: no alert, nothing deleted
    d = disk_guard(segs, rules, NOW, free_bytes=5000, total_bytes=10_000, threshold_percent=10)
    assert not d.low and d.delete == []


def test_storage_plan_per_site_and_disks():
    chans = [PlanChannel(1, "a", 1, "景区A", 4e6, 90), PlanChannel(2, "b", 1, "景区A", 4e6, 90),
             PlanChannel(3, "c", 2, "酒店B", 2e6, 60)]
    plan = plan_storage(chans, disk_bytes=8 * 10**12, reserve_percent=10)
    one = 4e6 / 8 * 86400 * 90 * 1.01  # 4 Mb/s for 90 days ≈ 3.93 TB
    assert plan.channels[0]["bytes"] == int(one)
    assert plan.sites[0].bytes == 2 * int(one) and plan.sites[0].channels == 2
    assert plan.total_bytes == 2 * int(one) + int(2e6 / 8 * 86400 * 60 * 1.01)
    assert plan.disks_needed == 2  # 9.17 TB on 7.2 TB usable per disk


# ---------------------------------------------------------------- adapters on a real database and files


def _index(db_url: str, rows: list[tuple[int, datetime, float, Path]]) -> None:
    from lookout.media.models import RecordingSegment

    with session_scope(db_url) as s:
        for cid, start, secs, path in rows:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\0" * 1000)
            s.add(RecordingSegment(channel_id=cid, start=start, end=start + timedelta(seconds=secs), duration_s=secs,
                                   bytes=1000, path=str(path), codec="h264"))


@pytest.mark.db
def test_janitor_removes_exactly_the_expired_files_and_rows(db_url, tmp_path):
    from lookout.media.models import RecordingPolicy, RecordingSegment

    a, b = seed_channels(db_url, [("rtsp://127.0.0.1:1/a", None), ("rtsp://127.0.0.1:1/b", None)], retention_days=60)
    with session_scope(db_url) as s:
        s.add(RecordingPolicy(channel_id=b, keep_days=90))
    rows = []
    for cid in (a, b):
        for days in (100, 89, 61, 59, 1):
            start = NOW - timedelta(days=days)
            rows.append((cid, start, 60.0, tmp_path / str(cid) / f"{start:%Y-%m-%d}" / f"{start:%Y%m%dT%H%M%SZ}_0000.mp4"))
    _index(db_url, rows)

    result = run_janitor(db_url, NOW)
    assert all(p.parent.exists() == p.exists() for _, _, _, p in rows)  # emptied day folders are removed
    assert result["deleted"] == 4 and result["per_channel"] == {a: 3, b: 1}
    left = {(cid, p.name) for cid, _, _, p in rows if p.exists()}
    expected = {(cid, p.name) for cid, st, _, p in rows
                if (NOW - st).days < (60 if cid == a else 90)}
    assert left == expected
    with session_scope(db_url) as s:
        indexed = {(r.channel_id, Path(r.path).name) for r in s.scalars(select(RecordingSegment))}
    assert indexed == expected  # index and files agree

    # an hour later nothing new has expired; 30 days later a loses its 59-day one (now 89 > 60) and b its
    # 89- and 61-day ones (now 119 and 91 > 90), while b's 59-day one (now 89) stays
    assert run_janitor(db_url, NOW + timedelta(hours=1))["deleted"] == 0
    assert run_janitor(db_url, NOW + timedelta(days=30))["per_channel"] == {a: 1, b: 2}


@pytest.mark.db
def test_disk_guard_adapter_raises_alert_deletes_only_where_allowed_and_clears(db_url, tmp_path):
    from lookout.media.models import DiskAlert, RecordingPolicy, RecordingSegment

    a, b = seed_channels(db_url, [("rtsp://127.0.0.1:1/a", None), ("rtsp://127.0.0.1:1/b", None)], retention_days=30)
    with session_scope(db_url) as s:
        s.add(RecordingPolicy(channel_id=None, keep_days=365, disk_guard_may_delete=False))  # global: not allowed
        s.add(RecordingPolicy(channel_id=a, disk_guard_may_delete=True))
    rows = []
    for cid in (a, b):
        for days in (200, 100, 20):
            start = NOW - timedelta(days=days)
            rows.append((cid, start, 60.0, tmp_path / "rec" / str(cid) / f"{start:%Y%m%dT%H%M%SZ}_0000.mp4"))
    _index(db_url, rows)
    vol = tmp_path / "rec"

    d = run_disk_guard(db_url, NOW, vol, 10.0, usage=(500, 10_000))  # need 500 bytes: one segment of a
    assert d.low and [Path(s.path).name for s in d.delete] == [rows[0][3].name]
    assert not rows[0][3].exists() and rows[1][3].exists()
    assert all(p.exists() for cid, _, _, p in rows if cid == b)  # b: not allowed
    d = run_disk_guard(db_url, NOW, vol, 10.0, usage=(0, 100_000))  # far too little: a's 100-day one, then short
    assert [Path(s.path).name for s in d.delete] == [rows[1][3].name] and d.shortfall_bytes > 0
    assert rows[2][3].exists()  # inside its 30 required days: kept
    with session_scope(db_url) as s:
        alerts = s.scalars(select(DiskAlert)).all()
        assert len(alerts) == 1 and alerts[0].cleared_at is None and alerts[0].deleted_segments == 2
        assert s.scalar(select(func.count()).select_from(RecordingSegment)) == 4
    run_disk_guard(db_url, NOW + timedelta(minutes=5), vol, 10.0, usage=(5000, 10_000))
    with session_scope(db_url) as s:
        assert s.scalars(select(DiskAlert)).one().cleared_at is not None


@pytest.mark.db
def test_compliance_and_plan_commands_read_the_registry(db_url, tmp_path):
    a, b, c = seed_channels(db_url, [("rtsp://127.0.0.1:1/a", None), ("rtsp://127.0.0.1:1/b", None),
                                     ("rtsp://127.0.0.1:1/c", None)], retention_days=90)
    now = datetime.now(timezone.utc)
    rows = []
    for h in range(0, 24 * 95, 24):  # a: one hour a day for 95 days
        st = now - timedelta(hours=h + 1)
        rows.append((a, st, 3600.0, tmp_path / "a" / f"{st:%Y%m%dT%H%M%SZ}_0000.mp4"))
    st = now - timedelta(days=10)
    rows.append((b, st, 3600.0, tmp_path / "b" / f"{st:%Y%m%dT%H%M%SZ}_0000.mp4"))
    _index(db_url, rows)

    env_cli = [sys.executable, "-m", "lookout.cli", "storage"]
    out = subprocess.run([*env_cli, "compliance", "--db", db_url, "--json"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    rep = {r["channel_id"]: r for r in json.loads(out.stdout)}
    assert rep[a]["status"] == "compliant" and rep[a]["days_on_disk"] > 90
    assert 3.5 < rep[a]["coverage_percent"] < 5  # one hour in 24
    assert rep[b]["status"] == "short" and 9.9 < rep[b]["days_on_disk"] < 10.1
    assert rep[c]["status"] == "no_recording"

    out = subprocess.run([*env_cli, "plan", "--db", db_url, "--disk-tb", "4", "--json"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    by = {ch["channel_id"]: ch for ch in plan["channels"]}
    assert by[c]["bitrate_source"] == "default" and by[c]["bitrate_bps"] == 4_000_000
    assert by[a]["bitrate_source"] == "measured" and by[b]["bitrate_source"] == "default"  # a: the last day
    assert plan["sites"][0]["channels"] == 3 and plan["disks_needed"] == 3  # 2 × 3.93 TB on 3.6 TB usable


@pytest.mark.db
def test_operator_sets_the_disk_guard_flag_by_cli_and_api_and_it_is_audited(db_url, data_dir):
    from fastapi.testclient import TestClient

    from lookout.api.app import create_app
    from lookout.media.retention import load_rules
    from lookout.security.models import AuditRecord
    from lookout.security.secrets import make_token
    from lookout.settings import load_settings
    from test_record_helpers import make_user

    a, b = seed_channels(db_url, [("rtsp://127.0.0.1:1/a", None), ("rtsp://127.0.0.1:1/b", None)], retention_days=90)
    cli = [sys.executable, "-m", "lookout.cli", "storage", "policy", "--db", db_url, "--json"]
    out = subprocess.run([*cli, "--guard-may-delete", "--keep-days", "120", "--actor", "ops"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["channel_id"] is None  # the global default
    bad = subprocess.run([*cli, "--channel", "nope", "--enabled"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "channel" in json.loads(bad.stdout)["error"]

    settings = load_settings()
    eng = make_token(settings.resolved_secret(), make_user(db_url, "om1", "om_engineer"))
    viewer = make_token(settings.resolved_secret(), make_user(db_url, "v1", "viewer"))
    client = TestClient(create_app(settings))
    url = f"/api/v1/channels/{b}/recording-policy"
    assert client.put(url, json={"disk_guard_may_delete": False},
                      headers={"Authorization": f"Bearer {viewer}"}).status_code == 403
    assert client.put(url, json={"segment_seconds": 1}, headers={"Authorization": f"Bearer {eng}"}).status_code == 422
    r = client.put(url, json={"disk_guard_may_delete": False}, headers={"Authorization": f"Bearer {eng}"})
    assert r.status_code == 200 and r.json()["disk_guard_may_delete"] is False

    with session_scope(db_url) as s:
        rules = load_rules(s)
        assert rules[a].guard_may_delete and rules[a].effective_keep_days == 120  # inherits the global row
        assert not rules[b].guard_may_delete and rules[b].effective_keep_days == 120  # its own flag wins
        actors = [(r.actor, r.entity) for r in s.scalars(select(AuditRecord).order_by(AuditRecord.id))]
    assert ("ops", "recording_policy") in actors and ("om1", "recording_policy") in actors
