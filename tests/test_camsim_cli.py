"""`lookout camsim` as a command: the ready line, a real client, a clean stop on SIGTERM."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys

import httpx
import pytest

pytestmark = [
    pytest.mark.media,
    pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffmpeg/ffprobe not installed"),
]


def test_camsim_command_prints_urls_and_stops_on_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "lookout.cli", "camsim", "--channels", "2", "--port", "0",
         "--width", "160", "--height", "120", "--codec", "h265"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        if not line:
            pytest.skip(f"GStreamer RTSP server unavailable: {proc.stderr.read()[-500:]}")
        ready = json.loads(line)
        assert set(ready) == {"urls", "control"}
        assert [u.rsplit("/", 1)[1] for u in ready["urls"]] == ["ch1", "ch2"]
        assert all(u.startswith("rtsp://127.0.0.1:") for u in ready["urls"])
        p = subprocess.run(
            ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name,width,height",
             "-of", "csv=p=0", ready["urls"][1]],
            capture_output=True, text=True, timeout=20,
        )
        assert p.stdout.strip() == "hevc,160,120", p.stderr
        assert httpx.get(ready["control"] + "/status").json()["channels"][1]["codec"] == "h265"
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(15)
    assert rc == 0
    with pytest.raises(httpx.ConnectError):  # the RTSP server process is gone too
        httpx.get(ready["control"] + "/status", timeout=2)


def test_camsim_reports_a_missing_source(tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "lookout.cli", "camsim", "--source", str(tmp_path / "nope.avi"), "--port", "0"],
        capture_output=True, text=True, timeout=30,
    )
    assert p.returncode == 2
    assert "source video not found" in p.stderr and p.stdout == ""


def test_camsim_reports_an_unreadable_source(tmp_path):
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00AVI garbage" * 100)
    p = subprocess.run(
        [sys.executable, "-m", "lookout.cli", "camsim", "--source", str(bad), "--port", "0"],
        capture_output=True, text=True, timeout=60,
    )
    assert p.returncode == 2
    assert "cannot read video" in p.stderr
