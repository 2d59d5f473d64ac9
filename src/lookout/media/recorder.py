"""Continuous copy-recording with the ffmpeg program into time-named MP4 segments.

One ffmpeg per channel (``-c copy``, no re-encoding) writes fragmented MP4 segments named
by their UTC start time (``20261122T101500Z_ab12.mp4``) and appends each *closed* segment to
a CSV segment list; the recorder tails that list and hands each closed segment on. Only
closed segments are indexed, so a ``kill -9`` loses at most the open segment: on the next
start :func:`reconcile` drops index rows whose files are gone, indexes closed files that the
index misses (times from leftover segment lists, else the file name and ffprobe) and
repairs or discards a truncated last file (``flush_packets`` keeps it readable up to its
last complete fragment, so it is usually repaired by a copy-remux).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

log = logging.getLogger(__name__)

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
FFPROBE = shutil.which("ffprobe") or "ffprobe"
NAME_RE = re.compile(r"^(\d{8}T\d{6}Z)(?:_([0-9a-f]+))?\.mp4$")
LIST_PREFIX = ".seglist-"
FRAG_FLAGS = "+frag_keyframe+empty_moov+default_base_moof"
MIN_SEGMENT_SECONDS = 2


class RecordError(RuntimeError):
    """A stream could not be recorded (dead URL, refused, no video...)."""


@dataclass(frozen=True)
class ClosedSegment:
    path: Path
    start: datetime
    end: datetime
    bytes: int
    codec: str | None = None

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()

    def as_json(self) -> dict:
        return {
            "path": str(self.path),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "bytes": self.bytes,
        }


# ---------------------------------------------------------------- pure helpers


def is_network_url(source: str) -> bool:
    return "://" in source and not source.startswith("file://")


def segment_name_time(name: str) -> datetime | None:
    """The UTC start time a segment's file name carries, or None for a foreign file."""
    m = NAME_RE.match(name)
    if not m:
        return None
    return datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


def record_command(
    source: str,
    out_dir: Path,
    list_file: Path,
    *,
    segment_seconds: float = 60,
    seconds: float | None = None,
    run_id: str = "0000",
    ffmpeg: str = FFMPEG,
    realtime_file: bool = True,
    io_timeout_s: float = 10.0,
) -> list[str]:
    """The ffmpeg argv that copy-records ``source`` into time-named fMP4 segments."""
    if segment_seconds < MIN_SEGMENT_SECONDS:
        raise ValueError(f"segment_seconds must be >= {MIN_SEGMENT_SECONDS}, got {segment_seconds}")
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning"]
    if source.startswith("rtsp://") or source.startswith("rtsps://"):
        cmd += ["-rtsp_transport", "tcp", "-timeout", str(int(io_timeout_s * 1_000_000))]
    elif is_network_url(source):
        cmd += ["-rw_timeout", str(int(io_timeout_s * 1_000_000))]
    elif realtime_file:
        cmd += ["-re"]  # a file plays as a live camera would
    cmd += ["-fflags", "+genpts", "-i", source, "-map", "0:v:0", "-c", "copy"]
    if seconds is not None:
        cmd += ["-t", f"{seconds:.3f}"]
    cmd += [
        "-f", "segment",
        "-segment_time", f"{segment_seconds:g}",
        "-segment_format", "mp4",
        "-segment_format_options", f"movflags={FRAG_FLAGS}:flush_packets=1",
        "-reset_timestamps", "1",
        "-strftime", "1",
        "-segment_list", str(list_file),
        "-segment_list_type", "csv",
        str(out_dir / f"%Y%m%dT%H%M%SZ_{run_id}.mp4"),
    ]
    return cmd


@dataclass
class SegmentTimer:
    """Turns segment-list entries (stream times) into wall-clock spans.

    The first entry anchors the run: anchor = its name time − its stream start. Later
    segments follow the stream clock exactly (so adjacent segments touch); when a stream
    time jumps (a camera resetting its clock) the anchor is re-taken from the file name.
    """

    anchor: datetime | None = None
    tolerance_s: float = 2.5

    def span(self, name: str, t0: float, t1: float) -> tuple[datetime, datetime] | None:
        named = segment_name_time(name)
        if named is None:
            return None
        start = None if self.anchor is None else self.anchor + timedelta(seconds=t0)
        if start is None or abs((start - named).total_seconds()) > self.tolerance_s:
            self.anchor = named - timedelta(seconds=t0)
            start = named
        return start, self.anchor + timedelta(seconds=t1)


