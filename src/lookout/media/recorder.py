"""Continuous copy-recording with the ffmpeg program into time-named MP4 segments.

One ffmpeg per channel (``-c copy``, no re-encoding) writes fragmented MP4 segments
(``.<run>_000001.mp4`` while open) and appends each *closed* segment to a CSV segment list;
the recorder tails that list, gives each closed file its time name in a folder per UTC day
(``<channel>/2026-11-22/20261122T101500Z_<run><seq>.mp4``, UTC start) and hands it on. Only closed segments are
indexed, so a ``kill -9`` loses at most the open segment: on the next start
:func:`reconcile` drops index rows whose files are gone, indexes closed files that the index
misses (times from leftover segment lists and file times) and repairs or discards a
truncated open file (``flush_packets`` keeps it readable up to its last complete fragment,
so it is usually repaired by a copy-remux).

Names are given after closing because ffmpeg's own time names (``-strftime``) have a
one-second resolution and collide in the burst of segments written right after the stream
was probed.
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
OPEN_RE = re.compile(r"^\.([0-9a-f]+)_(\d{6})\.mp4$")  # a segment ffmpeg writes, before it is named
LIST_PREFIX = ".seglist-"
FRAG_FLAGS = "+frag_keyframe+empty_moov+default_base_moof"
MIN_SEGMENT_SECONDS = 2
CONTIGUOUS_S = 2.0  # within a run, segments overlapping by less than this are laid end to end


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


def final_name(start: datetime, open_name: str) -> str:
    """The time-named file of a closed segment: ``20261122T101500Z_<run><seq>.mp4`` (unique)."""
    m = OPEN_RE.match(open_name)
    tag = f"{m.group(1)}{m.group(2)}" if m else "0"
    return f"{start.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}_{tag}.mp4"


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
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning", "-progress", "pipe:1", "-stats_period", "1"]
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
        "-segment_list", str(list_file),
        "-segment_list_type", "csv",
        str(out_dir / f".{run_id}_%06d.mp4"),
    ]
    return cmd


@dataclass
class SegmentTimer:
    """Turns segment-list rows (stream times) into wall-clock spans.

    A run's anchor is the wall time of stream time 0. A segment closes when the first packet
    past its end arrives, so the moment its row is seen (or its file's mtime) is never
    earlier than anchor + end: ``seen − end`` bounds the anchor from above and the smallest
    value seen is kept. The first rows of a run come in a burst (ffmpeg buffers packets while
    it probes the stream) and only raise the bound, never lower it. A stream time jump (a
    camera resetting its clock) shows as a bound far off and re-anchors the run.
    """

    anchor: datetime | None = None
    jump_s: float = 15.0

    def span(self, t0: float, t1: float, seen: datetime) -> tuple[datetime, datetime] | None:
        if t1 < t0:
            return None
        est = seen - timedelta(seconds=t1)
        if self.anchor is None or abs((est - self.anchor).total_seconds()) > self.jump_s:
            self.anchor = est
        elif est < self.anchor:
            self.anchor = est
        return self.anchor + timedelta(seconds=t0), self.anchor + timedelta(seconds=t1)


def spans_offline(rows: list[tuple[str, float, float]], closed_at: dict[str, datetime]) -> dict[str, tuple[datetime, datetime]]:
    """Spans of a leftover segment list, anchored on the files' mtimes (their close times)."""
    seen = [(n, t0, t1, closed_at[n]) for n, t0, t1 in rows if n in closed_at and t1 >= t0]
    if not seen:
        return {}
    timer = SegmentTimer()
    # two passes: the first finds the best (smallest) anchor, the second applies it to all rows
    for _, t0, t1, at in seen:
        timer.span(t0, t1, at)
    out = {}
    for n, t0, t1, at in seen:
        est = at - timedelta(seconds=t1)
        if abs((est - timer.anchor).total_seconds()) > timer.jump_s:  # another clock epoch
            out[n] = (est + timedelta(seconds=t0), at)
        else:
            out[n] = (timer.anchor + timedelta(seconds=t0), timer.anchor + timedelta(seconds=t1))
    return out


def _mtime(p: Path) -> datetime:
    return datetime.fromtimestamp(p.stat().st_mtime, timezone.utc)


def day_folder(channel_dir: Path, start: datetime) -> Path:
    """Closed segments live in one folder per UTC day (90 days of 60 s segments is 129,600 files)."""
    return channel_dir / f"{start.astimezone(timezone.utc):%Y-%m-%d}"


def name_closed(p: Path, start: datetime) -> Path:
    """Give a closed open-named segment its time name in its day folder (atomic rename)."""
    if segment_name_time(p.name) is not None:
        return p
    folder = day_folder(p.parent, start)
    folder.mkdir(exist_ok=True)
    target = folder / final_name(start, p.name)
    os.replace(p, target)
    return target


def segment_files(channel_dir: Path) -> list[Path]:
    """The time-named (closed) segment files of a channel folder, in day folders or at its top."""
    return sorted(p for p in channel_dir.rglob("*.mp4") if segment_name_time(p.name))


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
    env["TZ"] = "UTC"
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
    deadline = time.monotonic() + seconds + io_timeout_s + 30
    segments: list[ClosedSegment] = []
    rc, err = run_segmenter(cmd, out_dir, list_file, run_id, segments.append,
                            should_stop=lambda: time.monotonic() > deadline)
    segments.sort(key=lambda s: s.start)
    if not segments:
        reason = err or f"ffmpeg exited with {rc}"
        raise RecordError(f"{source}: nothing recorded: {reason}")
    try:
        _, codec = probe_file(segments[0].path)
    except RecordError:
        codec = None
    return RecordResult(segments, codec)


class SegmentListTail:
    """Reads the rows ffmpeg appends to a segment list as segments close."""

    def __init__(self, list_file: Path, out_dir: Path) -> None:
        self.list_file, self.out_dir = list_file, out_dir
        self.offset, self.timer = 0, SegmentTimer()
        self.seen: set[str] = set()
        self.last_end: datetime | None = None

    def poll(self) -> list[ClosedSegment]:
        try:
            with open(self.list_file, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        seen_at = datetime.now(timezone.utc)
        complete = data.rfind(b"\n") + 1  # only whole lines
        if complete == 0:
            return []
        self.offset += complete
        out = []
        for name, t0, t1 in parse_segment_list(data[:complete].decode(errors="replace")):
            span = self.timer.span(t0, t1, seen_at)
            p = self.out_dir / name
            if span is None or name in self.seen or not p.exists():
                continue
            self.seen.add(name)
            seg = closed_with_probe(p, span[0], span[1])
            if self.last_end is not None:
                overlap = (self.last_end - seg.start).total_seconds()
                if 0 < overlap < CONTIGUOUS_S:  # a better anchor arrived: stay contiguous with what was emitted
                    seg = ClosedSegment(p, self.last_end, self.last_end + (seg.end - seg.start), seg.bytes, seg.codec)
            try:
                seg = ClosedSegment(name_closed(p, seg.start), seg.start, seg.end, seg.bytes, seg.codec)
            except OSError as exc:
                log.error("cannot name segment %s: %s", p, exc)
                continue
            out.append(seg)
            self.last_end = seg.end
        return out


def closed_with_probe(p: Path, start: datetime, end: datetime) -> ClosedSegment:
    """A closed segment whose length is what the file holds, ending where the list says.

    ffmpeg's list gives the first segment of a run a start of 0 even when the stream's first
    packet came later, so the file's own duration is the truth and the list's end the anchor.
    """
    try:
        dur, codec = probe_file(p)
    except RecordError:
        return ClosedSegment(p, start, end, p.stat().st_size)
    if dur > 0:
        start = end - timedelta(seconds=dur)
    return ClosedSegment(p, start, end, p.stat().st_size, codec)


def run_segmenter(cmd: list[str], out_dir: Path, list_file: Path, run_id: str,
                  emit: Callable[[ClosedSegment], None], should_stop: Callable[[], bool],
                  on_start: Callable[[subprocess.Popen], None] | None = None,
                  on_recording: Callable[[], None] | None = None) -> tuple[int | None, str]:
    """Run one segmenting ffmpeg to its end, emitting each closed segment as it closes.

    ``should_stop`` true → SIGINT (ffmpeg closes the open segment cleanly). A segment left
    open by an abrupt end is repaired (or discarded) and emitted last. Returns (exit code,
    last error line).
    """
    err_tail: deque[str] = deque(maxlen=20)
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=_ffmpeg_env(), preexec_fn=_die_with_parent)
    except OSError as exc:
        return None, f"cannot start ffmpeg: {exc}"
    if on_start:
        on_start(proc)
    progressing = threading.Event()

    def read_progress() -> None:  # ffmpeg's -progress lines: out_time_us > 0 once packets are written
        for ln in proc.stdout:
            if ln.startswith("out_time_us=") and ln[12:].strip().lstrip("-").isdigit() and int(ln[12:]) > 0:
                progressing.set()

    reader = threading.Thread(target=lambda: [err_tail.append(ln.rstrip()) for ln in proc.stderr], daemon=True)
    reader.start()
    threading.Thread(target=read_progress, daemon=True).start()
    tail = SegmentListTail(list_file, out_dir)
    interrupted_at = None
    recording = False
    while True:
        done = proc.poll() is not None
        for seg in tail.poll():
            emit(seg)
        if done:
            break
        if not recording and on_recording and progressing.is_set():
            recording = True
            on_recording()
        if should_stop():
            if interrupted_at is None:
                proc.send_signal(signal.SIGINT)
                interrupted_at = time.monotonic()
            elif time.monotonic() - interrupted_at > 15:
                proc.kill()
        time.sleep(0.2)
    reader.join(2)
    list_file.unlink(missing_ok=True)
    for p in sorted(out_dir.glob(f".{run_id}_*.mp4")):  # the open segment of an abrupt end
        if p.name in tail.seen:
            continue
        end_guess = _mtime(p) if p.exists() else None
        fixed = repair_segment(p)
        if fixed:
            start = tail.last_end or (end_guess - timedelta(seconds=fixed[0]))
            try:
                p = name_closed(p, start)
            except OSError as exc:
                log.error("cannot name segment %s: %s", p, exc)
                continue
            emit(ClosedSegment(p, start, start + timedelta(seconds=fixed[0]), p.stat().st_size, fixed[1]))
    return proc.returncode, _last_error("\n".join(err_tail))


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

        def started(proc: subprocess.Popen) -> None:
            self._proc = proc

        rc, err = run_segmenter(cmd, self.out_dir, list_file, run_id, self._emit, self._stop.is_set,
                                on_start=started, on_recording=lambda: self._set("recording", None))
        return err or f"ffmpeg exited with {rc}"

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


def run_of(name: str) -> tuple[str, int] | None:
    """(run id, sequence number) of a segment file, open-named or time-named."""
    m = OPEN_RE.match(name)
    if m:
        return m.group(1), int(m.group(2))
    m = NAME_RE.match(name)
    if m and m.group(2) and len(m.group(2)) > 6 and m.group(2)[-6:].isdigit():
        return m.group(2)[:-6], int(m.group(2)[-6:])
    return None


def closed_segments_in(directory: Path, skip: set[str],
                       indexed_ends: dict[str, datetime] | None = None) -> tuple[list[ClosedSegment], ReconcileReport]:
    """Closed segments among the files of ``directory`` not in ``skip``; repairs truncated ones.

    Files named in a leftover segment list were closed by ffmpeg (exact times from the
    list); any other segment file is the open one of an abrupt end and is repaired or removed.
    ``indexed_ends`` (file name → end) of segments already indexed lets the open segment of a
    run start where the run's last indexed segment ended.
    """
    report = ReconcileReport()
    found: list[ClosedSegment] = []
    listed: dict[str, tuple[datetime, datetime]] = {}
    for tmp in directory.rglob("*.repair.mp4"):
        tmp.unlink(missing_ok=True)
    open_files = {p.name: p for p in directory.glob(".*.mp4") if OPEN_RE.match(p.name)}
    for lst in sorted(directory.glob(f"{LIST_PREFIX}*.csv")):
        rows = parse_segment_list(lst.read_text(errors="replace"))
        listed.update(spans_offline(rows, {n: _mtime(open_files[n]) for n, _, _ in rows if n in open_files}))
    run_end: dict[str, datetime] = {}  # per run, the end of its last closed segment
    for name, e in [*((n, span[1]) for n, span in listed.items()), *(indexed_ends or {}).items()]:
        r = run_of(name)
        if r:
            run_end[r[0]] = max(run_end.get(r[0], e), e)
    candidates = sorted(open_files.values()) + sorted(
        p for p in segment_files(directory) if str(p) not in skip)
    for p in candidates:
        if p.name in listed:
            s, e = listed[p.name]
            seg = closed_with_probe(p, s, e)
            p = name_closed(p, seg.start)
            found.append(ClosedSegment(p, seg.start, seg.end, seg.bytes, seg.codec))
            report.indexed += 1
            continue
        end_guess = _mtime(p)
        fixed = repair_segment(p)
        if fixed is None:
            report.discarded += 1
            continue
        report.repaired += 1
        m = OPEN_RE.match(p.name)
        if m and m.group(1) in run_end:  # the open segment of a run: it follows the run's last closed one
            start = run_end[m.group(1)]
        elif m:
            start = end_guess - timedelta(seconds=fixed[0])
        else:
            start = segment_name_time(p.name)
        p = name_closed(p, start)
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
            select(RecordingSegment.id, RecordingSegment.path, RecordingSegment.end)
            .where(RecordingSegment.channel_id == channel_id)
        ).all()
    by_path = {r.path: r.id for r in rows}
    ends_by_path = {r.path: r.end for r in rows}
    on_disk = {str(p) for p in segment_files(directory)}
    gone, _missing = plan_reconcile(by_path, on_disk)
    ends = {Path(p).name: e for p, e in ends_by_path.items() if p not in gone}
    found, report = closed_segments_in(directory, skip=set(by_path) - gone, indexed_ends=ends)
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


