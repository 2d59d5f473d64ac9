"""Playback timeline and export of a time range as one MP4.

- :func:`timeline` (pure): a channel's segments merged into continuous spans with gaps.
- :func:`plan_export` (pure): the segments a range needs, the seek into the first one and
  the length of recorded footage inside the range (gaps are skipped, not filled).
- :func:`export_segments`: ffmpeg's concat demuxer with an input seek and ``-t`` and
  ``-c copy`` (no re-encoding; the key-frame pre-roll is hidden by an MP4 edit list, so the
  file plays from the requested instant). With a watermark (the exporter's name and time,
  ``drawtext``) the video is re-encoded with x264.
- :func:`export_range`: the database adapter — finds the segments, exports, writes a
  ``video_exports`` row and an audit record of who exported what, in one transaction.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from lookout.media.recorder import FFMPEG, RecordError, probe_file

log = logging.getLogger(__name__)
MAX_EXPORT = timedelta(hours=24)
CONTIGUOUS_SLACK_S = 1.5  # adjacent segments closer than this are one span


class ExportError(RuntimeError):
    pass


@dataclass(frozen=True)
class Seg:
    path: str
    start: datetime
    end: datetime
    id: int | None = None
    bytes: int = 0


@dataclass
class Span:
    start: datetime
    end: datetime
    segments: int = 0
    bytes: int = 0

    def as_json(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "segments": self.segments,
                "bytes": self.bytes}


def timeline(segments: Sequence[Seg], slack_s: float = CONTIGUOUS_SLACK_S) -> list[Span]:
    """Continuous spans of footage (segments closer than ``slack_s`` are joined)."""
    spans: list[Span] = []
    for s in sorted(segments, key=lambda x: x.start):
        if spans and (s.start - spans[-1].end).total_seconds() <= slack_s:
            spans[-1].end = max(spans[-1].end, s.end)
            spans[-1].segments += 1
            spans[-1].bytes += s.bytes
        else:
            spans.append(Span(s.start, s.end, 1, s.bytes))
    return spans


@dataclass
class ExportPlan:
    segments: list[Seg]
    seek_s: float  # into the first segment
    length_s: float  # recorded seconds inside the range
    gaps: list[tuple[datetime, datetime]] = field(default_factory=list)


def plan_export(segments: Sequence[Seg], start: datetime, end: datetime) -> ExportPlan:
    if start.tzinfo is None or end.tzinfo is None:
        raise ExportError("start and end must be timezone-aware")
    if end <= start:
        raise ExportError(f"end {end.isoformat()} is not after start {start.isoformat()}")
    if end - start > MAX_EXPORT:
        raise ExportError(f"range longer than {MAX_EXPORT}: export it in parts")
    used = [s for s in sorted(segments, key=lambda x: x.start) if s.end > start and s.start < end]
    if not used:
        raise ExportError(f"no footage between {start.isoformat()} and {end.isoformat()}")
    length = sum((min(s.end, end) - max(s.start, start)).total_seconds() for s in used)
    gaps, cursor = [], start
    for s in used:
        if (s.start - cursor).total_seconds() > CONTIGUOUS_SLACK_S:
            gaps.append((cursor, s.start))
        cursor = max(cursor, s.end)
    if (end - cursor).total_seconds() > CONTIGUOUS_SLACK_S:
        gaps.append((cursor, end))
    return ExportPlan(used, max(0.0, (start - used[0].start).total_seconds()), length, gaps)


def concat_list(paths: Sequence[str]) -> str:
    lines = ["ffconcat version 1.0"]
    for p in paths:
        lines.append("file '" + str(p).replace("'", "'\\''") + "'")
    return "\n".join(lines) + "\n"


def _fonts_for(lang: str | None) -> list[str]:
    fc_list = shutil.which("fc-list")
    if not fc_list:
        return []
    pattern = f":lang={lang}" if lang else ":"
    out = subprocess.run([fc_list, "-f", "%{file}\n", pattern], capture_output=True, text=True)
    return sorted(f for f in out.stdout.splitlines() if f.endswith((".ttf", ".otf", ".ttc")))


def watermark_font(text: str) -> str | None:
    """A font file for ``text``: one covering Chinese when the text has non-ASCII characters."""
    cands = []
    if not text.isascii():
        cands += _fonts_for("zh")
    cands += [f for f in _fonts_for("en") if "DejaVuSans.ttf" in f] + _fonts_for("en")
    cands += ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"]
    return next((c for c in cands if Path(c).exists()), None)


def _filter_path(p: str) -> str:
    return p.replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")


def export_segments(plan: ExportPlan, out_path: Path, watermark_text: str | None = None,
                    timeout_s: float = 1800) -> tuple[float, str | None]:
    """Write the planned footage to ``out_path``; returns (duration, codec) measured by ffprobe."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    missing = [s.path for s in plan.segments if not os.path.exists(s.path)]
    if missing:
        raise ExportError(f"segment files missing on disk: {', '.join(missing[:3])}")
    with tempfile.TemporaryDirectory(prefix="lookout-export-") as tmp:
        lst = Path(tmp) / "list.ffconcat"
        lst.write_text(concat_list([s.path for s in plan.segments]))
        cmd = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
               "-ss", f"{plan.seek_s:.3f}", "-t", f"{plan.length_s:.3f}",
               "-f", "concat", "-safe", "0", "-i", str(lst), "-map", "0:v:0"]
        if watermark_text:
            draws = []
            lines = watermark_text.splitlines()[:3]
            for i, line in enumerate(lines):
                txt = Path(tmp) / f"watermark{i}.txt"
                txt.write_text(line, encoding="utf-8")
                row = len(lines) - i  # bottom-up
                draw = (f"drawtext=textfile='{_filter_path(str(txt))}':x=12:"
                        f"y=h-{row}*(max(14\\,h/28)+10)-8:fontsize=max(14\\,h/28):"
                        "fontcolor=white@0.85:box=1:boxcolor=black@0.45:boxborderw=4")
                font = watermark_font(line)
                if font:
                    draw += f":fontfile='{_filter_path(font)}'"
                draws.append(draw)
            cmd += ["-vf", ",".join(draws), "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
                    "-pix_fmt", "yuv420p"]
        else:
            cmd += ["-c", "copy"]
        part = out_path.with_name(out_path.name + ".part")
        cmd += ["-movflags", "+faststart", "-f", "mp4", str(part)]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            part.unlink(missing_ok=True)
            raise ExportError(f"export timed out after {timeout_s:.0f} s") from exc
        if res.returncode != 0:
            part.unlink(missing_ok=True)
            raise ExportError(f"ffmpeg failed: {res.stderr.strip()[-400:]}")
        try:
            dur, codec = probe_file(part)
        except RecordError as exc:
            part.unlink(missing_ok=True)
            raise ExportError(str(exc)) from exc
        os.replace(part, out_path)
    return dur, codec


