"""Decode cost per channel: full decoding at 5 fps analysis against key-frame-only decoding.

For a 1080p and a 720p H.264 stream (libx264, ~4 Mb/s, 25 fps, a key frame every 2 s, no
B-frames like a camera, generated here with ffmpeg) this measures, single-threaded as one
channel would run:

* ceiling: a bare ``ffmpeg -threads 1 -i FILE -f null -`` decode of every frame, and
  ``ffmpeg -skip_frame nokey …`` for key frames only (CPU time of the ffmpeg process);
* ``lookout.media.ingest.StreamReader`` with full decoding, 5 frames/s handed to analysis
  (converted to BGR arrays), and with key-frame-only decoding (CPU time of this process);
* memory per channel: the resident-memory growth of a fresh process with 1 and with 4
  channels decoding at once (first channel; each further channel = (4 − 1) / 3);
* live over RTSP (``--rtsp-seconds``, 0 to skip): the same file served in real time by the
  camera simulator without re-encoding (``lookout camsim --passthrough``), read by
  ``ffmpeg -rtsp_transport tcp … -f null -`` (ceiling) and by the ingest, CPU per second.

CPU is given as seconds of CPU per second of video (0.10 = 10 % of one core per channel in
real time) and as how many channels the 2 cores could decode at most.

    .venv/bin/python bench/decode_cost.py [--seconds 20] [--rtsp-seconds 15] [--out bench/out/decode]
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from lookout.media.ingest import ReaderOptions, StreamReader

FPS = 25
GOP = 50
SIZES = {"1080p": (1920, 1080), "720p": (1280, 720)}


def make_stream(path: Path, size: tuple[int, int], seconds: int, kbps: int = 4000) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    # moving test pattern with film grain, so that 4 Mb/s is really spent
    src = f"testsrc2=size={w}x{h}:rate={FPS}:duration={seconds},noise=alls=12:allf=t"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", src, "-c:v", "libx264", "-preset", "veryfast",
         "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{2 * kbps}k", "-g", str(GOP),
         "-keyint_min", str(GOP), "-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )


def stream_facts(path: Path) -> dict:
    p = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries",
         "stream=codec_name,width,height,r_frame_rate,nb_read_packets:format=duration,bit_rate", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )
    d = json.loads(p.stdout)
    s, f = d["streams"][0], d["format"]
    return {"codec": s["codec_name"], "width": s["width"], "height": s["height"], "frames": int(s["nb_read_packets"]),
            "duration": float(f["duration"]), "kbps": round(int(f["bit_rate"]) / 1000)}


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def ffmpeg_cpu(path: Path, keyframes_only: bool) -> float:
    args = ["ffmpeg", "-v", "error", "-threads", "1"]
    if keyframes_only:
        args += ["-skip_frame", "nokey"]
    before = child_cpu()
    subprocess.run([*args, "-i", str(path), "-f", "null", "-"], check=True)
    return child_cpu() - before


def reader_cpu(path: Path, keyframes_only: bool, analysis_fps: float | None) -> tuple[float, int, int]:
    opts = ReaderOptions(analysis_fps=analysis_fps, keyframes_only=keyframes_only, realtime=False, threads=1)
    reader = StreamReader(str(path), opts, max_attempts=1)
    gc.collect()
    before = time.process_time()
    handed = 0
    for _frame in reader.frames():
        handed += 1
    return time.process_time() - before, handed, reader.decoded


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_child(path: Path, channels: int, keyframes_only: bool) -> float:
    """In a fresh process: resident-memory growth (MiB) with ``channels`` decoding at once."""
    gc.collect()
    base = rss_mib()
    opts = ReaderOptions(analysis_fps=5, keyframes_only=keyframes_only, realtime=False, threads=1)
    readers = [StreamReader(str(path), opts, max_attempts=1) for _ in range(channels)]
    gens = [r.frames() for r in readers]
    held = []
    peak = base
    for _ in range(40):  # all channels decoding at once, each holding its latest frame
        try:
            held = [next(g) for g in gens]
        except StopIteration:  # key frames only: the clip has few
            break
        peak = max(peak, rss_mib())
    del held
    return peak - base


def memory_per_channel(path: Path, keyframes_only: bool) -> tuple[float, float]:
    """(first channel, each further channel) in MiB, from fresh processes with 1 and 4 channels."""
    growth = {}
    for n in (1, 4):
        args = [sys.executable, __file__, "--memory-child", str(path), "--channels", str(n)]
        if keyframes_only:
            args.append("--keyframes-only")
        out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
        growth[n] = float(out.strip().splitlines()[-1])
    return growth[1], (growth[4] - growth[1]) / 3


def rtsp_costs(path: Path, seconds: float) -> dict:
    """CPU per second of real time for one live channel served by the simulator (passthrough)."""
    from lookout.media.camsim import CamSim

    out = {}
    with CamSim(path, channels=1, port=0, passthrough=True) as sim:
        url = sim.urls[0]
        for key_only in (False, True):
            args = ["ffmpeg", "-v", "error", "-threads", "1", "-rtsp_transport", "tcp"]
            if key_only:
                args += ["-skip_frame", "nokey"]
            before = child_cpu()
            subprocess.run([*args, "-i", url, "-t", str(seconds), "-f", "null", "-"], check=True)
            out["ffmpeg_key" if key_only else "ffmpeg_full"] = (child_cpu() - before) / seconds
            opts = ReaderOptions(analysis_fps=5, keyframes_only=key_only, transport="tcp", threads=1)
            reader = StreamReader(url, opts, max_attempts=1)
            frames = reader.frames()
            next(frames)  # connected and decoding: measure from here
            cpu0, wall0 = time.process_time(), time.monotonic()
            handed = 0
            for _ in frames:
                handed += 1
                if time.monotonic() - wall0 >= seconds:
                    break
            wall = time.monotonic() - wall0
            out["ingest_key" if key_only else "ingest_full"] = (time.process_time() - cpu0) / wall
            out["handed_key" if key_only else "handed_full"] = round(handed / wall, 2)
            reader.stop()
            frames.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=20, help="length of the generated test streams")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "decode")
    ap.add_argument("--rtsp-seconds", type=float, default=15, help="live RTSP measurement per case (0: skip)")
    ap.add_argument("--memory-child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--channels", type=int, default=4, help=argparse.SUPPRESS)
    ap.add_argument("--keyframes-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    logging.getLogger("lookout.media.ingest").setLevel(logging.ERROR)  # "stream ended" at each file's end
    if args.memory_child:
        print(f"{memory_child(args.memory_child, args.channels, args.keyframes_only):.2f}")
        return 0
    print(f"# decode cost, {platform.python_version()}, {platform.machine()}, "
          f"{len(__import__('os').sched_getaffinity(0))} cores")
    rows = []
    for name, size in SIZES.items():
        path = args.out / f"{name}-{args.seconds}s-4mbps-nobf.mp4"
        make_stream(path, size, args.seconds)
        facts = stream_facts(path)
        secs = facts["duration"]
        ff_full = ffmpeg_cpu(path, False)
        ff_key = ffmpeg_cpu(path, True)
        py_full, handed_full, dec_full = reader_cpu(path, False, 5.0)
        py_key, handed_key, dec_key = reader_cpu(path, True, 5.0)
        mem_full = memory_per_channel(path, False)
        mem_key = memory_per_channel(path, True)
        row = {
            "stream": f"{name} {facts['codec']} {facts['width']}x{facts['height']} {FPS} fps GOP {GOP} {facts['kbps']} kb/s",
            "video_s": round(secs, 2),
            "ffmpeg_full_cpu_per_s": round(ff_full / secs, 4),
            "ingest_full_5fps_cpu_per_s": round(py_full / secs, 4),
            "ingest_full_frames": f"{dec_full} decoded, {handed_full} to analysis",
            "ffmpeg_keyonly_cpu_per_s": round(ff_key / secs, 4),
            "ingest_keyonly_cpu_per_s": round(py_key / secs, 4),
            "ingest_keyonly_frames": f"{dec_key} decoded, {handed_key} to analysis",
            "channels_on_2_cores_full": int(2 / (py_full / secs)),
            "channels_on_2_cores_keyonly": int(2 / (py_key / secs)),
            "mem_first_channel_full_mib": round(mem_full[0], 1),
            "mem_per_further_channel_full_mib": round(mem_full[1], 1),
            "mem_first_channel_keyonly_mib": round(mem_key[0], 1),
            "mem_per_further_channel_keyonly_mib": round(mem_key[1], 1),
        }
        if args.rtsp_seconds > 0:
            live = rtsp_costs(path, args.rtsp_seconds)
            row.update({
                "rtsp_ffmpeg_full_cpu_per_s": round(live["ffmpeg_full"], 4),
                "rtsp_ingest_full_5fps_cpu_per_s": round(live["ingest_full"], 4),
                "rtsp_ingest_full_frames_per_s_to_analysis": live["handed_full"],
                "rtsp_ffmpeg_keyonly_cpu_per_s": round(live["ffmpeg_key"], 4),
                "rtsp_ingest_keyonly_cpu_per_s": round(live["ingest_key"], 4),
                "rtsp_ingest_keyonly_frames_per_s_to_analysis": live["handed_key"],
            })
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print("| stream | ffmpeg -f null, all frames (ceiling) | ingest, full decode, 5 fps to analysis | "
          "ffmpeg -skip_frame nokey (ceiling) | ingest, key frames only | channels on 2 cores (full / key) | "
          "memory, first channel (full / key) | memory, each further channel (full / key) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['stream']} | {r['ffmpeg_full_cpu_per_s']:.3f} | {r['ingest_full_5fps_cpu_per_s']:.3f} | "
              f"{r['ffmpeg_keyonly_cpu_per_s']:.3f} | {r['ingest_keyonly_cpu_per_s']:.3f} | "
              f"{r['channels_on_2_cores_full']} / {r['channels_on_2_cores_keyonly']} | "
              f"{r['mem_first_channel_full_mib']} / {r['mem_first_channel_keyonly_mib']} MiB | "
              f"{r['mem_per_further_channel_full_mib']} / {r['mem_per_further_channel_keyonly_mib']} MiB |")
    print("(CPU seconds per second of video, one decoder thread per channel)")
    if args.rtsp_seconds > 0:
        print()
        print("| live over RTSP (simulator, passthrough) | ffmpeg, all frames (ceiling) | ingest, full decode, 5 fps | "
              "ffmpeg, key frames only (ceiling) | ingest, key frames only |")
        print("| --- | --- | --- | --- | --- |")
        for r in rows:
            print(f"| {r['stream']} | {r['rtsp_ffmpeg_full_cpu_per_s']:.3f} | {r['rtsp_ingest_full_5fps_cpu_per_s']:.3f} "
                  f"({r['rtsp_ingest_full_frames_per_s_to_analysis']} frames/s) | {r['rtsp_ffmpeg_keyonly_cpu_per_s']:.3f} | "
                  f"{r['rtsp_ingest_keyonly_cpu_per_s']:.3f} ({r['rtsp_ingest_keyonly_frames_per_s_to_analysis']} frames/s) |")
        print("(CPU seconds per second of real time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