def parse_segment_list(text: str) -> list[tuple[str, float, float]]:
    """Rows of an ffmpeg CSV segment list: (file name, stream start, stream end)."""
    rows = []
    for row in csv.reader(text.splitlines()):
        if len(row) < 3:
            continue
        try:
            rows.append((os.path.basename(row[0]), float(row[1]), float(row[2])))
        except ValueError:
            continue
    return rows


def plan_reconcile(indexed: Iterable[str], on_disk: Iterable[str]) -> tuple[set[str], set[str]]:
    """(index rows whose files are gone, files the index misses)."""
    idx, disk = set(indexed), set(on_disk)
    return idx - disk, disk - idx


# ---------------------------------------------------------------- ffprobe / repair


def ffprobe_json(path: str | Path, timeout: float = 30) -> dict:
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True, text=True, timeout=timeout,
    )
    if out.returncode != 0:
        raise RecordError(f"{path}: ffprobe failed: {out.stderr.strip()[-300:] or 'unreadable'}")
    return json.loads(out.stdout or "{}")


def probe_file(path: str | Path) -> tuple[float, str | None]:
    """(duration in seconds, video codec) of a media file; raises RecordError when unreadable."""
    info = ffprobe_json(path)
    video = [s for s in info.get("streams", []) if s.get("codec_type") == "video"]
    dur = info.get("format", {}).get("duration")
    if not video or dur in (None, "N/A"):
        raise RecordError(f"{path}: no video or no duration")
    return float(dur), video[0].get("codec_name")


def repair_segment(path: Path) -> tuple[float, str | None] | None:
    """Copy-remux a possibly truncated segment in place; None (and the file removed) if unusable."""
    tmp = path.with_name(path.name + ".repair.mp4")
    try:
        subprocess.run(
            [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(path),
             "-map", "0:v:0", "-c", "copy", "-movflags", FRAG_FLAGS, str(tmp)],
            capture_output=True, timeout=120, check=False,
        )
        dur, codec = probe_file(tmp)
        if dur <= 0.05:
            raise RecordError(f"{path}: empty")
        os.replace(tmp, path)
        return dur, codec
    except (RecordError, subprocess.TimeoutExpired, OSError) as exc:
        log.warning("discarding truncated segment %s: %s", path, exc)
        for p in (tmp, path):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
        return None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: the ffmpeg child gets SIGKILL when its recorder dies (no orphan keeps writing)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _ffmpeg_env() -> dict[str, str]:
    env = dict(os.environ)
    env["TZ"] = "UTC"  # strftime names carry UTC
    return env


# ---------------------------------------------------------------- one-shot recording (CLI contract)


@dataclass
class RecordResult:
    segments: list[ClosedSegment]
    codec: str | None

    def as_json(self) -> dict:
        return {"segments": [s.as_json() for s in self.segments], "codec": self.codec}


