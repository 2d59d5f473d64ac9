"""Glass-to-glass delay of the browser live view on loopback.

One command: ``.venv/bin/python bench/live_latency.py [--seconds 20] [--frag-ms 200]``

A generator draws each frame with its own wall-clock time (milliseconds, as 32 black/white
blocks) and feeds it to an x264 encoder (zerolatency) streaming MPEG-TS over UDP, the
camera. The platform (``create_app``: live WebSocket, one ffmpeg -c copy to fMP4) serves it
to Debian's headless Chromium, where every displayed frame (requestVideoFrameCallback) is
drawn to a canvas and its blocks read back: delay = the browser's clock − the frame's
time. Baseline in the same run: the same stream decoded straight from UDP by
``ffmpeg`` (the encoder + network + decoder part without the platform), read the same way.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))
W, H, FPS, BITS, BLOCK = 320, 240, 25, 32, 20


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stamp_frame(ms: int, n: int) -> np.ndarray:
    img = np.full((H, W), 90, np.uint8)
    x = (n * 4) % W  # some motion
    img[120:200, x:x + 40] = 200
    for i in range(BITS):
        r, c = divmod(i, 16)
        y0, x0 = r * BLOCK, c * BLOCK
        img[y0:y0 + BLOCK, x0:x0 + BLOCK] = 235 if (ms >> (BITS - 1 - i)) & 1 else 16
    return img


def read_stamp(gray: np.ndarray) -> int:
    v = 0
    for i in range(BITS):
        r, c = divmod(i, 16)
        v = (v << 1) | int(gray[r * BLOCK + BLOCK // 2, c * BLOCK + BLOCK // 2] > 128)
    return v


def camera(port: int, stop: threading.Event) -> subprocess.Popen:
    enc = subprocess.Popen(["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{W}x{H}", "-r",
                            str(FPS), "-i", "-", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
                            "-g", str(FPS), "-pix_fmt", "yuv420p", "-f", "mpegts",
                            f"udp://127.0.0.1:{port}?pkt_size=1316"], stdin=subprocess.PIPE)

    def feed() -> None:
        n, t0 = 0, time.monotonic()
        while not stop.is_set():
            ms = int(time.time() * 1000) % (1 << 32)
            try:
                enc.stdin.write(stamp_frame(ms, n).tobytes())
                enc.stdin.flush()
            except (BrokenPipeError, ValueError):
                return
            n += 1
            time.sleep(max(0.0, t0 + n / FPS - time.monotonic()))
        enc.stdin.close()

    threading.Thread(target=feed, daemon=True).start()
    return enc


def baseline(port: int, seconds: float) -> list[float]:
    """Decode the UDP stream directly (no platform) and read each frame's stamp on arrival."""
    dec = subprocess.Popen(["ffmpeg", "-v", "error", "-fflags", "nobuffer", "-flags", "low_delay", "-i",
                            f"udp://127.0.0.1:{port}", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                           stdout=subprocess.PIPE)
    out, end = [], time.time() + seconds
    size = W * H
    while time.time() < end:
        buf = dec.stdout.read(size)
        if len(buf) < size:
            break
        now = int(time.time() * 1000) % (1 << 32)
        out.append(((now - read_stamp(np.frombuffer(buf, np.uint8).reshape(H, W))) % (1 << 32)) / 1000.0)
    dec.kill()
    dec.wait()
    return out[FPS:]  # skip the first second (start-up)


JS_COLLECT = """
([seconds, W, H, BLOCK, BITS]) => new Promise((resolve) => {
  const v = document.getElementById('live');
  const c = document.createElement('canvas'); c.width = W; c.height = H;
  const g = c.getContext('2d', { willReadFrequently: true });
  const out = []; const end = performance.now() + seconds * 1000;
  const read = () => {
    g.drawImage(v, 0, 0, W, H);
    const d = g.getImageData(0, 0, W, H).data;
    let val = 0;
    for (let i = 0; i < BITS; i++) {
      const r = Math.floor(i / 16), col = i % 16;
      const y = r * BLOCK + BLOCK / 2, x = col * BLOCK + BLOCK / 2;
      val = val * 2 + (d[(y * W + x) * 4] > 128 ? 1 : 0);
    }
    return val;
  };
  const step = () => {
    const now = Date.now() % 4294967296;
    out.push(((now - read()) % 4294967296 + 4294967296) % 4294967296 / 1000);
    if (performance.now() < end) v.requestVideoFrameCallback(step); else resolve(out);
  };
  v.requestVideoFrameCallback(step);
})
"""


def summary(xs: list[float]) -> str:
    xs = sorted(xs)
    if not xs:
        return "no frames"
    return (f"median {statistics.median(xs):.3f} s, p90 {xs[int(0.9 * (len(xs) - 1))]:.3f} s, "
            f"max {xs[-1]:.3f} s over {len(xs)} frames")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--frag-ms", type=int, default=200)
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from test_record_helpers import CHROMIUM_ARGS, make_user, seed_channels, serve

    stop = threading.Event()
    port = free_udp_port()
    enc = camera(port, stop)
    try:
        base = baseline(port, min(10.0, a.seconds))
        print(f"baseline (encoder → UDP → ffmpeg decode, no platform): {summary(base)}")
        with tempfile.TemporaryDirectory(prefix="lookout-latency-") as tmp:
            os.environ.update(LOOKOUT_DATA_DIR=tmp, LOOKOUT_SECRET_KEY="bench-secret-key-0123456789abcdef",
                              LOOKOUT_DATABASE_URL=f"sqlite:///{tmp}/l.db")
            from lookout.api.app import create_app
            from lookout.media import live
            from lookout.security.secrets import make_token
            from lookout.settings import load_settings
            from lookout.store.migrate import upgrade

            settings = load_settings()
            upgrade(settings.db_url)
            (cid,) = seed_channels(settings.db_url, [(f"udp://127.0.0.1:{port}", None)])
            token = make_token(settings.resolved_secret(), make_user(settings.db_url))
            live.DEFAULT_FRAG_MS = a.frag_ms
            with serve(create_app(settings)) as url, sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page()
                page.goto(f"{url}/api/v1/media/live.html?channel={cid}&token={token}")
                page.wait_for_function("document.getElementById('live').currentTime > 2", timeout=60_000)
                xs = page.evaluate(JS_COLLECT, [a.seconds, W, H, BLOCK, BITS])
                browser.close()
        print(f"platform live view in Chromium (frag {a.frag_ms} ms): {summary(xs)}")
    finally:
        stop.set()
        enc.terminate()
        enc.wait(5)


if __name__ == "__main__":
    main()
