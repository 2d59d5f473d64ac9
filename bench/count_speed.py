"""Speed of visitor counting on this machine, with its baselines measured in the same run.

One command: ``.venv/bin/python bench/count_speed.py [--data DIR] [--seconds 30] [--cameras 1,2,4,6]``.

1. per core (one thread, CPU time) on the 768×576 PETS video:
   decode-only (PyAV + BGR conversion) · detector-only (SSDLite, whole frame at 300×300) ·
   the whole pipeline (decode, motion gate, detector, tracker, lines, zones) at a 5 fps
   analysis rate of the 10 fps video, per profile (accurate 512×384, fast 300×300, tiles 2×2);
2. cameras: N worker processes at once (the real per-camera workers of ``lookout.runtime``),
   each decoding its own looping copy of the video and analysing it at 5 fps, as fast as they
   can for ``--seconds``; the cameras that fit = analysed frames/s summed over workers / 5
   (wall clock: shared with whatever else runs), and = cores × analysed frames per worker
   CPU-second / 5 (what the cores give when nothing else runs); memory per camera = resident
   set size of a worker process.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def per_core(video: Path, frames: int) -> dict[str, float]:
    import cv2

    cv2.setNumThreads(1)
    from lookout.counting.detectors.ssd import SsdLiteDetector
    from lookout.counting.pipeline import CountingPipeline
    from lookout.counting.video import read_frames

    out = {}
    c0 = time.process_time()
    decoded = [f for _, _, f in read_frames(video, 1)]
    out["decode-only"] = len(decoded) / (time.process_time() - c0)
    det = SsdLiteDetector()
    sample = decoded[:frames]
    det.detect(sample[0])
    c0 = time.process_time()
    for f in sample:
        det.detect(f)
    out["detector-only (SSDLite 300x300)"] = len(sample) / (time.process_time() - c0)
    det = SsdLiteDetector(input_size=(512, 384))
    c0 = time.process_time()
    for f in sample:
        det.detect(f)
    out["detector-only (SSDLite 512x384)"] = len(sample) / (time.process_time() - c0)
    from lookout.counting.detectors import create_detector
    from lookout.counting.pipeline import profile

    for name in ("accurate", "fast", "tiles"):
        spec, cfg = profile(name, 5.0)
        pipe = CountingPipeline(create_detector(spec), cfg)
        name = f"pipeline {name} ({'2x2 tiles' if cfg.tiles else 'x'.join(map(str, spec['input']))})"
        c0 = time.process_time()
        n = 0
        for index, ts, frame in read_frames(video, 2):  # decoding every frame is part of the cost
            pipe.process(frame, ts, index)
            n += 1
            if n >= frames:
                break
        out[name] = n / (time.process_time() - c0)
        out[name + " detector calls/frame"] = pipe.detector_calls / n
    return out


def cameras(video: Path, n: int, seconds: float, profile: str) -> dict[str, float]:
    import multiprocessing as mp

    from lookout.runtime.pipeline_worker import ChannelJob, run_worker

    ctx = mp.get_context("spawn")
    q, stop = ctx.Queue(), ctx.Event()
    procs = []
    for i in range(n):
        job = ChannelJob(channel_id=i + 1, site_id=1, url=str(video), analysis_fps=5.0, live=False, loop=True,
                         profile=profile, emit_seconds=1e9)
        p = ctx.Process(target=run_worker, args=(job.to_dict(), q, stop), daemon=True)
        p.start()
        procs.append(p)
    time.sleep(seconds)
    rss = [rss_mib(p.pid) for p in procs]
    stop.set()
    stats = {}
    deadline = time.monotonic() + 60
    while len(stats) < n and time.monotonic() < deadline:
        msg = q.get(timeout=60)
        if msg["type"] == "samples":
            stats[msg["channel_id"]] = msg["stats"]
    for p in procs:
        p.join(10)
    fps = [s["analysis_fps"] for s in stats.values()]
    per_cpu = sum(max(0, s["analysed"] - 1) for s in stats.values()) / max(1e-9, sum(s["cpu_seconds"] for s in stats.values()))
    return {"total_fps": sum(fps), "min_fps": min(fps), "rss_mib": sum(rss) / len(rss), "per_cpu": per_cpu}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_data = Path(os.environ.get("LOOKOUT_SHARED_DATA", REPO.parent / "shared" / "data"))
    ap.add_argument("--data", type=Path, default=default_data)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--frames", type=int, default=200, help="frames for the per-core figures")
    ap.add_argument("--cameras", default="1,2,4,6")
    ap.add_argument("--profiles", default="accurate,fast")
    args = ap.parse_args()
    video = args.data / "pets09-s2l1.avi"
    print(f"machine: {os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.1f}")
    print("\n== per core (one thread, frames per CPU-second, 768x576)")
    for k, v in per_core(video, args.frames).items():
        print(f"  {k:45s} {v:8.1f}")
    print("\n== cameras at 5 fps analysis on this machine (worker processes, one thread each)")
    for profile in args.profiles.split(","):
        for n in (int(x) for x in args.cameras.split(",")):
            r = cameras(video, n, args.seconds, profile)
            fit = r["total_fps"] / 5.0
            cap = (os.cpu_count() or 1) * r["per_cpu"] / 5.0
            print(f"  {profile:8s} {n} workers: wall {r['total_fps']:5.1f} analysed frames/s in total (slowest worker "
                  f"{r['min_fps']:4.1f}/s) -> {fit:4.1f} cameras at 5 fps here and now; "
                  f"{r['per_cpu']:5.1f} frames per worker CPU-second -> {cap:4.1f} cameras on {os.cpu_count()} idle cores; "
                  f"{r['rss_mib']:.0f} MiB resident per worker (load avg {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
