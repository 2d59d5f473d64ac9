"""RTSP server of the camera simulator (GStreamer gst-rtsp-server).

Runs as its own process under the system Python that has PyGObject (``python3-gi``); it
uses only GStreamer, numpy and the standard library, so it does not import the ``lookout``
package. ``lookout camsim`` and :class:`lookout.media.camsim.CamSim` start it.

Per channel one reader pipeline decodes the source (a file, looped; or a generated moving
scene) to RGB frames; a pump thread paces the frames at the channel's frame rate, applies
the channel's fault and pushes them into the ``appsrc`` of every prepared RTSP media of that
channel (``/chK`` at full size, ``/chK/sub`` at half size). The media are shared by all
clients. A small HTTP endpoint switches faults.

When ready it prints one JSON line on stdout (urls, sub_urls, control) and then serves until
SIGTERM/SIGINT or until its stdin closes (the parent went away).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faults import KINDS, MovingScene, apply_fault  # noqa: E402

Gst.init(None)

FilterResult = GstRtspServer.RTSPFilterResult


def log(msg: str) -> None:
    print(f"camsim: {msg}", file=sys.stderr, flush=True)


class SourceError(RuntimeError):
    """The source video cannot be read."""


# --------------------------------------------------------------------------- sources
class FileReader:
    """Decodes a video file to RGB frames of a fixed size and rate, looping at the end."""

    def __init__(self, path: str, width: int | None, height: int | None, fps: Fraction | None, start: float = 0.0):
        caps = "video/x-raw,format=RGB,pixel-aspect-ratio=1/1"
        if width and height:
            caps += f",width={width},height={height}"
        if fps:
            caps += f",framerate={fps.numerator}/{fps.denominator}"
        self.pipeline = Gst.parse_launch(
            "filesrc name=file ! decodebin ! videoconvert ! videoscale ! videorate ! "
            f"{caps} ! appsink name=sink sync=false max-buffers=4 drop=false"
        )
        self.pipeline.get_by_name("file").set_property("location", path)
        self.sink = self.pipeline.get_by_name("sink")
        self.path = path
        self.pipeline.set_state(Gst.State.PLAYING)
        first, err = None, None
        deadline = time.monotonic() + 15.0
        while first is None and err is None and time.monotonic() < deadline:
            first = self._pull(timeout_s=0.2)
            if first is None:
                err = self._bus_error()
        if first is None:
            err = err or "no frame within 15 s"
            self.close()
            raise SourceError(f"cannot read video {path!r}: {err}")
        s = first.get_caps().get_structure(0)
        self.width = s.get_value("width")
        self.height = s.get_value("height")
        ok, num, den = s.get_fraction("framerate")
        self.fps = Fraction(num, den) if ok and num > 0 else Fraction(25)
        self._pending = first
        ok, dur = self.pipeline.query_duration(Gst.Format.TIME)
        self.duration = dur / Gst.SECOND if ok and dur > 0 else 0.0
        if start > 0 and self.duration > 0:
            self._pending = None
            self.pipeline.seek_simple(
                Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, int((start % self.duration) * Gst.SECOND)
            )

    def _bus_error(self) -> str | None:
        bus = self.pipeline.get_bus()
        while True:
            msg = bus.pop_filtered(Gst.MessageType.ERROR)
            if msg is None:
                return None
            err, debug = msg.parse_error()
            return f"{err.message} ({debug.splitlines()[0] if debug else ''})"

    def _pull(self, timeout_s: float):
        return self.sink.emit("try-pull-sample", int(timeout_s * Gst.SECOND))

    def _to_array(self, sample) -> np.ndarray:
        buf = sample.get_buffer()
        data = buf.extract_dup(0, buf.get_size())
        s = sample.get_caps().get_structure(0)
        w, h = s.get_value("width"), s.get_value("height")
        stride = len(data) // h
        return np.frombuffer(data, np.uint8).reshape(h, stride)[:, : w * 3].reshape(h, w, 3)

    def next_frame(self) -> np.ndarray:
        if self._pending is not None:
            sample, self._pending = self._pending, None
            return self._to_array(sample)
        for _ in range(3):
            sample = self._pull(timeout_s=5.0)
            if sample is not None:
                return self._to_array(sample)
            if self.sink.get_property("eos"):  # loop: back to the start
                self.pipeline.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)
                continue
            err = self._bus_error()
            if err:
                raise SourceError(f"reading {self.path!r} failed: {err}")
        raise SourceError(f"reading {self.path!r} stalled")

    def close(self) -> None:
        self.pipeline.set_state(Gst.State.NULL)


class EncodedReader:
    """Reads the coded pictures of an H.264/H.265 file (no decoding), looping at the end.

    For ``--passthrough``: the stream is served as the file carries it, like a camera that
    did its own encoding. The file must not use B-frames (cameras do not), because the
    pictures are re-timed in arrival order.
    """

    def __init__(self, path: str, start: float = 0.0):
        self.path = path
        self.codec = None
        for codec in ("h264", "h265"):
            pipe = Gst.parse_launch(
                f"filesrc name=file ! parsebin ! {codec}parse config-interval=-1 ! "
                f"video/x-{codec},stream-format=byte-stream,alignment=au ! appsink name=sink sync=false max-buffers=8"
            )
            pipe.get_by_name("file").set_property("location", path)
            self.pipeline, self.sink = pipe, pipe.get_by_name("sink")
            pipe.set_state(Gst.State.PLAYING)
            first = self._first_sample()
            if first is not None:
                self.codec = codec
                break
            pipe.set_state(Gst.State.NULL)
        if self.codec is None:
            raise SourceError(f"cannot serve {path!r} without re-encoding: it is not H.264 or H.265 video")
        st = first.get_caps().get_structure(0)
        self.caps = first.get_caps().to_string()
        self.width, self.height = st.get_value("width"), st.get_value("height")
        ok, num, den = st.get_fraction("framerate")
        self.fps = Fraction(num, den) if ok and num > 0 else Fraction(25)
        self._pending = first
        self.warned_reorder = False
        ok, dur = self.pipeline.query_duration(Gst.Format.TIME)
        self.duration = dur / Gst.SECOND if ok and dur > 0 else 0.0
        if start > 0 and self.duration > 0:
            self._pending = None
            self.pipeline.seek_simple(
                Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, int((start % self.duration) * Gst.SECOND)
            )

    def _first_sample(self):
        deadline = time.monotonic() + 15.0
        bus = self.pipeline.get_bus()
        while time.monotonic() < deadline:
            sample = self.sink.emit("try-pull-sample", int(0.2 * Gst.SECOND))
            if sample is not None:
                return sample
            if bus.pop_filtered(Gst.MessageType.ERROR) is not None or self.sink.get_property("eos"):
                return None
        return None

    def next_frame(self) -> tuple[bytes, bool]:
        """The next coded picture and whether it is a key frame."""
        sample, self._pending = self._pending, None
        for _ in range(3):
            if sample is not None:
                break
            sample = self.sink.emit("try-pull-sample", int(5 * Gst.SECOND))
            if sample is None and self.sink.get_property("eos"):
                self.pipeline.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)
        if sample is None:
            raise SourceError(f"reading {self.path!r} stalled")
        buf = sample.get_buffer()
        if not self.warned_reorder and buf.dts != Gst.CLOCK_TIME_NONE and buf.pts != buf.dts:
            self.warned_reorder = True
            log(f"{self.path}: the file uses B-frames; served pictures will be mis-timed (encode with -bf 0)")
        return buf.extract_dup(0, buf.get_size()), not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)

    def close(self) -> None:
        self.pipeline.set_state(Gst.State.NULL)


class SceneReader:
    """The generated moving scene (no file)."""

    def __init__(self, width: int, height: int, fps: Fraction, start: int = 0):
        self.width, self.height, self.fps = width, height, fps
        self.scene = MovingScene(width, height, float(fps))
        self.n = start

    def next_frame(self) -> np.ndarray:
        self.n += 1
        return self.scene.frame(self.n)

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- channels
class Channel:
    """One simulated camera: its reader, its fault, and the appsrcs it feeds."""

    def __init__(self, number: int, reader, width: int, height: int, fps: Fraction):
        self.number = number
        self.reader = reader
        self.encoded = isinstance(reader, EncodedReader)
        self.waiting_key: set[int] = set()  # appsrcs that start at the next key frame
        self.last_pts: dict[int, int] = {}
        self.width, self.height, self.fps = width, height, fps
        self.fault = "clear"
        self.lock = threading.Lock()
        self.appsrcs: list = []  # (appsrc, media)
        self.frames = 0
        self.error: str | None = None
        self.thread = threading.Thread(target=self._pump, name=f"camsim-ch{number}", daemon=True)
        self.running = True

    @property
    def caps(self) -> str:
        if self.encoded:
            return self.reader.caps
        return f"video/x-raw,format=RGB,width={self.width},height={self.height},framerate={self.fps.numerator}/{self.fps.denominator}"

    def attach(self, appsrc, media) -> None:
        appsrc.set_property("caps", Gst.Caps.from_string(self.caps))
        with self.lock:
            self.appsrcs.append((appsrc, media))
            self.waiting_key.add(id(appsrc))
        media.connect("unprepared", self._on_unprepared, appsrc)

    def _on_unprepared(self, media, appsrc) -> None:
        with self.lock:
            self.appsrcs = [(a, m) for a, m in self.appsrcs if a is not appsrc]
            self.waiting_key.discard(id(appsrc))
            self.last_pts.pop(id(appsrc), None)

    def _stamp(self, appsrc, buf) -> None:
        """Time a buffer on the frame grid of the media's running time.

        Stamping with the arrival time (``do-timestamp``) gives jittery, sometimes equal
        timestamps when the machine is busy; clients then see non-increasing DTS. Rounded
        to whole frame periods and kept strictly increasing, the stream stays regular.
        The last stamp is kept only while the appsrc is attached: its media may be unprepared
        while a frame is being pushed, and a stamp left behind would time a later appsrc that
        Python happens to give the same id ahead of its clock, which holds its frames back.
        """
        clock = appsrc.get_clock()
        if clock is None:  # not playing yet: do-timestamp stamps it
            return
        period = int(Gst.SECOND / float(self.fps))
        running = clock.get_time() - appsrc.get_base_time()
        pts = max(0, round(running / period) * period)
        with self.lock:
            last = self.last_pts.get(id(appsrc))
            if last is not None and pts <= last < pts + Gst.SECOND:
                pts = last + period
            if any(a is appsrc for a, _ in self.appsrcs):
                self.last_pts[id(appsrc)] = pts
        buf.pts = buf.dts = pts
        buf.duration = period

    def medias(self) -> list:
        with self.lock:
            return [m for _, m in self.appsrcs]

    def _pump(self) -> None:
        if self.encoded:
            self._pump_encoded()
            return
        period = 1.0 / float(self.fps)
        next_t = time.monotonic()
        last_sent: np.ndarray | None = None
        while self.running:
            try:
                frame = self.reader.next_frame()
            except Exception as exc:  # keep serving the last picture, report once
                if self.error is None:
                    self.error = str(exc)
                    log(f"channel {self.number}: {exc}")
                frame = last_sent if last_sent is not None else np.zeros((self.height, self.width, 3), np.uint8)
                time.sleep(0.5)
            with self.lock:
                targets = [a for a, _ in self.appsrcs]
                fault = self.fault
            self.frames += 1
            if fault != "offline" and targets:
                if fault == "freeze" and last_sent is not None:
                    out = last_sent
                else:
                    out = apply_fault(fault, frame, self.frames)
                    last_sent = out
                data = out.tobytes()
                for appsrc in targets:
                    buf = Gst.Buffer.new_wrapped(data)
                    self._stamp(appsrc, buf)
                    appsrc.emit("push-buffer", buf)
            elif fault != "freeze":
                last_sent = frame
            next_t += period
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -1.0:  # far behind (machine busy): do not try to catch up
                next_t = time.monotonic()

    def _pump_encoded(self) -> None:
        """Passthrough: coded pictures go out as they are; a new stream starts at a key frame."""
        period = 1.0 / float(self.fps)
        next_t = time.monotonic()
        while self.running:
            try:
                data, key = self.reader.next_frame()
            except Exception as exc:
                if self.error is None:
                    self.error = str(exc)
                    log(f"channel {self.number}: {exc}")
                time.sleep(0.5)
                continue
            with self.lock:
                targets = [a for a, _ in self.appsrcs]
                fault = self.fault
                if key:
                    self.waiting_key.clear()
                waiting = set(self.waiting_key)
            self.frames += 1
            if fault != "offline":
                for appsrc in targets:
                    if id(appsrc) in waiting:
                        continue
                    buf = Gst.Buffer.new_wrapped(data)
                    if not key:
                        buf.set_flags(Gst.BufferFlags.DELTA_UNIT)
                    self._stamp(appsrc, buf)
                    appsrc.emit("push-buffer", buf)
            next_t += period
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -1.0:
                next_t = time.monotonic()

    def stop(self) -> None:
        self.running = False
        self.reader.close()


# --------------------------------------------------------------------------- server
def encoder_chain(codec: str, gop: int, kbps: int) -> str:
    if codec == "h265":
        return (
            f"x265enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bitrate={kbps} "
            'option-string="pools=1:frame-threads=1:repeat-headers=1" ! video/x-h265,profile=main ! '
            "rtph265pay name=pay0 pt=96 config-interval=-1"
        )
    return (
        f"x264enc tune=zerolatency speed-preset=ultrafast threads=1 sliced-threads=false key-int-max={gop} "
        f"bitrate={kbps} ! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 config-interval=-1"
    )


class CamSimServer:
    def __init__(self, args):
        self.args = args
        self.channels: list[Channel] = []
        self.factories: dict[str, GstRtspServer.RTSPMediaFactory] = {}
        self.loop = GLib.MainLoop()
        self.server = GstRtspServer.RTSPServer()
        self.server.set_address(args.host)
        self.server.set_service(str(args.port))
        self.mounts = self.server.get_mount_points()
        self.permissions = None
        if args.user:
            self._setup_auth(args.user, args.password or "")

    def _setup_auth(self, user: str, password: str) -> None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        self.server.set_auth(auth)
        perms = GstRtspServer.RTSPPermissions()
        perms.add_permission_for_role("viewer", "media.factory.access", True)
        perms.add_permission_for_role("viewer", "media.factory.construct", True)
        self.permissions = perms

    def build_channels(self) -> None:
        a = self.args
        fps = Fraction(a.fps).limit_denominator(1001) if a.fps else None
        width, height = a.width, a.height
        for k in range(1, a.channels + 1):
            if a.passthrough:
                offset = (k - 1) * (self.channels[0].reader.duration / a.channels) if self.channels else 0.0
                reader = EncodedReader(a.source, start=offset)
                self.args.codec = reader.codec
                self.channels.append(Channel(k, reader, reader.width, reader.height, reader.fps))
                continue
            if a.source:
                if not self.channels:
                    probe = FileReader(a.source, width, height, fps)
                    # frame rows must be whole 4-byte words in RGB: width a multiple of 4, both even
                    w, h = probe.width // 4 * 4, probe.height // 2 * 2
                    if (w, h) != (probe.width, probe.height) or fps is None:
                        fps = fps or probe.fps
                        probe.close()
                        probe = FileReader(a.source, w, h, fps)
                    width, height, fps = w, h, probe.fps
                    reader = probe
                else:
                    offset = (k - 1) * (self.channels[0].reader.duration / a.channels)
                    reader = FileReader(a.source, width, height, fps, start=offset)
            else:
                width = (width or 640) // 4 * 4
                height = (height or 360) // 2 * 2
                fps = fps or Fraction(10)
                reader = SceneReader(width, height, fps, start=(k - 1) * 57)
            self.channels.append(Channel(k, reader, width, height, fps))

    def _factory(self, ch: Channel, sub: bool) -> GstRtspServer.RTSPMediaFactory:
        a = self.args
        if ch.encoded:
            return self._passthrough_factory(ch)
        fps = float(ch.fps)
        gop = a.gop or max(1, round(fps))
        main_kbps = a.bitrate or max(200, int(ch.width * ch.height * fps * 0.1 / 1000))
        if sub:
            sw, sh = max(2, ch.width // 4 * 2), max(2, ch.height // 4 * 2)
            scale = f"videoscale ! video/x-raw,width={sw},height={sh} ! "
            kbps = max(100, main_kbps // 4)
        else:
            scale, kbps = "", main_kbps
        launch = (
            "( appsrc name=src is-live=true format=time do-timestamp=true block=false "
            "max-buffers=4 leaky-type=downstream ! "
            f"{scale}videoconvert ! video/x-raw,format=I420 ! {encoder_chain(a.codec, gop, kbps)} )"
        )
        f = GstRtspServer.RTSPMediaFactory()
        f.set_launch(launch)
        f.set_shared(True)
        if a.protocols == "udp":  # like a camera that refuses RTP over the RTSP connection
            f.set_protocols(GstRtsp.RTSPLowerTrans.UDP | GstRtsp.RTSPLowerTrans.UDP_MCAST)
        elif a.protocols == "tcp":
            f.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
        if self.permissions is not None:
            f.set_permissions(self.permissions)
        f.connect("media-configure", self._on_media_configure, ch)
        return f

    def _passthrough_factory(self, ch: Channel) -> GstRtspServer.RTSPMediaFactory:
        codec = ch.reader.codec
        launch = (
            "( appsrc name=src is-live=true format=time do-timestamp=true block=false "
            f"max-buffers=30 leaky-type=downstream ! {codec}parse config-interval=-1 ! "
            f"rtp{codec}pay name=pay0 pt=96 config-interval=-1 )"
        )
        f = GstRtspServer.RTSPMediaFactory()
        f.set_launch(launch)
        f.set_shared(True)
        if self.permissions is not None:
            f.set_permissions(self.permissions)
        f.connect("media-configure", self._on_media_configure, ch)
        return f

    def _on_media_configure(self, factory, media, ch: Channel) -> None:
        appsrc = media.get_element().get_by_name_recurse_up("src")
        ch.attach(appsrc, media)

    def paths(self, ch: Channel) -> list[str]:
        if ch.encoded:  # a sub-stream would need re-encoding
            return [f"/ch{ch.number}"]
        return [f"/ch{ch.number}", f"/ch{ch.number}/sub"]

    def mount(self, ch: Channel) -> None:
        for path in self.paths(ch):
            self.mounts.add_factory(path, self.factories[path])

    def unmount(self, ch: Channel) -> None:
        for path in self.paths(ch):
            self.mounts.remove_factory(path)

    def kick_clients(self, ch: Channel) -> None:
        """Close the connections of every client that plays one of this channel's media."""
        targets = ch.medias()
        if not targets:
            return

        def on_client(server, client):
            hit = []

            def on_session(client, session):
                def on_media(session, smedia):
                    if any(smedia.get_media() == m for m in targets):
                        hit.append(True)
                    return FilterResult.KEEP

                session.filter(on_media)
                return FilterResult.KEEP

            client.session_filter(on_session)
            return FilterResult.REMOVE if hit else FilterResult.KEEP

        self.server.client_filter(on_client)

    def on_main_loop(self, fn, *args):
        """Run ``fn`` in the GLib main loop and wait for it (RTSP objects live there)."""
        done = threading.Event()
        box = {}

        def call():
            try:
                box["result"] = fn(*args)
            except Exception as exc:  # reported to the caller
                box["error"] = exc
            done.set()
            return False

        GLib.idle_add(call)
        done.wait(10)
        if "error" in box:
            raise box["error"]
        return box.get("result")

    def set_fault(self, number: int, kind: str) -> dict:
        if not 1 <= number <= len(self.channels):
            raise ValueError(f"no channel {number}; channels are 1..{len(self.channels)}")
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(KINDS)}")
        ch = self.channels[number - 1]
        if ch.encoded and kind not in ("offline", "clear"):
            raise ValueError(
                f"channel {number} serves the source without re-encoding (--passthrough): "
                "only offline and clear apply"
            )
        with ch.lock:
            before, ch.fault = ch.fault, kind
        if kind == "offline" and before != "offline":
            self.on_main_loop(self._go_offline, ch)
        elif before == "offline" and kind != "offline":
            self.on_main_loop(self.mount, ch)
        log(f"channel {number}: {before} -> {kind}")
        return {"channel": number, "kind": kind, "previous": before}

    def _go_offline(self, ch: Channel) -> None:
        self.unmount(ch)
        self.kick_clients(ch)

    def status(self) -> dict:
        return {
            "channels": [
                {
                    "channel": c.number,
                    "url": self.url(c),
                    "sub_url": None if c.encoded else self.url(c) + "/sub",
                    "passthrough": c.encoded,
                    "fault": c.fault,
                    "width": c.width,
                    "height": c.height,
                    "fps": float(c.fps),
                    "codec": self.args.codec,
                    "active_streams": len(c.medias()),
                    "error": c.error,
                }
                for c in self.channels
            ]
        }

    def url(self, ch: Channel) -> str:
        return f"rtsp://{self.args.host}:{self.port}/ch{ch.number}"

    def start(self) -> None:
        self.build_channels()
        for ch in self.channels:
            for path, sub in zip(self.paths(ch), (False, True)):
                self.factories[path] = self._factory(ch, sub)
            self.mount(ch)
        if self.server.attach(None) == 0:
            raise OSError(f"cannot listen for RTSP on {self.args.host}:{self.args.port}")
        self.port = self.server.get_bound_port()
        for ch in self.channels:
            ch.thread.start()
        self.http = ThreadingHTTPServer((self.args.host, self.args.control_port), make_handler(self))
        self.http.daemon_threads = True
        threading.Thread(target=self.http.serve_forever, name="camsim-control", daemon=True).start()
        control = f"http://{self.args.host}:{self.http.server_address[1]}"
        ready = {
            "urls": [self.url(c) for c in self.channels],
            "sub_urls": [] if self.args.passthrough else [self.url(c) + "/sub" for c in self.channels],
            "control": control,
            "codec": self.args.codec,
            "width": self.channels[0].width,
            "height": self.channels[0].height,
            "fps": float(self.channels[0].fps),
        }
        print(json.dumps(ready), flush=True)

    def run(self) -> None:
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, self.quit)
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, self.quit)
        if self.args.watch_stdin:
            threading.Thread(target=self._watch_stdin, daemon=True).start()
        self.loop.run()
        for ch in self.channels:
            ch.running = False
        for ch in self.channels:
            ch.thread.join(2.0)
            ch.stop()
        self.http.shutdown()
        self.server.get_session_pool().cleanup()

    def _watch_stdin(self) -> None:
        try:
            while os.read(0, 1024):
                pass
        except OSError:
            pass
        GLib.idle_add(self.quit)

    def quit(self, *args) -> bool:
        self.loop.quit()
        return False


