"""Live view: fragmented MP4 over WebSocket into the browser's MediaSource.

One ffmpeg per watched stream (``-c copy``, short fragments) is shared by all its viewers
and stopped when the last viewer leaves. The hub keeps the init segment (ftyp+moov) and
the fragments since the last key frame, so a new viewer starts at once from a key frame.

Wire protocol of one viewer: a text frame ``{"type": "init", "mime": "video/mp4;
codecs=\\"avc1.42c01e\\""}``, a binary frame with the init segment, then binary frames
each holding one moof+mdat fragment. When the stream ends: ``{"type": "ended", "reason": …}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import weakref
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from lookout.media.recorder import FFMPEG, is_network_url

log = logging.getLogger(__name__)
DEFAULT_FRAG_MS = 200  # fragment length: the player waits for a whole fragment
DEFAULT_IDLE_STOP_S = 3.0  # a stream's ffmpeg stops this long after its last viewer left


# ---------------------------------------------------------------- MP4 box parsing (pure)


def iter_boxes(data: bytes, start: int = 0, end: int | None = None):
    """(type, payload_start, box_end) of each complete box in data[start:end]."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                return
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind.decode("latin-1"), pos + header, pos + size
        pos += size


def find_box(data: bytes, path: list[str], start: int = 0, end: int | None = None) -> tuple[int, int] | None:
    """Payload range of the first box along ``path`` (e.g. ["moof", "traf", "trun"])."""
    for kind, p0, p1 in iter_boxes(data, start, end):
        if kind == path[0]:
            if len(path) == 1:
                return p0, p1
            return find_box(data, path[1:], p0, p1)
    return None


def _codec_from_sample_entry(data: bytes, kind: str) -> str | None:
    """RFC 6381 codec string from the avcC inside an avc1/avc3 sample entry."""
    idx = data.find(b"avcC")
    if idx < 0 or idx + 8 > len(data):
        return None
    profile, compat, level = data[idx + 5], data[idx + 6], data[idx + 7]
    return f"{kind}.{profile:02x}{compat:02x}{level:02x}"


def codec_string(init: bytes) -> str | None:
    """The codecs parameter for MSE from an init segment (H.264 only; None otherwise)."""
    for kind in ("avc1", "avc3"):
        if kind.encode() in init:
            return _codec_from_sample_entry(init, kind)
    return None


def fragment_is_key(frag: bytes) -> bool:
    """Whether a moof+mdat fragment starts with a sync sample (ISO/IEC 14496-12 sample flags)."""
    traf = find_box(frag, ["moof", "traf"])
    if traf is None:
        return False
    default_flags = None
    first_flags = None
    for kind, p0, p1 in iter_boxes(frag, *traf):
        if kind == "tfhd":
            flags = int.from_bytes(frag[p0 + 1:p0 + 4], "big")
            off = p0 + 8  # version/flags + track_ID
            if flags & 0x01:
                off += 8
            if flags & 0x02:
                off += 4
            if flags & 0x08:
                off += 4
            if flags & 0x10:
                off += 4
            if flags & 0x20:
                default_flags = struct.unpack_from(">I", frag, off)[0]
        elif kind == "trun":
            flags = int.from_bytes(frag[p0 + 1:p0 + 4], "big")
            off = p0 + 8  # version/flags + sample_count
            if flags & 0x01:
                off += 4
            if flags & 0x04:
                first_flags = struct.unpack_from(">I", frag, off)[0]
            elif flags & 0x400:  # per-sample flags: the first sample's
                off2 = off + (4 if flags & 0x100 else 0) + (4 if flags & 0x200 else 0)
                first_flags = struct.unpack_from(">I", frag, off2)[0]
            break
    sample_flags = first_flags if first_flags is not None else default_flags
    if sample_flags is None:
        return False
    return not (sample_flags & 0x00010000)  # sample_is_non_sync_sample


