"""H.265 from a camera that offers RTP over UDP only: ffprobe reads it, ingest falls back to UDP."""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction

import pytest

from lookout.media.camsim import CamSim, CamSimError
from lookout.media.ingest import Backoff, ReaderOptions, State, StreamReader
from lookout.media.probe import probe_stream

pytestmark = [
    pytest.mark.media,
    pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffmpeg/ffprobe not installed"),
]


@pytest.fixture(scope="module")
def sim():
    try:
        s = CamSim(channels=1, port=0, width=320, height=240, fps=10, codec="h265", protocols="udp").start()
    except CamSimError as exc:
        pytest.skip(f"GStreamer RTSP server unavailable: {exc}")
    yield s
    s.stop()


def test_ffprobe_sees_hevc(sim):
    for url, size in ((sim.urls[0], (320, 240)), (sim.url(1, sub=True), (160, 120))):
        p = subprocess.run(
            ["ffprobe", "-v", "error", "-rtsp_transport", "udp", "-analyzeduration", "500000", "-show_entries",
             "stream=codec_name,width,height,r_frame_rate", "-of", "json", url],
            capture_output=True, text=True, timeout=20,
        )
        assert p.returncode == 0, p.stderr
        (s,) = json.loads(p.stdout)["streams"]
        assert (s["codec_name"], s["width"], s["height"]) == ("hevc", *size)
        assert abs(Fraction(s["r_frame_rate"]) - 10) < 0.5  # over UDP ffprobe estimates it from arrival


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
    assert reader.transport == "udp"  # TCP was refused (461): the reader fell back
    assert frames[-1].image.shape == (240, 320, 3) and frames[-1].image.mean() > 60
    assert all(f.key for f in frames) == keyframes_only


def test_probe_hevc(sim):
    facts = probe_stream(sim.urls[0], seconds=2.5)
    assert (facts.codec, facts.width, facts.height, facts.gop) == ("hevc", 320, 240, 10)


def test_tcp_only_client_gets_a_clear_reason(sim):
    reader = StreamReader(sim.urls[0], ReaderOptions(transport="tcp", backoff=Backoff(0.1)), max_attempts=1)
    assert list(reader.frames()) == []
    assert reader.status.state == State.CONNECTING
    assert reader.status.reason.startswith("transport refused by the camera (RTSP 461)")
