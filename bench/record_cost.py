"""CPU and memory of copy-recording 1080p 4 Mb/s channels, against the source streaming alone.

One command: ``.venv/bin/python bench/record_cost.py [--channels 1,4,8,16] [--seconds 30]``

- Source: a 1080p H.264 clip at ~4 Mb/s (generated once into a temp folder), served over
  RTSP by GStreamer's RTSP server *without re-encoding* (a real camera does the encoding),
  one stream per channel.
- Baseline: the same N streams pulled by N ``ffmpeg -c copy -f null`` clients (network and
  demuxing only, nothing written).
- Recording: ``lookout storage recorder`` (the product's service: Python supervisor, one
  ffmpeg per channel writing 60 s fMP4 segments, the index in SQLite) recording N channels.

CPU is the process tree's utime+stime over the measuring window (percent of one core);
memory is the proportional set size (PSS) of the recorder's processes. The RTSP server's
own CPU is printed but not charged to recording.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1

SERVER = textwrap.dedent("""
    import sys, gi
    gi.require_version("Gst", "1.0"); gi.require_version("GstRtspServer", "1.0")
    from gi.repository import Gst, GstRtspServer, GLib
    Gst.init(None)
    clip, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    srv = GstRtspServer.RTSPServer(); srv.set_service(port)
    for i in range(1, n + 1):
        f = GstRtspServer.RTSPMediaFactory()
        f.set_launch(f"( filesrc location={clip} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )")
        f.set_shared(True)
        srv.get_mount_points().add_factory(f"/ch{i}", f)
    srv.attach(None)
    print("ready", flush=True)
    GLib.MainLoop().run()
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_clip(path: Path, seconds: int) -> None:
    pets = Path(os.environ.get("LOOKOUT_SHARED_DATA", REPO.parent / "shared" / "data")) / "pets09-s2l1.avi"
    src = (["-stream_loop", "-1", "-i", str(pets)] if pets.exists()
           else ["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25"])
    subprocess.run(["ffmpeg", "-v", "error", "-y", *src, "-t", str(seconds), "-vf", "scale=1920:1080,fps=25,noise=alls=6:allf=t",
                    "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "4M", "-maxrate", "4M", "-bufsize", "4M",
                    "-g", "50", "-bf", "0", "-pix_fmt", "yuv420p", "-an", str(path)], check=True)


