"""Camera simulator: N RTSP cameras on loopback with faults switchable per channel.

The RTSP server (``server.py``, GStreamer's gst-rtsp-server) runs in a child process of
the system Python that has PyGObject; this module starts, supervises and stops it::

    with CamSim(source="pets.avi", channels=2, port=0) as sim:
        sim.urls            # ["rtsp://127.0.0.1:PORT/ch1", ...]; sub-streams: url + "/sub"
        sim.set_fault(1, "black")
        sim.set_fault(1, "clear")

Channels are numbered from 1, like their paths (``/ch1``).
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

from lookout.media.camsim.faults import KINDS

SERVER_SCRIPT = Path(__file__).with_name("server.py")
DEFAULT_PYTHON = "/usr/bin/python3"

__all__ = ["KINDS", "CamSim", "CamSimError", "send_fault", "control_status"]


class CamSimError(RuntimeError):
    """The simulator could not start, or refused a request."""


def gst_python() -> str:
    """The Python that has GStreamer's introspection bindings (env LOOKOUT_GST_PYTHON)."""
    return os.environ.get("LOOKOUT_GST_PYTHON", DEFAULT_PYTHON)


def send_fault(control: str, channel: int, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    """Switch fault ``kind`` on ``channel`` of the simulator whose control URL is ``control``."""
    try:
        r = httpx.post(f"{control.rstrip('/')}/fault", json={"channel": channel, "kind": kind}, timeout=timeout)
    except httpx.HTTPError as exc:
        raise CamSimError(f"camera simulator control at {control} unreachable: {exc}") from exc
    try:
        payload = r.json()
    except ValueError:
        payload = {"error": r.text}
    if r.status_code != 200:
        raise CamSimError(payload.get("error") or f"HTTP {r.status_code}")
    return payload


def control_status(control: str, timeout: float = 10.0) -> dict[str, Any]:
    try:
        r = httpx.get(f"{control.rstrip('/')}/status", timeout=timeout)
        r.raise_for_status()
    except httpx.HTTPError as exc:
        raise CamSimError(f"camera simulator control at {control} unreachable: {exc}") from exc
    return r.json()


class CamSim:
    """Start the simulator in a child process; a context manager.

    ``port=0`` picks a free RTSP port (tests). ``user``/``password`` make the server demand
    RTSP basic authentication. ``protocols="udp"`` refuses RTP over TCP (like some cameras),
    ``"tcp"`` refuses UDP. ``passthrough=True`` serves an H.264/H.265 ``source`` as it is
    (no re-encoding, so little CPU; no sub-streams; only the ``offline`` fault).
    ``echo_log`` copies the server's log to this stderr.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | None = None,
        channels: int = 1,
        port: int = 0,
        *,
        codec: str = "h264",
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        gop: int | None = None,
        bitrate: int | None = None,
        user: str | None = None,
        password: str | None = None,
        protocols: str = "any",
        passthrough: bool = False,
        control_port: int = 0,
        ready_timeout: float = 30.0,
        echo_log: bool = False,
    ) -> None:
        if codec not in ("h264", "h265"):
            raise ValueError(f"codec must be h264 or h265, not {codec!r}")
        if channels < 1:
            raise ValueError("channels must be at least 1")
        if protocols not in ("any", "tcp", "udp"):
            raise ValueError(f"protocols must be any, tcp or udp, not {protocols!r}")
        if source is not None and not Path(source).is_file():
            raise CamSimError(f"source video not found: {source}")
        self.args = [str(SERVER_SCRIPT), "--channels", str(channels), "--port", str(port)]
        self.args += ["--codec", codec, "--control-port", str(control_port), "--protocols", protocols, "--watch-stdin"]
        if passthrough:
            if source is None:
                raise ValueError("passthrough needs a source file (H.264 or H.265, no B-frames)")
            self.args.append("--passthrough")
        for flag, value in (
            ("--source", source),
            ("--width", width),
            ("--height", height),
            ("--fps", fps),
            ("--gop", gop),
            ("--bitrate", bitrate),
            ("--user", user),
            ("--password", password),
        ):
            if value is not None:
                self.args += [flag, str(value)]
        self.ready_timeout = ready_timeout
        self.echo_log = echo_log
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}
        self.log_tail: collections.deque[str] = collections.deque(maxlen=50)

    # -- lifecycle
    def start(self) -> CamSim:
        python = gst_python()
        try:
            self.proc = subprocess.Popen(
                [python, *self.args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # Ctrl-C in a terminal reaches the parent, which stops us
            )
        except OSError as exc:
            raise CamSimError(f"cannot run {python} (Python with GStreamer bindings, python3-gi): {exc}") from exc
        ready = threading.Event()
        threading.Thread(target=self._read_stdout, args=(ready,), daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        if not ready.wait(self.ready_timeout) or not self.info:
            self.stop()
            tail = "\n".join(self.log_tail) or "(no output)"
            raise CamSimError(f"camera simulator did not start: {tail}")
        return self

    def _read_stdout(self, ready: threading.Event) -> None:
        assert self.proc and self.proc.stdout
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").strip()
            if not self.info and line.startswith("{"):
                try:
                    self.info = json.loads(line)
                except ValueError:
                    self.log_tail.append(line)
                    continue
                ready.set()
        ready.set()  # the process ended before (or after) it was ready

    def _read_stderr(self) -> None:
        assert self.proc and self.proc.stderr
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.log_tail.append(line)
            if self.echo_log:
                print(line, file=sys.stderr, flush=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass

    def __enter__(self) -> CamSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- facts and control
    @property
    def urls(self) -> list[str]:
        return list(self.info["urls"])

    @property
    def sub_urls(self) -> list[str]:
        return list(self.info["sub_urls"])

    @property
    def control(self) -> str:
        return str(self.info["control"])

    def url(self, channel: int, sub: bool = False) -> str:
        """The RTSP URL of ``channel`` (1-based); ``sub`` for the half-size sub-stream."""
        return (self.sub_urls if sub else self.urls)[channel - 1]

    def set_fault(self, channel: int, kind: str) -> dict[str, Any]:
        return send_fault(self.control, channel, kind)

    def status(self) -> dict[str, Any]:
        return control_status(self.control)
