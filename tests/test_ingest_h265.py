"""H.265: the simulator's --codec h265 streams read by ffprobe and decoded by ingest."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from lookout.media.camsim import CamSim, CamSimError
from lookout.media.ingest import ReaderOptions, State, StreamReader
from lookout.media.probe import probe_stream

pytestmark = [
    pytest.mark.media,
    pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffmpeg/ffprobe not installed"),
]


@pytest.fixture(scope="module")
def sim():
    try:
        s = CamSim(channels=1, port=0, width=320, height=240, fps=10, codec="h265").start()
    except CamSimError as exc:
        pytest.skip(f"GStreamer RTSP server unavailable: {exc}")
    yield s
    s.stop()


def test_ffprobe_sees_hevc(sim):
    for url, size in ((sim.urls[0], (320, 240)), (sim.url(1, sub=True), (160, 120))):
        p = subprocess.run(
            ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-analyzeduration", "500000", "-show_entries",
             "stream=codec_name,width,height,r_frame_rate", "-of", "json", url],
            capture_output=True, text=True, timeout=20,
        )
        assert p.returncode == 0, p.stderr
        (s,) = json.loads(p.stdout)["streams"]
        assert (s["codec_name"], s["width"], s["height"], s["r_frame_rate"]) == ("hevc", *size, "10/1")


@pytest.mark.parametrize("keyframes_only", [False, True])
def test_ingest_decodes_hevc(sim, keyframes_only):
    reader = StreamReader(sim.urls[0], ReaderOptions(analysis_fps=None, keyframes_only=keyframes_only))
    frames = []
    for f in reader.frames():
        frames.append(f)
        if len(frames) == 3:
            reader.stop()
    assert reader.status.state == State.STREAMING
    assert reader.stream_info["codec"] == "hevc"
    assert frames[-1].image.shape == (240, 320, 3) and frames[-1].image.mean() > 60
    assert all(f.key for f in frames) == keyframes_only


def test_probe_hevc(sim):
    facts = probe_stream(sim.urls[0], seconds=2.5)
    assert (facts.codec, facts.width, facts.height, facts.gop) == ("hevc", 320, 240, 10)