def tree(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for p in pids:
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except (OSError, IndexError):
            pass
    return total


def pss_kib(pids: list[int]) -> int:
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def measure(roots: list[int], seconds: float) -> tuple[float, int]:
    """(% of one core, PSS KiB at the end) of the process trees under ``roots``."""
    pids = [p for r in roots for p in tree(r)]
    c0, t0 = cpu_ticks(pids), time.monotonic()
    time.sleep(seconds)
    pids = [p for r in roots for p in tree(r)]
    c1, t1 = cpu_ticks(pids), time.monotonic()
    return 100.0 * (c1 - c0) / TICK / (t1 - t0), pss_kib(pids)


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()


def seed(db_url: str, urls: list[str]) -> None:
    sys.path.insert(0, str(REPO / "src"))
    from lookout.registry.models import Channel, OrgUnit, Site
    from lookout.store.db import session_scope
    from lookout.store.migrate import upgrade

    upgrade(db_url)
    with session_scope(db_url) as s:
        org = OrgUnit(tier="district", name="bench", division_code="500101")
        s.add(org)
        s.flush()
        site = Site(org_unit_id=org.id, name="bench")
        s.add(site)
        s.flush()
        for i, u in enumerate(urls, 1):
            s.add(Channel(site_id=site.id, code=f"5001010001131{i:07d}", name=f"c{i}", main_url=u))


def run(n: int, seconds: float, warmup: float, clip: Path, work: Path) -> dict:
    port = free_port()
    server = subprocess.Popen(["/usr/bin/python3", "-c", SERVER, str(clip), str(port), str(n)],
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline().strip() == "ready"
    urls = [f"rtsp://127.0.0.1:{port}/ch{i}" for i in range(1, n + 1)]
    res = {"channels": n}
    try:
        # baseline: the streams pulled and thrown away
        pulls = [subprocess.Popen(["ffmpeg", "-v", "error", "-nostdin", "-rtsp_transport", "tcp", "-i", u, "-map", "0:v",
                                   "-c", "copy", "-f", "null", "-"]) for u in urls]
        time.sleep(warmup)
        srv0 = cpu_ticks([server.pid])
        res["baseline_cpu"], res["baseline_pss"] = measure([p.pid for p in pulls], seconds)
        res["server_cpu"] = 100.0 * (cpu_ticks([server.pid]) - srv0) / TICK / seconds
        stop(pulls)

        # recording with the product's service
        db = work / f"bench{n}.db"
        db_url = f"sqlite:///{db}"
        seed(db_url, urls)
        env = dict(os.environ, LOOKOUT_DATA_DIR=str(work))
        rec = subprocess.Popen([str(REPO / ".venv/bin/lookout"), "storage", "recorder", "--db", db_url, "--root",
                                str(work / f"rec{n}")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(warmup)
        res["record_cpu"], res["record_pss"] = measure([rec.pid], seconds)
        kids = [p for p in tree(rec.pid) if p != rec.pid]
        res["ffmpeg_pss"], res["python_pss"] = pss_kib(kids), pss_kib([rec.pid])
        res["record_procs"] = len(kids) + 1
        stop([rec])
        written = sum(f.stat().st_size for f in (work / f"rec{n}").rglob("*.mp4"))
        res["written_mb"] = written / 1e6
        shutil.rmtree(work / f"rec{n}", ignore_errors=True)
    finally:
        server.terminate()
        server.wait(10)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--channels", default="1,4,8,16")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=6.0)
    a = ap.parse_args()
    counts = [int(x) for x in a.channels.split(",")]
    with tempfile.TemporaryDirectory(prefix="lookout-bench-") as tmp:
        work = Path(tmp)
        clip = work / "src1080p.mp4"
        t = time.time()
        make_clip(clip, int(2 * (a.seconds + a.warmup) + 20))
        info = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=bit_rate:stream=width,height,codec_name",
                               "-of", "compact", str(clip)], capture_output=True, text=True).stdout.split()
        print(f"source clip: {' '.join(info)} (made in {time.time() - t:.0f} s)")
        print(f"{'N':>3} {'base %core':>10} {'record %core':>13} {'rec/ch %':>9} {'extra/ch %':>11} "
              f"{'rec PSS MiB':>12} {'py PSS MiB':>11} {'ffmpeg PSS/ch':>14} {'server %':>9} {'MB written':>11}")
        rows = []
        for n in counts:
            r = run(n, a.seconds, a.warmup, clip, work)
            rows.append(r)
            print(f"{n:>3} {r['baseline_cpu']:>10.1f} {r['record_cpu']:>13.1f} {r['record_cpu'] / n:>9.2f} "
                  f"{(r['record_cpu'] - r['baseline_cpu']) / n:>11.2f} {r['record_pss'] / 1024:>12.1f} "
                  f"{r['python_pss'] / 1024:>11.1f} {r['ffmpeg_pss'] / 1024 / n:>14.1f} {r['server_cpu']:>9.1f} "
                  f"{r['written_mb']:>11.1f}", flush=True)
        big = max(rows, key=lambda r: r["channels"])
        per_ch = big["record_cpu"] / big["channels"]
        budget = 0.5 * 100 * CORES
        print(f"recording costs {per_ch:.2f} % of one core per channel (at N={big['channels']}); "
              f"50 % of this {CORES}-core machine ({budget:.0f} % of a core) records about "
              f"{int(budget / per_ch) if per_ch else 0} channels of 1080p 4 Mb/s (CPU only; disk write "
              f"{4 * int(budget / per_ch) / 8 if per_ch else 0:.0f} MB/s at that count)")


if __name__ == "__main__":
    main()