def export_range(db_url: str, channel_id: int, start: datetime, end: datetime, actor: str,
                 out_dir: Path, watermark: bool = False, watermark_name: str | None = None,
                 now: datetime | None = None):
    """Export [start, end) of a channel; returns the ``VideoExport`` row (status done or failed).

    A failed export is recorded too (who tried what, and why it failed).
    """
    from sqlalchemy import select

    from lookout.media.models import RecordingSegment as R
    from lookout.media.models import VideoExport
    from lookout.registry.models import Channel
    from lookout.security import audit
    from lookout.store.base import utcnow
    from lookout.store.db import session_scope

    now = now or utcnow()
    with session_scope(db_url) as s:
        ch = s.get(Channel, channel_id)
        if ch is None:
            raise ExportError(f"channel {channel_id} not found")
        code = ch.code
        rows = s.execute(select(R.path, R.start, R.end, R.id, R.bytes).where(
            R.channel_id == channel_id, R.end > start, R.start < end).order_by(R.start)).all()
    segs = [Seg(*r) for r in rows]
    name = f"{code}_{start.strftime('%Y%m%dT%H%M%SZ')}_{int((end - start).total_seconds())}s"
    out_path = Path(out_dir).resolve() / f"{name}_{now.strftime('%H%M%S%f')}.mp4"
    text = None
    if watermark:
        # the name on its own line: CJK fonts here often lack Latin digits, and vice versa
        text = f"{watermark_name or actor}\n{now.strftime('%Y-%m-%d %H:%M:%S')} UTC  {code}"
    error, dur, codec, gaps = None, None, None, []
    try:
        plan = plan_export(segs, start, end)
        gaps = [(a.isoformat(), b.isoformat()) for a, b in plan.gaps]
        dur, codec = export_segments(plan, out_path, text)
    except ExportError as exc:
        error = str(exc)
        log.warning("export of channel %s %s–%s by %s failed: %s", code, start, end, actor, error)
    with session_scope(db_url) as s:
        row = VideoExport(channel_id=channel_id, actor=actor, start=start, end=end, watermark=watermark,
                          status="failed" if error else "done", path=None if error else str(out_path),
                          bytes=None if error else out_path.stat().st_size, duration_s=dur, codec=codec,
                          error=error, created_at=now)
        s.add(row)
        s.flush()
        audit.record(s, actor, "export", "channel", channel_id, after={
            "export_id": row.id, "channel": code, "start": start.isoformat(), "end": end.isoformat(),
            "watermark": watermark, "status": row.status, "duration_s": dur, "gaps": gaps, "error": error,
        }, now=now)
    return row