def record_once(
    source: str,
    out_dir: Path,
    seconds: float,
    segment_seconds: float = 60,
    io_timeout_s: float = 10.0,
) -> RecordResult:
    """Record ``seconds`` of ``source`` into ``out_dir`` and return the closed segments."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex[:4]
    list_file = out_dir / f"{LIST_PREFIX}{run_id}.csv"
    cmd = record_command(source, out_dir, list_file, segment_seconds=segment_seconds, seconds=seconds,
                         run_id=run_id, io_timeout_s=io_timeout_s)
    log.info("recording %s: %s", source, " ".join(cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=_ffmpeg_env(), preexec_fn=_die_with_parent)
    try:
        _, err = proc.communicate(timeout=seconds + io_timeout_s + 30)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # graceful: closes the open segment
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    entries = parse_segment_list(list_file.read_text()) if list_file.exists() else []
    list_file.unlink(missing_ok=True)
    timer = SegmentTimer()
    segments: list[ClosedSegment] = []
    codec = None
    for name, t0, t1 in entries:
        span = timer.span(name, t0, t1)
        p = out_dir / name
        if span is None or not p.exists():
            continue
        segments.append(ClosedSegment(p, span[0], span[1], p.stat().st_size))
    # files of this run that the list lacks: truncated by an abrupt end
    listed = {s.path.name for s in segments}
    for p in sorted(out_dir.glob(f"*_{run_id}.mp4")):
        if p.name in listed:
            continue
        fixed = repair_segment(p)
        if fixed:
            start = segment_name_time(p.name)
            segments.append(ClosedSegment(p, start, start + timedelta(seconds=fixed[0]), p.stat().st_size))
    segments.sort(key=lambda s: s.start)
    if not segments:
        reason = _last_error(err) or f"ffmpeg exited with {proc.returncode}"
        raise RecordError(f"{source}: nothing recorded: {reason}")
    try:
        _, codec = probe_file(segments[0].path)
    except RecordError:
        codec = None
    return RecordResult(segments, codec)


def _last_error(stderr: str | None) -> str:
    lines = [ln.strip() for ln in (stderr or "").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


# ---------------------------------------------------------------- continuous recorder (one channel)


@dataclass
class RecorderStatus:
    state: str = "idle"  # idle | connecting | recording | retrying | stopped
    reason: str | None = None
    segments: int = 0
    restarts: int = 0
    since: float = field(default_factory=time.time)


class ChannelRecorder:
    """Keeps one ffmpeg recording a channel; restarts it with backoff and jitter when it ends.

    ``on_segment`` is called (from the recorder's thread) once per closed segment.
    """

    def __init__(
        self,
        source: str,
        out_dir: Path,
        on_segment: Callable[[ClosedSegment], None],
        *,
        segment_seconds: float = 60,
        name: str = "",
        io_timeout_s: float = 10.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.source, self.out_dir = source, Path(out_dir)
        self.on_segment, self.segment_seconds = on_segment, segment_seconds
        self.name = name or source
        self.io_timeout_s, self.max_backoff_s = io_timeout_s, max_backoff_s
        self.status = RecorderStatus()
        self._stop = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._loop, name=f"rec-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15) -> None:
        self._stop.set()
        proc = self._proc
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        if self._thread:
            self._thread.join(timeout)
        if proc and proc.poll() is None:
            proc.kill()
        self._set("stopped", None)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _set(self, state: str, reason: str | None) -> None:
        if state != self.status.state:
            self.status.since = time.time()
        self.status.state, self.status.reason = state, reason

    def _loop(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            t0 = time.monotonic()
            reason = self._run_once()
            if self._stop.is_set():
                break
            self.status.restarts += 1
            if time.monotonic() - t0 > 60:
                backoff = 1.0
            wait = min(self.max_backoff_s, backoff) * (0.75 + random.random() * 0.5)
            self._set("retrying", reason)
            log.warning("recorder %s: ffmpeg ended (%s); retrying in %.1f s", self.name, reason, wait)
            self._stop.wait(wait)
            backoff = min(self.max_backoff_s, backoff * 2)

    def _run_once(self) -> str:
        run_id = uuid.uuid4().hex[:4]
        list_file = self.out_dir / f"{LIST_PREFIX}{run_id}.csv"
        cmd = record_command(self.source, self.out_dir, list_file, segment_seconds=self.segment_seconds,
                             run_id=run_id, io_timeout_s=self.io_timeout_s)
        self._set("connecting", None)
        err_tail: deque[str] = deque(maxlen=20)
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                    env=_ffmpeg_env(), preexec_fn=_die_with_parent)
        except OSError as exc:
            return f"cannot start ffmpeg: {exc}"
        self._proc = proc
        reader = threading.Thread(target=lambda: [err_tail.append(ln.rstrip()) for ln in proc.stderr],
                                  daemon=True)
        reader.start()
        timer, seen, offset = SegmentTimer(), set(), 0
        while True:
            done = proc.poll() is not None
            offset = self._drain(list_file, offset, timer, seen)
            if not done and any(self.out_dir.glob(f"*_{run_id}.mp4")):
                self._set("recording", None)
            if done:
                break
            time.sleep(0.25)
        reader.join(2)
        list_file.unlink(missing_ok=True)
        for p in sorted(self.out_dir.glob(f"*_{run_id}.mp4")):  # the open segment of an abrupt end
            if p.name not in seen:
                fixed = repair_segment(p)
                if fixed:
                    start = segment_name_time(p.name)
                    self._emit(ClosedSegment(p, start, start + timedelta(seconds=fixed[0]),
                                             p.stat().st_size, fixed[1]))
        return _last_error("\n".join(err_tail)) or f"ffmpeg exited with {proc.returncode}"

    def _drain(self, list_file: Path, offset: int, timer: SegmentTimer, seen: set[str]) -> int:
        try:
            with open(list_file, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
        except FileNotFoundError:
            return offset
        complete = data.rfind(b"\n") + 1  # only whole lines
        if complete == 0:
            return offset
        for name, t0, t1 in parse_segment_list(data[:complete].decode()):
            span = timer.span(name, t0, t1)
            p = self.out_dir / name
            if span is None or name in seen or not p.exists():
                continue
            seen.add(name)
            self._emit(ClosedSegment(p, span[0], span[1], p.stat().st_size))
        return offset + complete

    def _emit(self, seg: ClosedSegment) -> None:
        self.status.segments += 1
        try:
            self.on_segment(seg)
        except Exception:  # a sink failure must not stop recording
            log.exception("recorder %s: segment sink failed for %s", self.name, seg.path)


# ---------------------------------------------------------------- reconcile (index ↔ files)


@dataclass
class ReconcileReport:
    dropped_rows: int = 0
    indexed: int = 0
    repaired: int = 0
    discarded: int = 0

    def as_json(self) -> dict:
        return self.__dict__.copy()


def closed_segments_in(directory: Path, skip: set[str]) -> tuple[list[ClosedSegment], ReconcileReport]:
    """Closed segments among the files of ``directory`` not in ``skip``; repairs truncated ones.

    Files named in a leftover segment list were closed by ffmpeg (exact times from the
    list); any other segment file is the open one of an abrupt end and is repaired or removed.
    """
    report = ReconcileReport()
    found: list[ClosedSegment] = []
    listed: dict[str, tuple[datetime, datetime]] = {}
    for lst in sorted(directory.glob(f"{LIST_PREFIX}*.csv")):
        timer = SegmentTimer()
        for name, t0, t1 in parse_segment_list(lst.read_text(errors="replace")):
            span = timer.span(name, t0, t1)
            if span:
                listed[name] = span
    for tmp in directory.glob("*.repair.mp4"):
        tmp.unlink(missing_ok=True)
    for p in sorted(directory.glob("*.mp4")):
        start = segment_name_time(p.name)
        if start is None or str(p) in skip:
            continue
        if p.name in listed:
            s, e = listed[p.name]
            found.append(ClosedSegment(p, s, e, p.stat().st_size))
            report.indexed += 1
            continue
        fixed = repair_segment(p)
        if fixed is None:
            report.discarded += 1
            continue
        report.repaired += 1
        found.append(ClosedSegment(p, start, start + timedelta(seconds=fixed[0]), p.stat().st_size, fixed[1]))
    for lst in directory.glob(f"{LIST_PREFIX}*.csv"):
        lst.unlink(missing_ok=True)
    return found, report


def reconcile(db_url: str, channel_id: int, directory: Path) -> ReconcileReport:
    """Make the index of one channel match its folder (call before recording into it)."""
    from sqlalchemy import select

    from lookout.media.models import RecordingSegment
    from lookout.store.db import session_scope

    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    with session_scope(db_url) as s:
        rows = s.execute(
            select(RecordingSegment.id, RecordingSegment.path).where(RecordingSegment.channel_id == channel_id)
        ).all()
    by_path = {r.path: r.id for r in rows}
    on_disk = {str(p) for p in directory.glob("*.mp4") if segment_name_time(p.name)}
    gone, _missing = plan_reconcile(by_path, on_disk)
    found, report = closed_segments_in(directory, skip=set(by_path) - gone)
    with session_scope(db_url) as s:
        if gone:
            from sqlalchemy import delete

            s.execute(delete(RecordingSegment).where(RecordingSegment.id.in_([by_path[p] for p in gone])))
        for seg in found:
            s.add(_row(channel_id, seg))
    report.dropped_rows = len(gone)
    if gone or found:
        log.info("reconciled channel %s in %s: %s", channel_id, directory, report.as_json())
    return report


def _row(channel_id: int, seg: ClosedSegment):
    from lookout.media.models import RecordingSegment

    return RecordingSegment(channel_id=channel_id, start=seg.start, end=seg.end, duration_s=seg.duration_s,
                            bytes=seg.bytes, path=str(seg.path), codec=seg.codec)


# ---------------------------------------------------------------- the recording service (one writer)


@dataclass
class RecordTarget:
    channel_id: int
    source: str
    directory: Path
    segment_seconds: float = 60


def channel_dir(root: Path, code: str | None, channel_id: int) -> Path:
    safe = code if code and re.fullmatch(r"[0-9A-Za-z_-]{1,64}", code) else f"ch{channel_id}"
    return Path(root).resolve() / safe


def load_targets(db_url: str, root: Path) -> list[RecordTarget]:
    """Channels to record: each with a URL and a recording policy that is enabled (default on)."""
    from sqlalchemy import select

    from lookout.media.models import RecordingPolicy
    from lookout.registry.models import Channel
    from lookout.store.db import session_scope

    with session_scope(db_url) as s:
        policies = {p.channel_id: p for p in s.scalars(select(RecordingPolicy))}
        default = policies.get(None)
        out = []
        for ch in s.scalars(select(Channel).order_by(Channel.id)):
            pol = policies.get(ch.id) or default
            if pol is not None and not pol.enabled:
                continue
            use_sub = pol is not None and pol.stream == "sub"
            url = (ch.sub_url if use_sub else ch.main_url) or ch.main_url or ch.sub_url
            if not url:
                continue
            out.append(RecordTarget(ch.id, url, channel_dir(root, ch.code, ch.id),
                                    float(pol.segment_seconds if pol else 60)))
    return out


class RecordingService:
    """Records channels, is the one writer of their index, and runs the retention housekeeping.

    ``housekeeping`` is called from the writer thread every ``housekeeping_every_s`` with the
    current time (e.g. :func:`lookout.media.retention.housekeeping`), so every database write of
    recording happens on one thread.
    """

    def __init__(
        self,
        db_url: str,
        targets: list[RecordTarget],
        *,
        housekeeping: Callable[[str, datetime], object] | None = None,
        housekeeping_every_s: float = 300.0,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        on_indexed: Callable[[int, ClosedSegment], None] | None = None,
    ) -> None:
        self.db_url, self.targets = db_url, targets
        self.housekeeping, self.housekeeping_every_s = housekeeping, housekeeping_every_s
        self.clock, self.on_indexed = clock, on_indexed
        self.recorders: dict[int, ChannelRecorder] = {}
        self._queue: queue.Queue[tuple[int, ClosedSegment] | None] = queue.Queue()
        self._writer: threading.Thread | None = None

    def start(self) -> None:
        for t in self.targets:
            reconcile(self.db_url, t.channel_id, t.directory)
        self._writer = threading.Thread(target=self._write_loop, name="rec-writer", daemon=True)
        self._writer.start()
        for t in self.targets:
            rec = ChannelRecorder(t.source, t.directory, lambda seg, cid=t.channel_id: self._queue.put((cid, seg)),
                                  segment_seconds=t.segment_seconds, name=str(t.channel_id))
            self.recorders[t.channel_id] = rec
            rec.start()

    def stop(self) -> None:
        for rec in self.recorders.values():
            rec.stop()
        self._queue.put(None)
        if self._writer:
            self._writer.join(30)

    def status(self) -> dict[int, RecorderStatus]:
        return {cid: r.status for cid, r in self.recorders.items()}

    def _write_loop(self) -> None:
        from lookout.store.db import session_scope

        next_housekeeping = time.monotonic() + (5 if self.housekeeping else float("inf"))
        while True:
            try:
                item = self._queue.get(timeout=1.0)
            except queue.Empty:
                item = ()
            if item is None:
                return
            if item:
                cid, seg = item
                try:
                    if seg.codec is None:
                        try:
                            seg = ClosedSegment(seg.path, seg.start, seg.end, seg.bytes, probe_file(seg.path)[1])
                        except RecordError:
                            pass
                    with session_scope(self.db_url) as s:
                        s.add(_row(cid, seg))
                    if self.on_indexed:
                        self.on_indexed(cid, seg)
                except Exception:
                    log.exception("indexing %s failed (reconcile will pick it up)", seg.path)
            if time.monotonic() >= next_housekeeping:
                try:
                    self.housekeeping(self.db_url, self.clock())
                except Exception:
                    log.exception("recording housekeeping failed")
                next_housekeeping = time.monotonic() + self.housekeeping_every_s


def run_service_forever(service: RecordingService) -> None:  # pragma: no cover - CLI loop
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    service.start()
    print(json.dumps({"recording": [t.channel_id for t in service.targets]}), flush=True)
    while not stop.wait(1.0):
        pass
    service.stop()
    sys.exit(0)