def make_handler(sim: CamSimServer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):  # quiet; faults are logged by set_fault
            pass

        def _send(self, code: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            path = urllib.parse.urlsplit(self.path).path
            if path in ("/", "/status"):
                self._send(200, sim.status())
            else:
                self._send(404, {"error": f"no such endpoint {path}"})

        def do_POST(self):
            parts = urllib.parse.urlsplit(self.path)
            if parts.path != "/fault":
                self._send(404, {"error": f"no such endpoint {parts.path}"})
                return
            params = {k: v[-1] for k, v in urllib.parse.parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                try:
                    body = json.loads(self.rfile.read(length))
                    if not isinstance(body, dict):
                        raise ValueError("body must be a JSON object")
                    params.update(body)
                except ValueError as exc:
                    log(f"refused fault request: malformed JSON body: {exc}")
                    self._send(400, {"error": f"malformed JSON body: {exc}"})
                    return
            try:
                channel = int(params.get("channel", ""))
            except (TypeError, ValueError):
                self._send(400, {"error": "field 'channel' must be an integer (1-based)"})
                return
            try:
                self._send(200, sim.set_fault(channel, str(params.get("kind", ""))))
            except ValueError as exc:
                log(f"refused fault request: {exc}")
                self._send(400, {"error": str(exc)})

    return Handler


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", help="video file, looped (default: a generated moving scene)")
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--port", type=int, default=8554, help="RTSP port (0: any free port)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--control-port", type=int, default=0, help="HTTP control port (0: any free port)")
    p.add_argument("--codec", choices=("h264", "h265"), default="h264")
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--fps", type=float)
    p.add_argument("--gop", type=int, help="frames between key frames (default: one second)")
    p.add_argument("--bitrate", type=int, help="main-stream bitrate in kbit/s (sub: a quarter)")
    p.add_argument("--passthrough", action="store_true",
                   help="serve an H.264/H.265 source as it is (no re-encoding, no sub-stream; faults: offline only)")
    p.add_argument("--protocols", choices=("any", "tcp", "udp"), default="any",
                   help="RTP transports offered to clients (default: UDP and TCP)")
    p.add_argument("--user", help="require RTSP basic authentication with this user")
    p.add_argument("--password")
    p.add_argument("--watch-stdin", action="store_true", help="exit when stdin closes")
    a = p.parse_args(argv)
    if a.channels < 1:
        p.error("--channels must be at least 1")
    if a.source and not os.path.isfile(a.source):
        p.error(f"source video not found: {a.source}")
    if a.passthrough and not a.source:
        p.error("--passthrough needs --source (an H.264 or H.265 file without B-frames)")
    return a


def main(argv=None) -> int:
    args = parse_args(argv)
    sim = CamSimServer(args)
    try:
        sim.start()
    except (SourceError, OSError) as exc:
        log(str(exc))
        return 2
    sim.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