def channel_stream_url(ch, stream: str = "main", secret: str | None = None) -> str | None:
    """A channel's main (or sub) URL, with its device's credentials when the URL carries none."""
    from urllib.parse import quote, urlsplit, urlunsplit

    url = (ch.sub_url if stream == "sub" else ch.main_url) or ch.main_url or ch.sub_url
    if not url:
        return None
    dev = ch.device
    parts = urlsplit(url)
    if (dev is not None and dev.username and dev.password_enc and secret and parts.scheme.startswith("rtsp")
            and "@" not in parts.netloc):
        from lookout.security.secrets import decrypt

        try:
            pw = decrypt(secret, dev.password_enc)
        except Exception:  # a bad token: try without credentials, the camera will say no
            log.warning("cannot decrypt the password of device %s", dev.code)
            return url
        netloc = f"{quote(dev.username, safe='')}:{quote(pw, safe='')}@{parts.netloc}"
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def _secret_or_none() -> str | None:
    try:
        from lookout.settings import get_settings

        return get_settings().resolved_secret()
    except Exception:
        return None


def load_targets(db_url: str, root: Path) -> list[RecordTarget]:
    """Channels to record: each with a URL and a recording policy that is enabled (default on)."""
    from sqlalchemy import select

    from lookout.media.models import RecordingPolicy
    from lookout.registry.models import Channel
    from lookout.store.db import session_scope

    secret = _secret_or_none()
    with session_scope(db_url) as s:
        policies = {p.channel_id: p for p in s.scalars(select(RecordingPolicy))}
        default = policies.get(None)
        out = []
        for ch in s.scalars(select(Channel).order_by(Channel.id)):
            pol = policies.get(ch.id) or default
            if pol is not None and not pol.enabled:
                continue
            url = channel_stream_url(ch, pol.stream if pol is not None else "main", secret)
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
        self._lock = threading.Lock()  # sync and stop may run on different threads
        self._stopped = False

    def start(self) -> None:
        for t in self.targets:
            reconcile(self.db_url, t.channel_id, t.directory)
        self._writer = threading.Thread(target=self._write_loop, name="rec-writer", daemon=True)
        self._writer.start()
        for t in self.targets:
            self._start_recorder(t)

    def _start_recorder(self, t: RecordTarget) -> None:
        rec = ChannelRecorder(t.source, t.directory, lambda seg, cid=t.channel_id: self._queue.put((cid, seg)),
                              segment_seconds=t.segment_seconds, name=str(t.channel_id))
        self.recorders[t.channel_id] = rec
        rec.start()

    def sync(self, targets: list[RecordTarget]) -> tuple[list[int], list[int]]:
        """Record exactly `targets` from now on: channels no longer in them (deleted, or their policy
        disabled) stop, closing their open segment; new ones start after a reconcile of their folder
        (segments left by an earlier run); a channel whose URL, folder or segment length changed
        restarts. Returns (started, stopped)."""
        with self._lock:
            if self._stopped:
                return [], []
            old = {t.channel_id: t for t in self.targets}
            new = {t.channel_id: t for t in targets}
            stopped = sorted(cid for cid in old if cid not in new or new[cid] != old[cid])
            started = sorted(cid for cid in new if cid not in old or new[cid] != old[cid])
            for cid in stopped:
                rec = self.recorders.pop(cid, None)
                if rec is not None:
                    rec.stop()
            for cid in started:
                if cid not in old:  # a restarted channel's last segment is on its way to the writer
                    reconcile(self.db_url, cid, new[cid].directory)
                self._start_recorder(new[cid])
            self.targets = list(targets)
        if started or stopped:
            log.info("recording: started %s, stopped %s after a channel change", started or "none", stopped or "none")
        return started, stopped

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
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