class Mp4Splitter:
    """Cuts a fragmented MP4 byte stream into its init segment and moof+mdat fragments."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.init: bytes | None = None
        self._init_parts: list[bytes] = []
        self._moof: bytes | None = None

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        """Returns [("init", bytes) | ("fragment", bytes)] completed by this chunk."""
        self.buf += chunk
        out: list[tuple[str, bytes]] = []
        while True:
            if len(self.buf) < 8:
                break
            size, kind = struct.unpack_from(">I4s", self.buf, 0)
            if size == 1:
                if len(self.buf) < 16:
                    break
                size = struct.unpack_from(">Q", self.buf, 8)[0]
            if size < 8:
                raise ValueError(f"corrupt MP4 stream: box {kind!r} of size {size}")
            if len(self.buf) < size:
                break
            box = bytes(self.buf[:size])
            del self.buf[:size]
            k = kind.decode("latin-1")
            if self.init is None:
                if k in ("ftyp", "moov"):
                    self._init_parts.append(box)
                    if k == "moov":
                        self.init = b"".join(self._init_parts)
                        out.append(("init", self.init))
                continue
            if k == "moof":
                self._moof = box
            elif k == "mdat" and self._moof is not None:
                out.append(("fragment", self._moof + box))
                self._moof = None
        return out


# ---------------------------------------------------------------- the hub


TRANSCODE = ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
             "-vf", "scale=-2:'min(720,ih)'", "-g", "25", "-threads", "1"]


def live_command(source: str, frag_ms: int = 200, ffmpeg: str = FFMPEG, transcode: bool = False) -> list[str]:
    """ffmpeg → fragmented MP4 on stdout; copied, or (``transcode``: H.265 cameras) re-encoded
    to H.264 at most 720 lines high, since browsers' MediaSource plays H.264 only."""
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error"]
    if source.startswith(("rtsp://", "rtsps://")):
        cmd += ["-rtsp_transport", "tcp", "-timeout", "10000000"]
    elif not is_network_url(source):
        cmd += ["-re", "-stream_loop", "-1"]  # a file plays as a looping live camera
    cmd += ["-fflags", "+genpts+nobuffer", "-flags", "low_delay", "-analyzeduration", "1000000",
            "-probesize", "1000000", "-i", source, "-map", "0:v:0", *(TRANSCODE if transcode else ["-c", "copy"]),
            "-f", "mp4",
            "-movflags", "+frag_keyframe+empty_moov+default_base_moof",
            "-frag_duration", str(frag_ms * 1000), "-flush_packets", "1", "pipe:1"]
    return cmd


@dataclass(eq=False)
class _Viewer:
    queue: asyncio.Queue
    waiting_key: bool = False


@dataclass
class LiveStream:
    key: str
    source: str
    init: bytes | None = None
    mime: str | None = None
    gop: deque = field(default_factory=lambda: deque(maxlen=600))
    viewers: set = field(default_factory=set)
    proc: asyncio.subprocess.Process | None = None
    task: asyncio.Task | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    ended: str | None = None
    stderr_tail: deque = field(default_factory=lambda: deque(maxlen=10))
    stop_handle: asyncio.TimerHandle | None = None
    fragments: int = 0
    transcoded: bool = False


