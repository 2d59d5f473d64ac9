"""Retention: which segments expire, what the disk guard may delete, and the thin adapters.

Pure policy first (no I/O, ``now`` passed in):
- :func:`expired_segments` — a segment expires when all of its footage is older than the
  channel's keep period (``keep_days`` when set, else the required ``retention_days``).
- :func:`disk_guard` — when free space falls below the threshold: an alert, and, only for
  channels whose operator allowed it, the oldest segments already past their *required*
  days, until enough space is freed. Footage inside its required days is never chosen; the
  alert says how much space is still missing instead.

Then the adapters: :func:`apply_deletions` (files first, then rows), :func:`run_janitor`,
:func:`run_disk_guard` and :func:`housekeeping` (both, as the recorder service runs them).
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

log = logging.getLogger(__name__)
DAY_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class SegmentInfo:
    id: int
    channel_id: int
    start: datetime
    end: datetime
    bytes: int
    path: str = ""


@dataclass(frozen=True)
class RetentionRule:
    channel_id: int
    required_days: int
    keep_days: int | None = None  # keep longer than required while space allows
    guard_may_delete: bool = False  # the disk guard may remove footage past required_days

    @property
    def effective_keep_days(self) -> int:
        return max(self.required_days, self.keep_days or 0)


def _check_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")


def expired_segments(segments: Iterable[SegmentInfo], rules: dict[int, RetentionRule],
                     now: datetime) -> list[SegmentInfo]:
    """Segments whose whole footage is older than their channel's keep period.

    A segment of a channel with no rule never expires (unknown retention: keep).
    """
    _check_aware(now)
    out = []
    for seg in segments:
        rule = rules.get(seg.channel_id)
        if rule is None:
            continue
        if seg.end <= now - timedelta(days=rule.effective_keep_days):
            out.append(seg)
    return out


@dataclass
class DiskGuardDecision:
    low: bool
    free_bytes: int
    total_bytes: int
    threshold_percent: float
    need_bytes: int = 0  # to get back to the threshold
    delete: list[SegmentInfo] = field(default_factory=list)
    shortfall_bytes: int = 0  # still missing after the allowed deletions
    message: str = ""

    @property
    def delete_bytes(self) -> int:
        return sum(s.bytes for s in self.delete)


def disk_guard(segments: Sequence[SegmentInfo], rules: dict[int, RetentionRule], now: datetime,
               free_bytes: int, total_bytes: int, threshold_percent: float) -> DiskGuardDecision:
    """Decide the alert and the deletions for one volume (oldest allowed footage first)."""
    _check_aware(now)
    if total_bytes <= 0:
        raise ValueError(f"total_bytes must be positive, got {total_bytes}")
    free_pct = 100.0 * free_bytes / total_bytes
    d = DiskGuardDecision(free_pct < threshold_percent, free_bytes, total_bytes, threshold_percent)
    if not d.low:
        return d
    d.need_bytes = int(total_bytes * threshold_percent / 100.0) - free_bytes
    candidates = []
    for seg in segments:
        rule = rules.get(seg.channel_id)
        if rule is None or not rule.guard_may_delete:
            continue
        if seg.end <= now - timedelta(days=rule.required_days):
            candidates.append(seg)
    candidates.sort(key=lambda s: (s.start, s.id))
    freed = 0
    for seg in candidates:
        if freed >= d.need_bytes:
            break
        d.delete.append(seg)
        freed += seg.bytes
    d.shortfall_bytes = max(0, d.need_bytes - freed)
    msg = f"free space {free_pct:.1f} % is below {threshold_percent:g} %"
    if d.delete:
        msg += f"; removing {len(d.delete)} segments ({freed / 1e9:.2f} GB) past their required days"
    if d.shortfall_bytes:
        msg += (f"; {d.shortfall_bytes / 1e9:.2f} GB more is needed but the rest is inside its required "
                "retention or not allowed to be deleted: add storage or change the retention")
    d.message = msg
    return d


# ---------------------------------------------------------------- adapters


def load_rules(session) -> dict[int, RetentionRule]:
    from sqlalchemy import select

    from lookout.media.models import RecordingPolicy
    from lookout.registry.models import Channel

    policies = {p.channel_id: p for p in session.scalars(select(RecordingPolicy))}
    default = policies.get(None)
    rules = {}
    for cid, days in session.execute(select(Channel.id, Channel.retention_days)):
        pol = policies.get(cid)
        keep = pol.keep_days if pol and pol.keep_days is not None else (default.keep_days if default else None)
        allow = pol.disk_guard_may_delete if pol and pol.disk_guard_may_delete is not None else None
        if allow is None:
            allow = bool(default and default.disk_guard_may_delete)
        rules[cid] = RetentionRule(cid, int(days), keep, bool(allow))
    return rules


def _segment_infos(session, where=None) -> list[SegmentInfo]:
    from sqlalchemy import select

    from lookout.media.models import RecordingSegment as R

    stmt = select(R.id, R.channel_id, R.start, R.end, R.bytes, R.path)
    if where is not None:
        stmt = stmt.where(where)
    return [SegmentInfo(*row) for row in session.execute(stmt)]


def apply_deletions(db_url: str, segments: Sequence[SegmentInfo]) -> tuple[int, int]:
    """Delete files, then their rows; a file that cannot be deleted keeps its row. (count, bytes)."""
    from sqlalchemy import delete

    from lookout.media.models import RecordingSegment
    from lookout.store.db import session_scope

    done: list[SegmentInfo] = []
    folders: set[Path] = set()
    for seg in segments:
        try:
            Path(seg.path).unlink(missing_ok=True)
            done.append(seg)
            folders.add(Path(seg.path).parent)
        except OSError as exc:
            log.error("cannot delete segment %s: %s (kept in the index)", seg.path, exc)
    for folder in folders:  # emptied day folders go too
        if DAY_FOLDER.match(folder.name):
            try:
                folder.rmdir()
            except OSError:
                pass
    for i in range(0, len(done), 500):
        chunk = done[i:i + 500]
        with session_scope(db_url) as s:
            s.execute(delete(RecordingSegment).where(RecordingSegment.id.in_([x.id for x in chunk])))
    return len(done), sum(x.bytes for x in done)


def run_janitor(db_url: str, now: datetime) -> dict:
    """Delete every expired segment; returns counts per channel."""
    from lookout.media.models import RecordingSegment
    from lookout.store.db import session_scope

    _check_aware(now)
    with session_scope(db_url) as s:
        rules = load_rules(s)
        # only segments old enough to possibly expire (the shortest keep period)
        shortest = min((r.effective_keep_days for r in rules.values()), default=0)
        segs = _segment_infos(s, RecordingSegment.end <= now - timedelta(days=shortest))
    expired = expired_segments(segs, rules, now)
    count, nbytes = apply_deletions(db_url, expired)
    per_channel: dict[int, int] = {}
    for seg in expired:
        per_channel[seg.channel_id] = per_channel.get(seg.channel_id, 0) + 1
    if count:
        log.info("janitor removed %d expired segments (%.2f GB)", count, nbytes / 1e9)
    return {"deleted": count, "bytes": nbytes, "per_channel": per_channel}


def run_disk_guard(db_url: str, now: datetime, volume: Path, threshold_percent: float,
                   usage: tuple[int, int] | None = None) -> DiskGuardDecision:
    """Check one recording volume; raise/clear its alert and apply the allowed deletions.

    ``usage`` = (free, total) bytes, measured when not given.
    """
    from sqlalchemy import select

    from lookout.media.models import DiskAlert, RecordingSegment
    from lookout.store.db import session_scope

    volume = Path(volume).resolve()
    if usage is None:
        du = shutil.disk_usage(volume)
        usage = (du.free, du.total)
    free, total = usage
    vol_prefix = str(volume).rstrip("/") + "/"
    with session_scope(db_url) as s:
        rules = load_rules(s)
        segs = _segment_infos(s, RecordingSegment.path.startswith(vol_prefix)) if free * 100 < threshold_percent * total else []
    decision = disk_guard(segs, rules, now, free, total, threshold_percent)
    deleted, deleted_bytes = apply_deletions(db_url, decision.delete) if decision.delete else (0, 0)
    with session_scope(db_url) as s:
        open_alert = s.scalars(select(DiskAlert).where(DiskAlert.volume == str(volume),
                                                       DiskAlert.cleared_at.is_(None))).first()
        if decision.low:
            if open_alert is None:
                open_alert = DiskAlert(volume=str(volume), raised_at=now, free_bytes=free, total_bytes=total,
                                       threshold_percent=threshold_percent, message=decision.message)
                s.add(open_alert)
                log.warning("disk alert on %s: %s", volume, decision.message)
                _publish("storage.disk_alert", {"volume": str(volume), "message": decision.message})
            open_alert.free_bytes, open_alert.message = free, decision.message
            open_alert.deleted_segments = (open_alert.deleted_segments or 0) + deleted
            open_alert.deleted_bytes = (open_alert.deleted_bytes or 0) + deleted_bytes
            open_alert.shortfall_bytes = decision.shortfall_bytes
        elif open_alert is not None:
            open_alert.cleared_at, open_alert.free_bytes = now, free
            _publish("storage.disk_alert_cleared", {"volume": str(volume)})
    return decision


def _publish(topic: str, payload: dict) -> None:
    try:
        from lookout.runtime.bus import bus

        bus.publish(topic, payload)
    except Exception:  # pragma: no cover - the bus is best effort
        log.debug("bus publish failed", exc_info=True)


def housekeeping(db_url: str, now: datetime, root: Path | None = None,
                 threshold_percent: float | None = None) -> dict:
    """The janitor, then the disk guard of the recordings volume."""
    result: dict = {"janitor": run_janitor(db_url, now)}
    if root is not None:
        if threshold_percent is None:
            from lookout.settings import get_settings

            threshold_percent = get_settings().disk_free_alert_percent
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        d = run_disk_guard(db_url, now, root, threshold_percent)
        result["disk"] = {"low": d.low, "free_bytes": d.free_bytes, "total_bytes": d.total_bytes,
                          "deleted": len(d.delete), "shortfall_bytes": d.shortfall_bytes, "message": d.message}
    return result


POLICY_FIELDS = ("enabled", "stream", "segment_seconds", "keep_days", "disk_guard_may_delete")


def validate_policy(values: dict) -> dict:
    """Check a recording-policy change; returns the cleaned values or raises ValueError naming the field."""
    out = {}
    for k, v in values.items():
        if k not in POLICY_FIELDS:
            raise ValueError(f"{k}: unknown field (one of {', '.join(POLICY_FIELDS)})")
        if k == "stream" and v not in ("main", "sub"):
            raise ValueError("stream: must be main or sub")
        if k == "segment_seconds" and (not isinstance(v, int) or not 2 <= v <= 3600):
            raise ValueError("segment_seconds: must be a whole number from 2 to 3600")
        if k == "keep_days" and v is not None and (not isinstance(v, int) or v < 1):
            raise ValueError("keep_days: must be a positive whole number or null")
        if k in ("enabled", "disk_guard_may_delete") and not (isinstance(v, bool) or (v is None and k != "enabled")):
            raise ValueError(f"{k}: must be true or false")
        out[k] = v
    return out


def set_policy(session, actor: str, channel_id: int | None, values: dict):
    """Create or change the recording policy of a channel (None: the global default); audited."""
    from sqlalchemy import select

    from lookout.media.models import RecordingPolicy
    from lookout.security import audit

    values = validate_policy(values)
    pol = session.scalars(select(RecordingPolicy).where(
        RecordingPolicy.channel_id.is_(None) if channel_id is None else RecordingPolicy.channel_id == channel_id
    )).first()
    before = None if pol is None else {f: getattr(pol, f) for f in POLICY_FIELDS}
    if pol is None:
        pol = RecordingPolicy(channel_id=channel_id)
        session.add(pol)
    for k, v in values.items():
        setattr(pol, k, v)
    session.flush()
    after = {f: getattr(pol, f) for f in POLICY_FIELDS}
    audit.record(session, actor, "update" if before else "create", "recording_policy",
                 "global" if channel_id is None else channel_id, before, after)
    return pol
