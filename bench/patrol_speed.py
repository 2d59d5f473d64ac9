"""Patrol cost: channels per hour per core for a whole patrol against the camera simulator, decode included.

    .venv/bin/python bench/patrol_speed.py [--channels 8] [--rounds 5] [--width 768 --height 576] [--source VIDEO]

The simulator serves real footage (the PETS video; LOOKOUT_SHARED_DATA or opencv-doc's copy) on N
channels. A whole patrol (:func:`lookout.health.patrol.patrol_once`: targets from the database, open the
stream, decode the first two frames then key frames only, diagnose, store diagnoses/statuses/work-order
decisions in SQLite) runs ``rounds`` times over all channels. The baseline, measured in the same run on
the same streams, is a bare key-frame-only decode (open, ``skip_frame=NONKEY``, decode as many key
frames as the patrol decodes frames, no conversion, no diagnosis, no storage).

CPU time is ``resource.getrusage`` of this process and its children (the simulator's own encoding
runs in a separate child that is still alive while measuring, so it is not counted).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def cpu_s() -> float:
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def source_video(arg: str | None) -> Path:
    cands = [Path(arg)] if arg else []
    cands += [Path(os.environ.get("LOOKOUT_SHARED_DATA", REPO.parent / "shared" / "data")) / "pets09-s2l1.avi",
              Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")]
    for p in cands:
        if p.is_file():
            return p
    sys.exit("no source video: pass --source or set LOOKOUT_SHARED_DATA")


def bare_keyframe_decode(url: str, frames: int) -> int:
    from lookout.media.ingest import ReaderOptions, open_stream

    try:
        container, _ = open_stream(url, ReaderOptions(open_timeout=10, read_timeout=10, threads=1))
    except Exception as exc:
        print(f"baseline: {url}: {exc}", file=sys.stderr)
        return 0
    n = 0
    try:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        stream.codec_context.skip_frame = "NONKEY"
        for packet in container.demux(stream):
            if packet.size == 0 or not packet.is_keyframe:
                continue
            n += len(packet.decode())
            if n >= frames:
                break
    except Exception as exc:  # a stalled stream: count what was decoded
        print(f"baseline: {url}: {exc}", file=sys.stderr)
    finally:
        container.close()
    return n


def seed(db_url: str, urls: list[str]) -> None:
    from lookout.registry import service
    from lookout.registry.models import Channel, Site
    from lookout.store.db import session_scope

    with session_scope(db_url) as s:
        dist = service.create_org_unit(s, "bench", "district", "bench", "500156")
        site = service.create(s, "bench", Site, {"name": "bench", "org_unit_id": dist.id, "om_contact": "om"}, "site")
        for i, url in enumerate(urls, 1):
            service.create(s, "bench", Channel, {"site_id": site.id, "code": f"5001560000132{i:07d}", "name": f"c{i}",
                                                 "main_url": url}, "channel")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--width", type=int, default=768)
    ap.add_argument("--height", type=int, default=576)
    ap.add_argument("--fps", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--keyframes", type=int, default=2)
    ap.add_argument("--source")
    args = ap.parse_args()

    from lookout.health.patrol import PatrolConfig, patrol_once
    from lookout.media.camsim import CamSim
    from lookout.settings import load_settings
    from lookout.store.migrate import upgrade

    src = source_video(args.source)
    tmp = Path(tempfile.mkdtemp(prefix="patrol-bench-"))
    db_url = f"sqlite:///{tmp / 'bench.db'}"
    upgrade(db_url)
    settings = load_settings(data_dir=tmp, database_url=db_url, secret_key="bench-secret-0123456789abcdef")
    cfg = PatrolConfig(concurrency=args.concurrency, keyframes=args.keyframes, budget_s=30, open_timeout=10,
                       read_timeout=10, snapshot_faults=False)
    frames_per_patrol = 2 + args.keyframes

    with CamSim(src, channels=args.channels, port=0, width=args.width, height=args.height, fps=args.fps) as sim:
        urls = [sim.url(i + 1) for i in range(args.channels)]
        seed(db_url, urls)
        patrol_once(settings, cfg, due_only=False)  # warm-up: imports, first connections
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(lambda u: bare_keyframe_decode(u, frames_per_patrol), urls))

            c0, w0 = cpu_s(), time.monotonic()
            decoded = 0
            for _ in range(args.rounds):
                decoded += sum(pool.map(lambda u: bare_keyframe_decode(u, frames_per_patrol), urls))
            base_cpu, base_wall = cpu_s() - c0, time.monotonic() - w0

        c0, w0 = cpu_s(), time.monotonic()
        patrolled = online = 0
        for _ in range(args.rounds):
            s = patrol_once(settings, cfg, due_only=False)
            patrolled += s["channels"]
            online += s["online"]
        patrol_cpu, patrol_wall = cpu_s() - c0, time.monotonic() - w0

    # per channel that delivered all its frames (a stalled stream costs little and is left out of the count)
    n_base = max(1, decoded / frames_per_patrol)
    per_patrol = patrol_cpu / max(1, online)
    per_base = base_cpu / n_base
    print(f"source {src.name} served at {args.width}x{args.height} {args.fps:g} fps on {args.channels} channels; "
          f"{args.rounds} rounds; concurrency {args.concurrency}; {frames_per_patrol} frames per channel")
    print(f"baseline (bare key-frame decode, {decoded} of {args.channels * args.rounds * frames_per_patrol} key frames): {per_base * 1000:.1f} ms CPU per channel, "
          f"{3600 / per_base:,.0f} channels/h per core; wall {base_wall:.1f} s")
    print(f"whole patrol ({patrolled} channel patrols, {online} online): {per_patrol * 1000:.1f} ms CPU per channel, "
          f"{3600 / per_patrol:,.0f} channels/h per core; wall {patrol_wall:.1f} s "
          f"({patrolled / patrol_wall * 3600:,.0f} channels/h at this concurrency)")
    print(f"patrol / baseline CPU: {per_patrol / per_base:.2f}x; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