class LiveHub:
    """Shares one ffmpeg per stream key among viewers; lives on one event loop."""

    def __init__(self, idle_stop_s: float = 3.0, frag_ms: int = 200, viewer_queue: int = 120) -> None:
        self.streams: dict[str, LiveStream] = {}
        self.idle_stop_s, self.frag_ms, self.viewer_queue = idle_stop_s, frag_ms, viewer_queue
        self.needs_transcode: set[str] = set()  # stream keys found not to be H.264: re-encoded from the start

    def running(self) -> dict[str, int]:
        """Stream key → viewers, for the streams with an ffmpeg running."""
        return {k: len(s.viewers) for k, s in self.streams.items() if s.proc and s.proc.returncode is None}

    async def _spawn(self, st: LiveStream, transcode: bool) -> bool:
        cmd = live_command(st.source, self.frag_ms, transcode=transcode)
        log.info("live %s: %s", st.key, " ".join(cmd))
        try:
            st.proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.DEVNULL,
                                                           stdout=asyncio.subprocess.PIPE,
                                                           stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            st.ended = f"cannot start ffmpeg: {exc}"
            return False
        asyncio.create_task(self._drain_stderr(st))
        return True

    async def _start(self, key: str, source: str) -> LiveStream:
        st = LiveStream(key, source, transcoded=key in self.needs_transcode)
        self.streams[key] = st
        if not await self._spawn(st, transcode=st.transcoded):
            st.ready.set()
            self.streams.pop(key, None)
            return st
        st.task = asyncio.create_task(self._pump(st))
        return st

    async def _drain_stderr(self, st: LiveStream) -> None:
        assert st.proc and st.proc.stderr
        async for line in st.proc.stderr:
            st.stderr_tail.append(line.decode(errors="replace").strip())

    async def _pump(self, st: LiveStream) -> None:
        assert st.proc and st.proc.stdout
        splitter = Mp4Splitter()
        try:
            while True:
                chunk = await st.proc.stdout.read(65536)
                if not chunk:
                    break
                for kind, data in splitter.feed(chunk):
                    if kind == "init":
                        codec = codec_string(data)
                        if codec is None and not st.transcoded:
                            # not H.264 (an H.265 camera): re-encode for the browser, once per stream
                            log.info("live %s: not H.264, transcoding for the browser", st.key)
                            st.proc.kill()
                            await st.proc.wait()
                            st.transcoded = True
                            self.needs_transcode.add(st.key)
                            if not await self._spawn(st, transcode=True):
                                raise ValueError(st.ended)
                            splitter = Mp4Splitter()
                            break
                        if codec is None:
                            raise ValueError("stream gives no H.264 picture for the browser")
                        st.init = data
                        st.mime = f'video/mp4; codecs="{codec}"'
                        st.ready.set()
                    else:
                        self._broadcast(st, data)
        except ValueError as exc:
            st.ended = str(exc)
        except asyncio.CancelledError:
            st.ended = st.ended or "stopped"
        finally:
            if st.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    st.proc.kill()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(st.proc.wait(), 5)
            if st.ended is None:
                tail = [ln for ln in st.stderr_tail if ln]
                st.ended = tail[-1] if tail else f"stream ended (ffmpeg exit {st.proc.returncode})"
            st.ready.set()
            for v in list(st.viewers):
                self._offer(v, ("ended", st.ended))
            if self.streams.get(st.key) is st:
                del self.streams[st.key]
            log.info("live %s ended: %s", st.key, st.ended)

    def _offer(self, v: _Viewer, item) -> None:
        try:
            v.queue.put_nowait(item)
        except asyncio.QueueFull:  # a slow viewer skips ahead to the next key frame
            while not v.queue.empty():
                v.queue.get_nowait()
            v.waiting_key = True
            if item[0] == "ended":
                v.queue.put_nowait(item)

    def _broadcast(self, st: LiveStream, frag: bytes) -> None:
        st.fragments += 1
        key = fragment_is_key(frag)
        if key:
            st.gop.clear()
        st.gop.append(frag)
        for v in st.viewers:
            if v.waiting_key:
                if not key:
                    continue
                v.waiting_key = False
            self._offer(v, ("fragment", frag))

    @contextlib.asynccontextmanager
    async def watch(self, key: str, source: str, timeout_s: float = 20.0) -> AsyncIterator[tuple[LiveStream, _Viewer]]:
        """Join (starting if needed) the stream ``key``; yields (stream, viewer with a queue).

        The queue holds ("fragment", bytes) and finally ("ended", reason). The stream's
        ``init`` and ``mime`` are set on entry, or ``ended`` says why not.
        """
        st = self.streams.get(key)
        if st is None or st.ended:
            st = await self._start(key, source)
        if st.stop_handle:
            st.stop_handle.cancel()
            st.stop_handle = None
        viewer = _Viewer(asyncio.Queue(maxsize=self.viewer_queue))
        st.viewers.add(viewer)
        try:
            transcoding_from_start = st.transcoded
            try:
                await asyncio.wait_for(st.ready.wait(), timeout_s)
            except asyncio.TimeoutError:
                if st.transcoded and not transcoding_from_start and not st.ended:
                    # it turned out not to be H.264 while we waited: the re-encoder starts afresh
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(st.ready.wait(), timeout_s)
            if not st.ready.is_set():
                st.ended = st.ended or f"no video from the stream within {timeout_s:.0f} s"
            if not st.ended:
                for frag in list(st.gop):
                    viewer.queue.put_nowait(("fragment", frag))
            yield st, viewer
        finally:
            st.viewers.discard(viewer)
            if not st.viewers:
                if self.idle_stop_s <= 0:
                    await self._stop(st)
                else:
                    loop = asyncio.get_running_loop()
                    st.stop_handle = loop.call_later(self.idle_stop_s,
                                                     lambda: asyncio.ensure_future(self._stop_if_idle(st)))

    async def _stop_if_idle(self, st: LiveStream) -> None:
        if not st.viewers:
            await self._stop(st)

    async def _stop(self, st: LiveStream) -> None:
        if st.task and not st.task.done():
            st.ended = st.ended or "no viewers"
            if st.proc and st.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    st.proc.terminate()
            try:
                await asyncio.wait_for(asyncio.shield(st.task), 5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                st.task.cancel()
        if self.streams.get(st.key) is st:
            del self.streams[st.key]

    async def close(self) -> None:
        for st in list(self.streams.values()):
            await self._stop(st)

    async def snapshot_jpeg(self, key: str, source: str | None = None, linger_s: float = 10.0,
                            timeout_s: float = 15.0) -> bytes | None:
        """A JPEG of the newest key frame of the stream ``key``.

        With ``source`` the stream is started when needed and kept running ``linger_s`` after
        the last request, so a wall of 1-fps snapshots costs one copying ffmpeg per channel
        (plus decoding one key frame per request), not one camera connection per picture.
        None when the stream gives no H.264 picture (the caller falls back to a direct grab).
        """
        st = self.streams.get(key)
        if (st is None or st.ended) and source is not None:
            st = await self._start(key, source)
        if st is None:
            return None
        if not st.viewers:  # keep it alive a little for the next request
            if st.stop_handle:
                st.stop_handle.cancel()
            st.stop_handle = asyncio.get_running_loop().call_later(
                linger_s, lambda: asyncio.ensure_future(self._stop_if_idle(st)))
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not st.ended and (st.init is None or not st.gop):
            if asyncio.get_running_loop().time() > deadline:
                return None
            await asyncio.sleep(0.05)
        if st.init is None or not st.gop:
            return None
        return await jpeg_from_bytes(st.init + st.gop[0], timeout_s)


async def jpeg_from_bytes(mp4: bytes, timeout_s: float = 10.0) -> bytes | None:
    proc = await asyncio.create_subprocess_exec(
        FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "mp4", "-i", "pipe:0",
        "-frames:v", "1", "-q:v", "4", "-f", "image2", "-c:v", "mjpeg", "pipe:1",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(mp4), timeout_s)
    except asyncio.TimeoutError:
        proc.kill()
        return None
    return out if proc.returncode == 0 and out.startswith(b"\xff\xd8") else None


async def snapshot_from_url(source: str, timeout_s: float = 15.0) -> bytes:
    """Grab one frame of a stream as JPEG (a new connection to the camera)."""
    cmd = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error"]
    if source.startswith(("rtsp://", "rtsps://")):
        cmd += ["-rtsp_transport", "tcp", "-timeout", "10000000"]
    cmd += ["-analyzeduration", "1000000", "-probesize", "1000000", "-i", source, "-frames:v", "1",
            "-q:v", "4", "-f", "image2", "-c:v", "mjpeg", "pipe:1"]
    proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"no frame from {source} within {timeout_s:.0f} s") from None
    if proc.returncode != 0 or not out.startswith(b"\xff\xd8"):
        lines = err.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"snapshot of {source} failed: {lines[-1] if lines else 'no frame'}")
    return out


async def serve_viewer(hub: LiveHub, key: str, source: str, send_text, send_bytes) -> str:
    """Pump one viewer (a WebSocket's send functions) until the stream ends; returns the reason."""
    async with hub.watch(key, source) as (st, viewer):
        if st.ended or st.init is None:
            await send_text(json.dumps({"type": "ended", "reason": st.ended or "no video"}))
            return st.ended or "no video"
        await send_text(json.dumps({"type": "init", "mime": st.mime}))
        await send_bytes(st.init)
        while True:
            kind, data = await viewer.queue.get()
            if kind == "ended":
                await send_text(json.dumps({"type": "ended", "reason": data}))
                return data
            await send_bytes(data)


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LiveHub]" = weakref.WeakKeyDictionary()


def get_hub() -> LiveHub:
    """The hub of the running event loop (one per server)."""
    loop = asyncio.get_running_loop()
    h = _hubs.get(loop)
    if h is None:
        h = _hubs[loop] = LiveHub(idle_stop_s=DEFAULT_IDLE_STOP_S, frag_ms=DEFAULT_FRAG_MS)
    return h
