"""`--passthrough`: an H.264 file served as it is (no re-encoding), looped, with the offline fault."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from lookout.media.camsim import CamSim, CamSimError

pytestmark = [
    pytest.mark.media,
    pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffmpeg/ffprobe not installed"),
]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("passthrough") / "cam.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=3",
         "-c:v", "libx264", "-preset", "veryfast", "-g", "10", "-bf", "0", "-pix_fmt", "yuv420p", str(path)],
        check=True, timeout=60,
    )
    return path


@pytest.fixture(scope="module")
def sim(clip):
    try:
        s = CamSim(clip, channels=1, port=0, passthrough=True).start()
    except CamSimError as exc:
        pytest.skip(f"GStreamer RTSP server unavailable: {exc}")
    yield s
    s.stop()


def frame_hashes(target: str, extra: list[str], frames: int | None = None) -> list[str]:
    """MD5 of every decoded picture (ffmpeg's framemd5)."""
    limit = ["-frames:v", str(frames)] if frames else []
    p = subprocess.run(
        ["ffmpeg", "-v", "error", *extra, "-i", target, *limit, "-an", "-f", "framemd5", "-"],
        capture_output=True, text=True, timeout=30,
    )
    assert p.returncode == 0, p.stderr
    return [line.rsplit(",", 1)[1].strip() for line in p.stdout.splitlines() if line and not line.startswith("#")]


def test_served_without_reencoding(sim, clip):
    p = subprocess.run(
        ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name,width,height,r_frame_rate",
         "-of", "csv=p=0", sim.urls[0]],
        capture_output=True, text=True, timeout=30,
    )
    assert p.stdout.strip() == "h264,320,240,10/1", p.stderr
    in_file = set(frame_hashes(str(clip), []))
    live = frame_hashes(sim.urls[0], ["-rtsp_transport", "tcp"], frames=15)
    assert len(live) == 15
    assert set(live) <= in_file  # every served picture decodes to exactly a picture of the file
    assert sim.info["sub_urls"] == []


def test_loops_with_clean_timestamps(sim):
    # 5 s of a 3 s clip: across the loop, no decoding error and no timestamp going back
    p = subprocess.run(
        ["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", sim.urls[0], "-t", "5", "-f", "null", "-"],
        capture_output=True, text=True, timeout=30,
    )
    assert p.returncode == 0 and p.stderr.strip() == "", p.stderr


def test_only_offline_applies(sim):
    with pytest.raises(CamSimError, match="without re-encoding"):
        sim.set_fault(1, "black")
    sim.set_fault(1, "offline")
    try:
        p = subprocess.run(["ffprobe", "-v", "error", sim.urls[0]], capture_output=True, text=True, timeout=30)
        assert p.returncode != 0 and "404" in p.stderr
    finally:
        sim.set_fault(1, "clear")
