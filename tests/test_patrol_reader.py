"""The patrol's reader picks the frames it says it does: the first two, then key frames only."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from lookout.health.patrol import grab_patrol_frames

pytestmark = [pytest.mark.media]
STEP = 7  # grey levels between consecutive frames: a frame's brightness tells its number


def numbered_clip(path: Path, codec: str, bframes: int, frames: int = 30, gop: int = 5) -> Path:
    """A clip whose frame n is flat grey 16 + 7n, a key frame every ``gop`` frames."""
    with av.open(str(path), "w") as out:
        st = out.add_stream(codec, rate=10)
        st.width, st.height, st.pix_fmt = 160, 96, "yuv420p"
        if codec == "libx265":
            st.options = {"x265-params": f"keyint={gop}:min-keyint={gop}:bframes={bframes}:scenecut=0:log-level=error"}
        else:
            st.options = {"g": str(gop), "bf": str(bframes), "sc_threshold": "0", "preset": "veryfast", "crf": "12"}
        for n in range(frames):
            picture = np.full((96, 160, 3), 16 + STEP * n, np.uint8)
            for packet in st.encode(av.VideoFrame.from_ndarray(picture, format="bgr24")):
                out.mux(packet)
        for packet in st.encode():
            out.mux(packet)
    return path


def frame_numbers(frames: list[np.ndarray], path: Path) -> list[int]:
    """Each picked frame's number: the frame of the whole clip it matches in brightness."""
    with av.open(str(path)) as c:
        every = [f.to_ndarray(format="bgr24").mean() for f in c.decode(video=0)]
    return [int(np.argmin([abs(m - f.mean()) for m in every])) for f in frames]


@pytest.mark.parametrize("codec,bframes", [("libx264", 0), ("libx264", 3), ("libx265", 4)])
def test_the_patrol_reads_the_first_pair_then_the_next_key_frames(codec, bframes, tmp_path):
    """With B-frames a decoder holds frames back to reorder them; fed key frames only after the
    pair it handed out the pair's neighbours instead (frames 5, 6, 7, 9 of a clip with a key frame
    every 5 frames). A low-delay read dropped the frames read while the stream was probed."""
    if codec not in av.codecs_available:
        pytest.skip(f"{codec} not in this FFmpeg")
    path = numbered_clip(tmp_path / f"{codec}-{bframes}.mp4", codec, bframes)
    grab = grab_patrol_frames(str(path), keyframes=2)
    assert frame_numbers(grab.frames, path) == [0, 1, 5, 10]
    assert grab.key_frames == (0, 2, 3)


def test_the_patrol_reads_an_h265_camera_over_rtsp():
    """The same reading from an H.265 camera (the simulator, RTSP): the pair, then two key frames,
    each drained from the decoder at once."""
    from lookout.media.camsim import CamSim, CamSimError

    try:
        sim = CamSim(channels=1, port=0, width=320, height=240, fps=10, codec="h265").start()
    except CamSimError as exc:
        pytest.skip(f"camera simulator unavailable: {exc}")
    try:
        grab = grab_patrol_frames(sim.urls[0], keyframes=2, budget_s=15)
    finally:
        sim.stop()
    assert len(grab.frames) == 4 and grab.key_frames == (0, 2, 3)
    assert grab.frames[0].shape == (240, 320, 3)
