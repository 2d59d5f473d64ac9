"""The recording service as the runtime supervisor runs it: records, indexes, stops cleanly."""

from __future__ import annotations

import asyncio
import shutil
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
