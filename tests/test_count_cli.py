"""The `lookout count` contract: one JSON object with per-frame counts, line totals and fps."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from lookout.cli import app

pytestmark = [pytest.mark.media, pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")]


@pytest.fixture(scope="module")
def pets_clip(pets_video, tmp_path_factory):
    """The first 30 frames of the PETS video (3 to 5 people annotated on each)."""
    out = tmp_path_factory.mktemp("clip") / "pets30.avi"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(pets_video), "-frames:v", "30", "-c:v", "mpeg4", "-q:v", "2",
                    str(out)], check=True)
    return out


def run(*args: str):
    return CliRunner().invoke(app, ["count", *args])


def test_count_json_contract_on_a_real_clip(pets_clip):
    r = run(str(pets_clip), "--line", "0,300,768,300", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert set(out) == {"frames", "line", "fps"}
    assert [f["frame"] for f in out["frames"]] == list(range(30))
    counts = [f["count"] for f in out["frames"]]
    assert all(isinstance(c, int) for c in counts)
    assert 2 <= sum(counts[5:]) / len(counts[5:]) <= 6  # 3-5 people annotated per frame
    assert out["line"] == {"in": 0, "out": 0}  # nobody crosses y=300 in the first 3 seconds
    assert out["fps"] > 0

    r = run(str(pets_clip), "--every", "10", "--json")
    out = json.loads(r.stdout)
    assert [f["frame"] for f in out["frames"]] == [0, 10, 20]
    assert out["line"] == {"in": 0, "out": 0}


def test_count_reports_bad_input_clearly(tmp_path):
    bad = tmp_path / "not-a-video.avi"
    bad.write_bytes(b"\x00garbage" * 100)
    r = run(str(bad), "--json")
    assert r.exit_code == 2 and "not a readable video" in r.output
    r = run(str(tmp_path / "missing.avi"), "--json")
    assert r.exit_code == 2 and "no such video file" in r.output
    clip = tmp_path / "empty.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=gray:s=160x120:d=1:r=10", str(clip)], check=True)
    r = run(str(clip), "--line", "1,2,3", "--json")
    assert r.exit_code == 2 and "X1,Y1,X2,Y2" in r.output
    r = run(str(clip), "--json")
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert len(out["frames"]) == 10 and all(f["count"] == 0 for f in out["frames"])
