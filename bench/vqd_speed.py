"""Cost of the full video quality diagnosis per frame at 720p and 1080p, one core.

    .venv/bin/python bench/vqd_speed.py [--frames 200]

Baseline measured in the same run: decoding one H.264 key frame of the same size with
PyAV (what a patrol pays per channel before diagnosing). Frames are PETS 2009 pictures
(or Debian opencv-doc's vtest.avi) scaled to size; the clip is diagnosed with and without
a reference picture.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from lookout.health.vqd import diagnose  # noqa: E402


def source_frames(n: int) -> list[np.ndarray]:
    shared = Path(os.environ.get("LOOKOUT_SHARED_DATA", REPO.parent / "shared" / "data")) / "pets09-s2l1.avi"
    path = shared if shared.exists() else Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            out.append(f.to_ndarray(format="bgr24"))
            if len(out) == n:
                break
    return out


def keyframe_bytes(frame: np.ndarray) -> bytes:
    buf = io.BytesIO()
    h, w = frame.shape[:2]
    with av.open(buf, "w", format="h264") as out:
        st = out.add_stream("libx264", rate=25)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        st.options = {"preset": "veryfast", "crf": "23"}
        for p in st.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
            out.mux(p)
        for p in st.encode():
            out.mux(p)
    return buf.getvalue()


def decode_cost(data: bytes, reps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(reps):
        with av.open(io.BytesIO(data), format="h264") as c:
            st = c.streams.video[0]
            st.thread_count = 1
            for f in c.decode(st):
                f.to_ndarray(format="bgr24")
    return (time.perf_counter() - t0) / reps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=200)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    src = source_frames(args.frames)
    print(f"vqd speed, 1 thread, {len(src)} frames per size")
    print(f"{'size':<10}{'diagnose ms/frame':>19}{'frames/s':>10}{'with ref ms':>13}{'key-frame decode ms':>21}")
    for name, (w, h) in (("720p", (1280, 720)), ("1080p", (1920, 1080))):
        frames = [cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in src]
        ref = frames[0]
        diagnose(frames[:2])  # warm-up
        clips = [frames[i:i + 8] for i in range(0, len(frames), 8)]
        t0 = time.perf_counter()
        for c in clips:
            diagnose(c)
        per = (time.perf_counter() - t0) / len(frames)
        t0 = time.perf_counter()
        for c in clips:
            diagnose(c, ref)
        per_ref = (time.perf_counter() - t0) / len(frames)
        dec = decode_cost(keyframe_bytes(frames[len(frames) // 2]), 30)
        print(f"{name:<10}{per * 1e3:>19.2f}{1 / per:>10.0f}{per_ref * 1e3:>13.2f}{dec * 1e3:>21.2f}")


if __name__ == "__main__":
    main()