async def run_recording_service(settings, root: Path | None = None, housekeeping_every_s: float = 300.0,
                                refresh_every_s: float = 60.0) -> None:
    """The recording service as a coroutine for ``lookout.runtime.supervisor`` (runs until cancelled).

    Records every enabled channel into ``<data_dir>/recordings`` and runs the janitor and the
    disk guard every ``housekeeping_every_s``. The channels and their recording policies are read
    again every ``refresh_every_s``: a channel added, removed, disabled or given a new URL starts
    or stops recording within that time, without a restart.
    """
    import asyncio

    from lookout.media.retention import housekeeping

    base = Path(root) if root else Path(settings.data_dir) / "recordings"
    db_url = settings.db_url
    targets = await asyncio.to_thread(load_targets, db_url, base)
    service = RecordingService(
        db_url, targets, housekeeping=lambda url, now: housekeeping(url, now, root=base),
        housekeeping_every_s=housekeeping_every_s,
    )
    await asyncio.to_thread(service.start)
    try:
        while True:
            await asyncio.sleep(refresh_every_s)
            try:
                fresh = await asyncio.to_thread(load_targets, db_url, base)
            except Exception:  # the database is away for a moment: keep recording what we have
                log.exception("recording: reading the channels failed; keeping the current ones")
                continue
            await asyncio.to_thread(service.sync, fresh)
    finally:
        await asyncio.to_thread(service.stop)
