"""`kill -9` of the recorder service loses at most the open segment; the index then matches the files."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from lookout.media.recorder import reconcile
from lookout.store.db import session_scope
from test_record_helpers import ffprobe_facts, seed_channels

pytestmark = [pytest.mark.media, pytest.mark.db, pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")]
SEGMENT = 2


@pytest.fixture(scope="module")
def sim():
    from lookout.media.camsim import CamSim, CamSimError

    try:
        s = CamSim(channels=1, port=0, width=320, height=240, fps=10).start()
    except CamSimError as exc:
        pytest.skip(f"camera simulator unavailable: {exc}")
    yield s
    s.stop()


def _rows(db_url: str, cid: int):
    from lookout.media.models import RecordingSegment

    with session_scope(db_url) as s:
        return list(s.scalars(select(RecordingSegment).where(RecordingSegment.channel_id == cid)
                              .order_by(RecordingSegment.start)))


def _assert_index_matches_files(db_url: str, cid: int, folder: Path) -> list:
    rows = _rows(db_url, cid)
    assert {r.path for r in rows} == {str(p) for p in folder.rglob("*") if p.is_file()}  # nothing else left
    assert all(Path(r.path).parent.name == f"{r.start:%Y-%m-%d}" for r in rows)  # one folder per UTC day
    for r in rows:
        facts = ffprobe_facts(Path(r.path))  # every indexed file is whole and readable
        assert facts["codec"] == "h264"
        assert abs(facts["duration"] - r.duration_s) < 0.3, [(Path(x.path).name, x.start.isoformat(), x.duration_s) for x in rows]
        assert r.bytes == Path(r.path).stat().st_size
    return rows


def test_kill_9_loses_at_most_the_open_segment(sim, db_url, tmp_path):
    from lookout.media.models import RecordingPolicy, RecordingSegment

    (cid,) = seed_channels(db_url, [(sim.urls[0], None)])
    with session_scope(db_url) as s:
        s.add(RecordingPolicy(channel_id=cid, segment_seconds=SEGMENT))
    root = tmp_path / "recordings"
    env = dict(os.environ, LOOKOUT_DATA_DIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "lookout.cli", "storage", "recorder", "--db", db_url,
                             "--root", str(root), "--housekeeping-every", "3600"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.time() + 60
        while len(_rows(db_url, cid)) < 3:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            if time.time() >= deadline:  # say what the recorder went through (its log) before failing
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
                pytest.fail(f"the recorder indexed {len(_rows(db_url, cid))} segments in 60 s; its log:\n"
                            + proc.stderr.read().decode(errors="replace")[-3000:])
            time.sleep(0.3)
        time.sleep(SEGMENT * 0.6)  # into the open segment
        killed_at = datetime.now(timezone.utc)
        os.killpg(proc.pid, signal.SIGKILL)  # the service and its ffmpeg
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.stdout.close()
        proc.stderr.close()
    time.sleep(0.5)
    folder = next(root.iterdir())

    before = _rows(db_url, cid)
    assert all(Path(r.path).exists() for r in before)  # nothing indexed that is not a closed file
    report = reconcile(db_url, cid, folder)
    assert report.dropped_rows == 0
    rows = _assert_index_matches_files(db_url, cid, folder)
    assert len(rows) >= len(before)
    for a, b in zip(rows, rows[1:]):  # continuous footage up to the kill
        assert abs((b.start - a.end).total_seconds()) < 0.6, (a.path, b.path)
    lost = (killed_at - rows[-1].end).total_seconds()
    assert lost < SEGMENT + 1.5, f"{lost:.1f} s lost at the kill"

    # the index and the folder drift apart (a file deleted by hand, a row lost): reconcile again
    os.unlink(rows[0].path)
    with session_scope(db_url) as s:
        s.execute(delete(RecordingSegment).where(RecordingSegment.id == rows[1].id))
    (folder / "20261122T000000Z_dead.mp4").write_bytes(b"\x00\x00\x00\x08junk")  # a truncated leftover
    report = reconcile(db_url, cid, folder)
    assert report.dropped_rows == 1 and report.repaired == 1 and report.discarded == 1
    after = _assert_index_matches_files(db_url, cid, folder)
    assert len(after) == len(rows) - 1
    restored = next(r for r in after if r.path == rows[1].path)
    assert abs((restored.start - rows[1].start).total_seconds()) < 1.5
    assert abs(restored.duration_s - rows[1].duration_s) < 0.3
