"""Helpers for the recording, export and live-view tests (no tests here)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from pathlib import Path

from lookout.store.db import session_scope


def make_clip(path: Path, seconds: float = 20, size: str = "320x240", fps: int = 10, gop: int = 10) -> Path:
    """A small H.264 MP4 of a moving test pattern (key frame every ``gop`` frames)."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}", "-t", str(seconds),
         "-c:v", "libx264", "-preset", "ultrafast", "-g", str(gop), "-bf", "0", "-pix_fmt", "yuv420p", str(path)],
        check=True, timeout=120,
    )
    return path


def seed_channels(db_url: str, urls: list[tuple[str | None, str | None]], retention_days: int = 90,
                  site_name: str = "测试景区") -> list[int]:
    from lookout.registry.models import Channel, OrgUnit, Site

    with session_scope(db_url) as s:
        org = OrgUnit(tier="district", name="测试区", division_code="500101")
        s.add(org)
        s.flush()
        site = Site(org_unit_id=org.id, name=site_name)
        s.add(site)
        s.flush()
        ids = []
        for i, (main, sub) in enumerate(urls, start=1):
            ch = Channel(site_id=site.id, code=f"5001010001131{i:07d}", name=f"摄像机{i}", main_url=main, sub_url=sub,
                         retention_days=retention_days)
            s.add(ch)
            s.flush()
            ids.append(ch.id)
    return ids


def make_user(db_url: str, username: str = "admin", role: str = "admin", display_name: str | None = None) -> int:
    from lookout.security.models import User

    with session_scope(db_url) as s:
        u = User(username=username, password_hash="x", role=role, display_name=display_name, clearance=1)
        s.add(u)
        s.flush()
        return u.id


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(app, port: int | None = None):
    """Run an ASGI app with uvicorn on loopback in a thread; yields the base URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline or not th.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        th.join(15)


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]


def ffprobe_facts(path: Path) -> dict:
    import json

    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
                          str(path)], capture_output=True, text=True, timeout=60, check=True)
    info = json.loads(out.stdout)
    v = next(s for s in info["streams"] if s["codec_type"] == "video")
    return {"duration": float(info["format"]["duration"]), "codec": v["codec_name"], "width": v["width"],
            "height": v["height"]}


def packet_md5s(path: Path, key: bool = False) -> set[str]:
    """MD5 of each non-key video packet (or of the key ones), read without decoding.

    A copy keeps every packet; only key frames may gain in-band parameter sets (SPS/PPS)
    when ffmpeg's concat demuxer joins files. A re-encode changes every packet.
    """
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_packets", "-show_data_hash",
                          "md5", "-show_entries", "packet=flags,data_hash", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, timeout=60, check=True)
    rows = [ln.split(",") for ln in out.stdout.splitlines() if "," in ln]
    return {h.split(":", 1)[1] for flags, h in rows if flags.startswith("K") == key}
