"""Export of an indexed time range: one MP4, copied; audited; watermark option; the timeline API."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from lookout.media.export import export_range
from lookout.media.recorder import probe_file
from lookout.store.db import session_scope
from test_record_helpers import ffprobe_facts, make_clip, make_user, packet_md5s, seed_channels

pytestmark = [pytest.mark.media, pytest.mark.db, pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")]
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def segment_files(tmp_path_factory):
    """Three 4 s segments cut (copied) from a generated clip."""
    d = tmp_path_factory.mktemp("segs")
    clip = make_clip(d / "clip.mp4", seconds=12)
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-c", "copy", "-f", "segment", "-segment_time", "4",
                    "-reset_timestamps", "1", str(d / "seg%02d.mp4")], check=True, timeout=60)
    return sorted(d.glob("seg*.mp4"))


@pytest.fixture
def indexed(db_url, segment_files, tmp_path):
    from lookout.media.models import RecordingSegment

    (cid,) = seed_channels(db_url, [("rtsp://127.0.0.1:1/a", None)])
    t = T0
    with session_scope(db_url) as s:
        for f in segment_files:
            dest = tmp_path / "rec" / f"{t:%Y%m%dT%H%M%SZ}_0000.mp4"
            dest.parent.mkdir(exist_ok=True)
            shutil.copy(f, dest)
            dur, codec = probe_file(dest)
            s.add(RecordingSegment(channel_id=cid, start=t, end=t + timedelta(seconds=dur), duration_s=dur,
                                   bytes=dest.stat().st_size, path=str(dest), codec=codec))
            t += timedelta(seconds=dur)
    return cid


def test_export_range_is_copied_and_audited(db_url, indexed, tmp_path):
    from lookout.media.models import VideoExport
    from lookout.security.models import AuditRecord

    start = T0 + timedelta(seconds=2.5)
    row = export_range(db_url, indexed, start, start + timedelta(seconds=7), "duty1", tmp_path / "exports")
    assert row.status == "done", row.error
    facts = ffprobe_facts(Path(row.path))
    assert abs(facts["duration"] - 7) <= 1.0 and facts["codec"] == "h264"
    assert packet_md5s(Path(row.path)) <= set().union(*(packet_md5s(p) for p in (tmp_path / "rec").glob("*.mp4")))
    with session_scope(db_url) as s:
        assert s.get(VideoExport, row.id).actor == "duty1"
        rec = s.scalars(select(AuditRecord).where(AuditRecord.action == "export")).one()
        assert rec.actor == "duty1" and rec.entity == "channel" and rec.entity_id == str(indexed)
        assert rec.after["export_id"] == row.id and rec.after["start"] == start.isoformat()

    # nothing recorded there: a failed export, recorded and audited as such, no file
    later = T0 + timedelta(hours=5)
    bad = export_range(db_url, indexed, later, later + timedelta(seconds=30), "duty1", tmp_path / "exports")
    assert bad.status == "failed" and "no footage" in bad.error and bad.path is None
    with session_scope(db_url) as s:
        assert s.scalar(select(AuditRecord).where(AuditRecord.action == "export").order_by(AuditRecord.id.desc())
                        ).after["status"] == "failed"


def test_api_timeline_export_with_watermark_and_roles(db_url, data_dir, indexed, tmp_path):
    from lookout.api.app import create_app
    from lookout.security.secrets import make_token
    from lookout.settings import load_settings

    settings = load_settings()
    op = make_token(settings.resolved_secret(), make_user(db_url, "op1", "operator", display_name="值班员 王五"))
    viewer = make_token(settings.resolved_secret(), make_user(db_url, "v1", "viewer"))
    client = TestClient(create_app(settings))
    h = {"Authorization": f"Bearer {op}"}

    r = client.get(f"/api/v1/channels/{indexed}/recordings", params={
        "start": (T0 - timedelta(minutes=1)).isoformat(), "end": (T0 + timedelta(minutes=1)).isoformat()}, headers=h)
    assert r.status_code == 200, r.text
    tl = r.json()
    assert len(tl["segments"]) == 3 and len(tl["spans"]) == 1
    assert abs((datetime.fromisoformat(tl["spans"][0]["end"]) - T0).total_seconds() - 12) < 0.2
    seg = client.get(tl["segments"][1]["url"], headers=h)
    assert seg.status_code == 200 and seg.headers["content-type"] == "video/mp4"

    body = {"start": (T0 + timedelta(seconds=1)).isoformat(), "end": (T0 + timedelta(seconds=6)).isoformat(),
            "watermark": True}
    assert client.post(f"/api/v1/channels/{indexed}/exports", json=body,
                       headers={"Authorization": f"Bearer {viewer}"}).status_code == 403
    r = client.post(f"/api/v1/channels/{indexed}/exports", json=body, headers=h)
    assert r.status_code == 201, r.text
    exp = r.json()
    assert exp["actor"] == "op1" and exp["watermark"] and abs(exp["duration_s"] - 5) <= 1.0
    f = client.get(exp["url"], headers=h)
    assert f.status_code == 200
    out = tmp_path / "wm.mp4"
    out.write_bytes(f.content)
    assert ffprobe_facts(out)["codec"] == "h264"
    source = set().union(*(packet_md5s(p) for p in (data_dir.parent / "rec").glob("*.mp4")))
    assert not (packet_md5s(out) & source)  # re-encoded with the name burnt in

    naive = {"start": "2026-11-20T02:00:01", "end": "2026-11-20T02:00:06"}
    assert client.post(f"/api/v1/channels/{indexed}/exports", json=naive, headers=h).status_code == 422
    assert client.get(f"/api/v1/channels/{indexed}/recordings").status_code == 401
