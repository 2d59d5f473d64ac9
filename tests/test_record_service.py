"""The recording service as the runtime supervisor runs it: records, indexes, stops cleanly."""

from __future__ import annotations

import asyncio
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from lookout.store.db import session_scope
from test_record_helpers import ffprobe_facts, seed_channels

pytestmark = [pytest.mark.media, pytest.mark.db,
              pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")]


def test_service_records_enabled_channels_and_a_graceful_stop_closes_the_open_segment(data_dir, db_url):
    from lookout.media.camsim import CamSim, CamSimError
    from lookout.media.models import RecordingPolicy, RecordingSegment
    from lookout.media.recorder import run_recording_service
    from lookout.settings import load_settings

    try:
        sim = CamSim(channels=2, port=0, width=320, height=240, fps=10).start()
    except CamSimError as exc:
        pytest.skip(f"camera simulator unavailable: {exc}")
    try:
        a, b, dead = seed_channels(db_url, [(sim.urls[0], None), (sim.urls[1], None), ("rtsp://127.0.0.1:9/x", None)])
        with session_scope(db_url) as s:
            s.add(RecordingPolicy(channel_id=None, segment_seconds=2))  # the global default
            s.add(RecordingPolicy(channel_id=b, enabled=False))

        async def run_for(seconds: float) -> None:
            task = asyncio.create_task(run_recording_service(load_settings(), housekeeping_every_s=3600))
            await asyncio.sleep(seconds)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(run_for(9))
    finally:
        sim.stop()
    with session_scope(db_url) as s:
        rows = list(s.scalars(select(RecordingSegment).order_by(RecordingSegment.start)))
    assert rows and {r.channel_id for r in rows} == {a}  # b disabled, the dead URL records nothing
    folder = Path(rows[0].path).parent.parent  # <recordings>/<channel code>/<UTC day>/<segment>
    assert folder.parent == data_dir / "recordings"
    assert {r.path for r in rows} == {str(p) for p in folder.rglob("*") if p.is_file()}  # no open or list files
    assert sum(r.duration_s for r in rows) > 4
    for r in rows:
        assert r.codec == "h264" and abs(ffprobe_facts(Path(r.path))["duration"] - r.duration_s) < 0.3


def test_channel_changes_reach_the_running_service(data_dir, db_url):
    """Enabling a channel's recording starts it and disabling another stops it, while the service runs."""
    from lookout.media.camsim import CamSim, CamSimError
    from lookout.media.models import RecordingPolicy, RecordingSegment
    from lookout.media.recorder import run_recording_service
    from lookout.settings import load_settings

    try:
        sim = CamSim(channels=2, port=0, width=320, height=240, fps=10).start()
    except CamSimError as exc:
        pytest.skip(f"camera simulator unavailable: {exc}")
    marks = {}
    try:
        a, b = seed_channels(db_url, [(sim.urls[0], None), (sim.urls[1], None)])
        with session_scope(db_url) as s:
            s.add(RecordingPolicy(channel_id=None, segment_seconds=2))
            s.add(RecordingPolicy(channel_id=b, enabled=False))

        def flip() -> None:  # what an operator's edit does: b on, a off
            with session_scope(db_url) as s:
                s.scalars(select(RecordingPolicy).where(RecordingPolicy.channel_id == b)).one().enabled = True
                s.add(RecordingPolicy(channel_id=a, enabled=False))

        def segments(cid: int) -> list:
            with session_scope(db_url) as s:
                return list(s.scalars(select(RecordingSegment).where(RecordingSegment.channel_id == cid)))

        async def run() -> None:
            task = asyncio.create_task(run_recording_service(load_settings(), housekeeping_every_s=3600,
                                                             refresh_every_s=1.0))
            await asyncio.sleep(7)
            marks["before"] = (len(segments(a)), len(segments(b)))
            await asyncio.to_thread(flip)
            marks["flip"] = datetime.now(timezone.utc)
            await asyncio.sleep(11)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(run())
    finally:
        sim.stop()
    a_before, b_before = marks["before"]
    assert a_before >= 1 and b_before == 0  # a recording, b disabled
    assert len(segments(b)) >= 1  # b started without a restart
    # a stopped: read within a second, its open segment closed; no segment of it starts later
    late = [r.start for r in segments(a) if r.start > marks["flip"] + timedelta(seconds=3)]
    assert not late, late
    assert all(r.codec == "h264" for r in segments(b))
