"""Cost of the full video quality diagnosis per frame at 720p and 1080p, one core.

    .venv/bin/python bench/vqd_speed.py [--frames 96] [--repeat 5]

Frames are PETS 2009 pictures (or Debian opencv-doc's vtest.avi) scaled to size. Measured:
one picture at a time without a reference; clips of 8 frames without a reference; clips of
8 frames, and single pictures, against the channel's reference prepared once (as a patrol
does); and, as the
baseline measured in the same run, decoding one H.264 key frame of the same size with PyAV
on one thread (what a patrol pays per channel before diagnosing).

Two clocks: the process's CPU time (the diagnosis runs on one thread: this is its cost on
one core, and what "frames/s per core" is computed from) and wall time, which on a busy
machine also counts the time spent waiting for a core. The load average is printed. Each case
is timed ``--repeat`` times: the best run is the figure least disturbed by other work on the
machine (as ``timeit`` reports), and the median of the runs is printed beside it.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from lookout.health.vqd import diagnose, diagnose_views, prepare_reference  # noqa: E402


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


CLIP_KEY_FRAMES = (0, 5)  # a clip of 8 frames from a stream with a key frame every 5 (the frozen check compares them)


def decode_once(data: bytes) -> None:
    with av.open(io.BytesIO(data), format="h264") as c:
        st = c.streams.video[0]
        st.thread_count = 1
        for f in c.decode(st):
            f.to_ndarray(format="bgr24")


def timed(fn: Callable[[], object], reps: int, frames_per_rep: int, runs: int) -> tuple[float, float, float]:
    """(CPU ms per frame of the best run, of the median run, wall ms per frame of the best run)."""
    fn()  # warm-up
    results = []
    for _ in range(runs):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(reps):
            fn()
        n = reps * frames_per_rep
        results.append((1e3 * (time.process_time() - c0) / n, 1e3 * (time.perf_counter() - w0) / n))
    results.sort()
    return results[0][0], results[len(results) // 2][0], results[0][1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--repeat", type=int, default=5, help="runs per case: the best and the median are printed")
    args = ap.parse_args()
    cv2.setNumThreads(1)  # the diagnosis does this itself; keeps the baseline's conversions on one thread too
    src = source_frames(args.frames)
    print(f"vqd speed, one thread, {len(src)} frames per size, best and median of {args.repeat} runs; "
          f"load average {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} cores")
    print(f"{'size':<7}{'case':<32}{'CPU ms/frame':>13}{'frames/s/core':>15}{'median run':>12}{'wall ms/frame':>15}")
    for name, (w, h) in (("720p", (1280, 720)), ("1080p", (1920, 1080))):
        frames = [cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in src]
        clips = [frames[i:i + 8] for i in range(0, len(frames) - 7, 8)]
        ref = prepare_reference(frames[-1], (320, round(h * 320 / w)))
        state = {"i": 0}

        def one_picture(reference=None) -> None:  # noqa: ANN001
            state["i"] = (state["i"] + 1) % len(frames)
            diagnose(frames[state["i"]], reference)

        def all_clips(reference=None) -> None:  # noqa: ANN001
            for c in clips:
                diagnose(c, reference, key_frames=CLIP_KEY_FRAMES)

        # a PTZ camera touring 4 presets: four prepared references (other moments of the source)
        presets = [ref] + [prepare_reference(frames[k], (320, round(h * 320 / w))) for k in (0, 16, 32)]

        def clips_vs_presets() -> None:
            for c in clips:
                diagnose_views(c, presets, key_frames=CLIP_KEY_FRAMES)

        data = keyframe_bytes(frames[len(frames) // 2])
        runs = args.repeat
        rows = [
            ("one picture, no reference", timed(one_picture, len(frames), 1, runs)),
            ("clips of 8, no reference", timed(all_clips, 1, 8 * len(clips), runs)),
            ("clips of 8, with reference", timed(lambda: all_clips(ref), 1, 8 * len(clips), runs)),
            ("one picture, with reference", timed(lambda: one_picture(ref), len(frames), 1, runs)),
            ("clips of 8, best of 4 presets", timed(clips_vs_presets, 1, 8 * len(clips), runs)),
            ("baseline: key-frame decode", timed(lambda: decode_once(data), 30, 1, runs)),
        ]
        for case, (cpu, cpu_median, wall) in rows:
            print(f"{name:<7}{case:<32}{cpu:>13.2f}{1e3 / cpu:>15.0f}{1e3 / cpu_median:>12.0f}{wall:>15.2f}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
