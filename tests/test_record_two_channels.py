"""Two simulated channels recorded for 2 minutes in parallel with `lookout record`, then a 30 s export.

No database here (the index has its own quick tests), so this runs once, not per backend.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from test_record_helpers import ffprobe_facts, packet_md5s

pytestmark = [
    pytest.mark.media,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed"),
]
SECONDS = 120
LOOKOUT = [sys.executable, "-m", "lookout.cli"]


@pytest.fixture(scope="module")
def sim():
    from lookout.media.camsim import CamSim, CamSimError

    try:
        s = CamSim(channels=2, port=0, width=320, height=240, fps=10).start()
    except CamSimError as exc:
        pytest.skip(f"camera simulator unavailable: {exc}")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def recordings(sim, tmp_path_factory):
    out = tmp_path_factory.mktemp("rec")

    def rec(i: int) -> dict:
        p = subprocess.run(
            [*LOOKOUT, "record", sim.urls[i], "--out", str(out / f"ch{i + 1}"), "--seconds", str(SECONDS), "--json"],
            capture_output=True, text=True, timeout=SECONDS + 90,
        )
        assert p.returncode == 0, p.stderr[-2000:]
        return json.loads(p.stdout)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(rec, range(2)))
    return out, results


def test_two_channels_recorded_for_two_minutes_without_reencoding(recordings, sim):
    out, results = recordings
    for i, res in enumerate(results):
        assert res["codec"] == "h264"
        segs = res["segments"]
        assert len(segs) >= 2  # 60 s segments by default
        total = 0.0
        for a, b in zip(segs, segs[1:]):
            gap = (datetime.fromisoformat(b["start"]) - datetime.fromisoformat(a["end"])).total_seconds()
            assert abs(gap) < 0.5, (a, b)
        for s in segs:
            p = Path(s["path"])
            assert p.exists() and p.stat().st_size == s["bytes"] and p.parent.parent == out / f"ch{i + 1}"
            facts = ffprobe_facts(p)
            assert facts["codec"] == "h264" and (facts["width"], facts["height"]) == (320, 240)
            span = (datetime.fromisoformat(s["end"]) - datetime.fromisoformat(s["start"])).total_seconds()
            assert abs(facts["duration"] - span) < 0.5
            total += facts["duration"]
        assert abs(total - SECONDS) < 1.5, total


def test_export_30_seconds_across_a_segment_boundary(recordings, tmp_path):
    from lookout.media.export import Seg, export_segments, plan_export

    _, results = recordings
    segs = [Seg(s["path"], datetime.fromisoformat(s["start"]), datetime.fromisoformat(s["end"]))
            for s in results[1]["segments"]]
    start = segs[0].end - timedelta(seconds=12.3)  # crosses from the first segment into the second
    plan = plan_export(segs, start, start + timedelta(seconds=30))
    assert len(plan.segments) == 2 and not plan.gaps
    dur, codec = export_segments(plan, tmp_path / "export.mp4")
    facts = ffprobe_facts(tmp_path / "export.mp4")
    assert abs(facts["duration"] - 30) <= 1.0, facts
    assert facts["codec"] == codec == "h264" and (facts["width"], facts["height"]) == (320, 240)
    # copied, not re-encoded: every packet of the export is a packet of the recording
    exported = packet_md5s(tmp_path / "export.mp4")
    source = set().union(*(packet_md5s(Path(s.path)) for s in plan.segments))
    assert len(exported) > 250 and exported <= source
