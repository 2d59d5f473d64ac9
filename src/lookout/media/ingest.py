"""Stream ingest: open a camera stream, decode it at the analysis rate, keep a per-channel state.

Pure parts (no I/O, time passed in): :class:`Backoff` (reconnect delays with jitter),
:class:`StateMachine` (connecting → streaming → stalled/offline, with a reason),
:class:`RateGate` (keep frames at the analysis rate) and :func:`classify_error`.

Adapters: :class:`StreamReader` opens a URL with PyAV (RTSP over TCP, UDP as fallback;
H.264 and H.265), decodes every frame or key frames only (``skip_frame = NONKEY``, for
patrols), yields :class:`Frame` objects at the analysis rate and reconnects with backoff;
:class:`ChannelIngest` runs a reader in a thread and keeps the latest frame.

A dead URL, a wrong password or a corrupt stream never raises out of the reader: it shows
as a state with a reason (and a log line), and the reader retries.
"""

from __future__ import annotations

import errno
import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

import av
import av.error
import numpy as np

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- pure logic
class State(str, Enum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    STALLED = "stalled"
    OFFLINE = "offline"


@dataclass(frozen=True)
class Status:
    state: State
    reason: str
    since: float  # clock time of the last state change
    failures: int = 0  # consecutive failed opens or reads
    frames: int = 0  # frames decoded since the reader started

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state.value, "reason": self.reason, "failures": self.failures, "frames": self.frames}


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: exponential, capped, with ± ``jitter`` spread so cameras do not retry in step."""

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 30.0
    jitter: float = 0.25

    def delay(self, attempt: int, rand: float) -> float:
        """Seconds to wait before retry ``attempt`` (1-based); ``rand`` is uniform in [0, 1)."""
        base = min(self.maximum, self.initial * self.factor ** max(0, attempt - 1))
        return max(0.0, base * (1.0 - self.jitter + 2.0 * self.jitter * rand))


@dataclass(frozen=True)
class Failure:
    """A classified failure: ``definitive`` ones (wrong password, no such stream) go offline at once."""

    reason: str
    definitive: bool = False


_CREDENTIALS = re.compile(r"(\w+://)([^/@:\s]+):([^/@\s]*)@")


def redact(text: str) -> str:
    """Hide passwords in URLs (``rtsp://user:secret@host`` → ``rtsp://user:***@host``)."""
    return _CREDENTIALS.sub(r"\1\2:***@", text)


def classify_error(exc: BaseException) -> Failure:
    """Name what went wrong when opening or reading a stream."""
    msg = redact(str(exc))
    if isinstance(exc, av.error.HTTPUnauthorizedError):
        return Failure("unauthorized (401): wrong user name or password", definitive=True)
    if isinstance(exc, av.error.HTTPForbiddenError):
        return Failure("forbidden (403): the account may not view this stream", definitive=True)
    if isinstance(exc, av.error.HTTPNotFoundError):
        return Failure("stream not found (404): wrong path or camera offline", definitive=True)
    if isinstance(exc, av.error.HTTPError):
        return Failure(f"server error: {msg}")
    if isinstance(exc, ConnectionRefusedError):
        return Failure("connection refused: nothing listens at that address")
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return Failure("connection dropped by the camera")
    if isinstance(exc, (TimeoutError, av.error.ExitError)):
        detail = f" ({exc})" if isinstance(exc, StreamTimeout) else ""
        return Failure(f"timed out: no answer from the camera{detail}")
    if isinstance(exc, av.error.EOFError) or isinstance(exc, EOFError):
        return Failure("stream ended")
    if isinstance(exc, av.error.InvalidDataError):
        return Failure(f"corrupt or unsupported stream (invalid data): {msg}")
    if isinstance(exc, (av.error.DecoderNotFoundError, av.error.DemuxerNotFoundError)):
        return Failure(f"unsupported format: {msg}", definitive=True)
    if isinstance(exc, NoVideoStream):
        return Failure(str(exc), definitive=True)
    if getattr(exc, "errno", None) == errno.EPROTONOSUPPORT:
        return Failure("transport refused by the camera (RTSP 461): try the other of TCP/UDP")
    if isinstance(exc, OSError):
        return Failure(f"network error: {msg}")
    return Failure(f"{type(exc).__name__}: {msg}")


class StateMachine:
    """Per-channel stream state. Every method takes ``now`` and returns the new status
    when the state or reason changed, else None."""

    def __init__(self, now: float, stall_after: float = 5.0, offline_after_failures: int = 2) -> None:
        self.stall_after = stall_after
        self.offline_after_failures = offline_after_failures
        self.status = Status(State.CONNECTING, "opening stream", now)
        self.last_frame: float | None = None

    def _set(self, now: float, state: State, reason: str, failures: int | None = None) -> Status | None:
        s = self.status
        failures = s.failures if failures is None else failures
        if state == s.state and reason == s.reason:
            self.status = replace(s, failures=failures)
            return None
        self.status = Status(state, reason, now if state != s.state else s.since, failures, s.frames)
        return self.status

    def frame(self, now: float) -> Status | None:
        self.last_frame = now
        self.status = replace(self.status, frames=self.status.frames + 1)
        return self._set(now, State.STREAMING, "receiving frames", failures=0)

    def opened(self, now: float) -> Status | None:
        """Connected; the state changes with the first decoded frame."""
        self.last_frame = now  # the stall clock starts now
        return None

    def failed(self, now: float, failure: Failure) -> Status | None:
        """An open or a read failed."""
        failures = self.status.failures + 1
        state = self.status.state
        if state == State.STREAMING:
            return self._set(now, State.STALLED, failure.reason, failures)
        if failure.definitive or failures >= self.offline_after_failures or state == State.OFFLINE:
            return self._set(now, State.OFFLINE, failure.reason, failures)
        return self._set(now, state, failure.reason, failures)

    def tick(self, now: float) -> Status | None:
        """Called while reading: a stream that delivers no frame for ``stall_after`` s has stalled."""
        if self.status.state == State.STREAMING and self.last_frame is not None:
            quiet = now - self.last_frame
            if quiet > self.stall_after:
                return self._set(now, State.STALLED, f"no frame for {quiet:.0f} s")
        return None


class RateGate:
    """Keeps frames at ``fps`` by their timestamps (None: keep all).

    Frames are taken on a grid of ``1/fps``; a frame up to half a source-frame interval
    early counts as on time, so timestamp jitter does not skip a slot.
    """

    def __init__(self, fps: float | None) -> None:
        self.period = 1.0 / fps if fps and fps > 0 else 0.0
        self.next_t: float | None = None
        self.last_seen: float | None = None
        self.source_dt: float | None = None  # smoothed interval between source frames

    def take(self, t: float) -> bool:
        if self.period == 0.0:
            return True
        if self.last_seen is not None and 0 < t - self.last_seen < 2.0:
            dt = t - self.last_seen
            self.source_dt = dt if self.source_dt is None else 0.8 * self.source_dt + 0.2 * dt
        self.last_seen = t
        nt = self.next_t
        tol = 0.5 * self.source_dt if self.source_dt else 1e-6
        if nt is not None and nt - self.period <= t < nt - tol:
            return False  # not due yet
        if nt is None or t - nt > self.period or t < nt - self.period:
            self.next_t = t + self.period  # first frame, far behind, or time restarted: re-anchor
        else:
            self.next_t = nt + self.period
        return True


# --------------------------------------------------------------------------- adapter
def publish_status(channel_id: int, stream: str = "main") -> Callable[[Status], None]:
    """An ``on_status`` listener that publishes each change on the event bus.

    Topic ``channel.<id>.stream``; payload: state, reason, failures, frames, stream ("main"/"sub").
    """
    from lookout.runtime.bus import bus

    def publish(status: Status) -> None:
        bus.publish(f"channel.{channel_id}.stream", {"channel_id": channel_id, "stream": stream, **status.as_dict()})

    return publish


class NoVideoStream(RuntimeError):
    """The source opened but carries no video."""


class StreamTimeout(TimeoutError):
    """The peer accepted the connection but did not answer in time."""


@dataclass
class Frame:
    image: np.ndarray  # H x W x 3, BGR (OpenCV order)
    time: float  # stream time in seconds (presentation time), or the clock when unknown
    key: bool
    received: float  # clock time when decoded
    index: int  # decoded frame number since the reader started


@dataclass
class ReaderOptions:
    analysis_fps: float | None = 5.0  # None: every decoded frame
    keyframes_only: bool = False
    transport: str = "auto"  # "tcp", "udp" or "auto" (TCP, then UDP)
    open_timeout: float = 5.0
    read_timeout: float = 5.0
    stall_after: float = 5.0
    offline_after_failures: int = 2
    backoff: Backoff = field(default_factory=Backoff)
    threads: int = 1  # decoder threads per channel
    pixel_format: str = "bgr24"  # "gray" for cheap diagnostics
    realtime: bool = True  # a live source; False for files (no low-delay flags)


def _open_options(url: str, transport: str | None, opts: ReaderOptions) -> dict[str, str]:
    o = {"analyzeduration": "1000000", "probesize": "1000000"}
    if transport is not None:
        o["rtsp_transport"] = transport
        o["timeout"] = str(int(opts.read_timeout * 1_000_000))  # socket I/O timeout, µs
    if opts.realtime:
        o["fflags"] = "nobuffer"
    return o


_worked_with: dict[str, str] = {}  # URL -> the RTP transport that last worked in "auto" mode


def open_stream(url: str, opts: ReaderOptions | None = None) -> tuple[av.container.InputContainer, str | None]:
    """Open ``url`` with the configured transport; returns the container and the transport used.

    Raises the last PyAV error when every transport fails (see :func:`classify_error`).
    """
    opts = opts or ReaderOptions()
    if opts.transport not in ("auto", "tcp", "udp"):
        raise ValueError(f"transport must be auto, tcp or udp, not {opts.transport!r}")
    transports: list[str | None] = ["tcp", "udp"] if opts.transport == "auto" else [opts.transport]
    if opts.transport == "auto" and _worked_with.get(url) == "udp":
        transports = ["udp", "tcp"]  # this camera refused TCP before: do not ask again first
    if not url.startswith(("rtsp://", "rtsps://")):
        transports = [None]  # a file or another protocol
    last: BaseException | None = None
    for transport in transports:
        started = time.monotonic()
        try:
            container = av.open(
                url,
                options=_open_options(url, transport, opts),
                timeout=(opts.open_timeout, opts.read_timeout),
            )
        except Exception as exc:  # PyAV raises many kinds; each is classified by the caller
            waited = time.monotonic() - started
            limit = min(opts.open_timeout, opts.read_timeout)
            if isinstance(exc, (av.error.InvalidDataError, av.error.ExitError)) and waited >= 0.9 * limit:
                # FFmpeg reports an RTSP peer that never answers as "invalid data" after the timeout
                exc = StreamTimeout(f"no answer within {limit:g} s")
            last = exc
            if classify_error(exc).definitive or isinstance(exc, ConnectionRefusedError):
                break  # the RTSP control connection itself failed: UDP would not help
            continue
        if not container.streams.video:
            container.close()
            raise NoVideoStream(f"no video stream in {redact(url)}")
        if transport is not None and opts.transport == "auto":
            _worked_with[url] = transport
        return container, transport
    assert last is not None
    raise last


def open_with_retry(url: str, opts: ReaderOptions, attempts: int = 2, pause: float = 0.5):
    """:func:`open_stream`, tried again after ``pause`` when the failure may be passing
    (a server error, a reset); a wrong password or a missing stream fail at once."""
    for attempt in range(1, attempts + 1):
        try:
            return open_stream(url, opts)
        except Exception as exc:
            if attempt == attempts or classify_error(exc).definitive or isinstance(exc, ConnectionRefusedError):
                raise
            time.sleep(pause)
    raise AssertionError("unreachable")


class StreamReader:
    """Reads one channel: ``for frame in reader.frames(): …`` until :meth:`stop`.

    Frames come at the analysis rate; in key-frame-only mode the decoder skips every
    non-key frame. Failures never escape: they update :attr:`status` (and call
    ``on_status``), and the reader reconnects after a backoff delay. ``max_attempts``
    bounds the consecutive failed attempts (None: retry for ever).
    """

    def __init__(
        self,
        url: str,
        options: ReaderOptions | None = None,
        *,
        on_status: Callable[[Status], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        max_attempts: int | None = None,
    ) -> None:
        self.url = url
        self.options = options or ReaderOptions()
        self.on_status = on_status
        self.clock = clock
        self.rng = rng or random.Random()
        self.max_attempts = max_attempts
        self.machine = StateMachine(clock(), self.options.stall_after, self.options.offline_after_failures)
        self.transport: str | None = None
        self.stream_info: dict[str, Any] = {}
        self._stop = threading.Event()
        self._index = 0
        self.decode_errors = 0
        self._packets: deque = deque(maxlen=600)  # recent (time, size, key) for facts()
        self._declared_fps: float | None = None

    @property
    def status(self) -> Status:
        return self.machine.status

    def facts(self):
        """Stream facts (codec, size, fps, bitrate, GOP) measured on the recent packets of the
        current connection, as :class:`lookout.media.probe.StreamFacts`; None before any packet."""
        from lookout.media.probe import PacketInfo, facts_from_packets

        packets = [PacketInfo(t, n, k) for t, n, k in list(self._packets)]
        if not packets or not self.stream_info:
            return None
        return facts_from_packets(
            packets,
            codec=self.stream_info["codec"],
            width=self.stream_info["width"],
            height=self.stream_info["height"],
            declared_fps=self._declared_fps,
            transport=self.transport,
        )

    @property
    def decoded(self) -> int:
        """Frames the decoder produced since the reader started (also those not handed on)."""
        return self._index

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def _report(self, changed: Status | None) -> None:
        if changed is None:
            return
        level = logging.INFO if changed.state in (State.STREAMING, State.CONNECTING) else logging.WARNING
        log.log(level, "%s: %s (%s)", redact(self.url), changed.state.value, changed.reason)
        if self.on_status:
            try:
                self.on_status(changed)
            except Exception:  # a listener's bug must not stop the reader
                log.exception("status listener failed")

    def frames(self) -> Iterator[Frame]:
        attempt = 0
        while not self.stopped:
            try:
                container, self.transport = open_stream(self.url, self.options)
            except Exception as exc:
                failure = classify_error(exc)
                self._report(self.machine.failed(self.clock(), failure))
            else:
                self._report(self.machine.opened(self.clock()))
                try:
                    yield from self._decode(container)
                except Exception as exc:
                    self._report(self.machine.failed(self.clock(), classify_error(exc)))
                else:
                    if not self.stopped:
                        self._report(self.machine.failed(self.clock(), Failure("stream ended")))
                finally:
                    try:
                        container.close()
                    except Exception:
                        pass
            if self.stopped:
                break
            attempt = self.status.failures
            if self.max_attempts is not None and attempt >= self.max_attempts:
                break
            self._stop.wait(self.options.backoff.delay(max(1, attempt), self.rng.random()))

    def _decode(self, container: av.container.InputContainer) -> Iterator[Frame]:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        ctx.thread_count = self.options.threads
        if self.options.keyframes_only:
            ctx.skip_frame = "NONKEY"
        self.stream_info = {
            "codec": ctx.name,
            "width": ctx.width,
            "height": ctx.height,
            "transport": self.transport,
        }
        rate = stream.average_rate or stream.guessed_rate
        self._declared_fps = float(rate) if rate else None
        self._packets.clear()
        gate = RateGate(self.options.analysis_fps)
        bad_run = 0
        last_t: float | None = None
        for packet in container.demux(stream):
            if self.stopped:
                return
            now = self.clock()
            self._report(self.machine.tick(now))
            if packet.pts is not None and packet.size > 0:
                self._packets.append((float(packet.pts * packet.time_base), packet.size, bool(packet.is_keyframe)))
            if packet.size == 0 and packet.pts is None and packet.dts is None:
                pass  # the end of the stream: flush the decoder's last frames
            elif self.options.keyframes_only and not packet.is_keyframe:
                continue  # not even handed to the decoder
            try:
                decoded = packet.decode()
                bad_run = 0
            except av.error.InvalidDataError as exc:
                self.decode_errors += 1
                bad_run += 1
                if bad_run >= 50:
                    raise av.error.InvalidDataError(0, f"{bad_run} undecodable packets in a row") from exc
                continue
            for frame in decoded:
                self._index += 1
                now = self.clock()
                self._report(self.machine.frame(now))
                t = frame.time if frame.time is not None else (last_t + 1e-3 if last_t is not None else 0.0)
                last_t = t
                if not gate.take(t):
                    continue
                image = frame.to_ndarray(format=self.options.pixel_format)
                yield Frame(image, t, bool(frame.key_frame), now, self._index)


class ChannelIngest:
    """A :class:`StreamReader` in a daemon thread; keeps the latest frame and the status.

    ``on_frame`` is called in the reader thread for every frame at the analysis rate.
    """

    def __init__(
        self,
        url: str,
        options: ReaderOptions | None = None,
        *,
        on_frame: Callable[[Frame], None] | None = None,
        on_status: Callable[[Status], None] | None = None,
        name: str = "ingest",
    ) -> None:
        self.reader = StreamReader(url, options, on_status=on_status)
        self.on_frame = on_frame
        self._latest: Frame | None = None
        self._lock = threading.Lock()
        self._new = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> ChannelIngest:
        self._thread.start()
        return self

    def _run(self) -> None:
        for frame in self.reader.frames():
            with self._new:
                self._latest = frame
                self._new.notify_all()
            if self.on_frame:
                try:
                    self.on_frame(frame)
                except Exception:
                    log.exception("frame handler failed for %s", redact(self.reader.url))

    @property
    def status(self) -> Status:
        return self.reader.status

    def latest(self) -> Frame | None:
        with self._lock:
            return self._latest

    def wait_frame(self, after: int = 0, timeout: float = 10.0) -> Frame | None:
        """The first frame with index > ``after``, or None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._new:
            while self._latest is None or self._latest.index <= after:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._new.wait(left)
            return self._latest

    def stop(self, timeout: float = 10.0) -> None:
        self.reader.stop()
        self._thread.join(timeout)

    def __enter__(self) -> ChannelIngest:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
