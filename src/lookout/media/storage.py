"""Storage planning and retention compliance.

- :func:`plan_storage` (pure): from each channel's bitrate and required days, the bytes a
  channel, a site and the whole deployment need, and how many disks of a given size.
- :func:`retention_compliance` (pure): per channel, the days of video actually on disk
  against the days required, and how much of that window is covered.
- :func:`plan_from_registry` and :func:`compliance_report` read the database (bitrate
  measured from the segment index where recordings exist) for the CLI, API and UI.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

SECONDS_PER_DAY = 86_400
CONTAINER_OVERHEAD = 1.01  # MP4 boxes over the elementary stream (measured ~0.5–1 %)


@dataclass(frozen=True)
class PlanChannel:
    channel_id: int
    channel_code: str
    site_id: int
    site_name: str
    bitrate_bps: float
    days: int
    bitrate_source: str = "default"  # measured | default


@dataclass
class SitePlan:
    site_id: int
    site_name: str
    channels: int = 0
    bytes: int = 0


@dataclass
class StoragePlan:
    channels: list[dict]
    sites: list[SitePlan]
    total_bytes: int
    disk_bytes: int | None = None
    reserve_percent: float = 10.0
    disks_needed: int | None = None
    daily_bytes: int = 0

    def as_json(self) -> dict:
        return {
            "channels": self.channels,
            "sites": [asdict(s) for s in self.sites],
            "total_bytes": self.total_bytes,
            "total_tb": round(self.total_bytes / 1e12, 3),
            "daily_bytes": self.daily_bytes,
            "disk_bytes": self.disk_bytes,
            "reserve_percent": self.reserve_percent,
            "disks_needed": self.disks_needed,
        }


def channel_bytes(bitrate_bps: float, days: float) -> int:
    return int(bitrate_bps / 8 * SECONDS_PER_DAY * days * CONTAINER_OVERHEAD)


def plan_storage(channels: Iterable[PlanChannel], disk_bytes: int | None = None,
                 reserve_percent: float = 10.0) -> StoragePlan:
    rows, sites, daily = [], {}, 0
    for ch in channels:
        if ch.bitrate_bps < 0 or ch.days < 0:
            raise ValueError(f"channel {ch.channel_code}: bitrate and days must not be negative")
        need = channel_bytes(ch.bitrate_bps, ch.days)
        daily += channel_bytes(ch.bitrate_bps, 1)
        rows.append({"channel_id": ch.channel_id, "channel_code": ch.channel_code, "site_id": ch.site_id,
                     "bitrate_bps": round(ch.bitrate_bps), "bitrate_source": ch.bitrate_source,
                     "days": ch.days, "bytes": need})
        sp = sites.setdefault(ch.site_id, SitePlan(ch.site_id, ch.site_name))
        sp.channels += 1
        sp.bytes += need
    total = sum(r["bytes"] for r in rows)
    disks = None
    if disk_bytes:
        usable = disk_bytes * (1 - reserve_percent / 100.0)
        disks = math.ceil(total / usable) if total else 0
    return StoragePlan(rows, sorted(sites.values(), key=lambda s: s.site_id), total, disk_bytes,
                       reserve_percent, disks, daily)


@dataclass(frozen=True)
class ChannelFootage:
    """What the index holds for one channel (aggregates)."""

    channel_id: int
    oldest_start: datetime | None
    newest_end: datetime | None
    seconds_in_window: float = 0.0  # recorded seconds inside [now - required days, now]


@dataclass
class ChannelCompliance:
    channel_id: int
    channel_code: str
    site_id: int
    required_days: int
    days_on_disk: float
    coverage_percent: float
    status: str  # compliant | short | no_recording
    oldest: str | None = None
    newest: str | None = None
    extra: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return asdict(self)


def retention_compliance(channel_id: int, channel_code: str, site_id: int, required_days: int,
                         footage: ChannelFootage | None, now: datetime) -> ChannelCompliance:
    """Days of video on disk (now − oldest footage) against the days required.

    ``coverage_percent`` is the recorded share of the part of the required window since
    the oldest footage (gaps from outages lower it).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if footage is None or footage.oldest_start is None:
        return ChannelCompliance(channel_id, channel_code, site_id, required_days, 0.0, 0.0, "no_recording")
    days = max(0.0, (now - footage.oldest_start).total_seconds() / SECONDS_PER_DAY)
    window_start = max(footage.oldest_start, now - timedelta(days=required_days))
    window = max(1.0, (now - window_start).total_seconds())
    coverage = min(100.0, 100.0 * footage.seconds_in_window / window)
    status = "compliant" if days >= required_days else "short"
    return ChannelCompliance(channel_id, channel_code, site_id, required_days, round(days, 3),
                             round(coverage, 1), status, footage.oldest_start.isoformat(),
                             footage.newest_end.isoformat() if footage.newest_end else None)


# ---------------------------------------------------------------- database adapters


def measured_bitrates(session, since: datetime) -> dict[int, float]:
    """Mean recorded bitrate per channel from segments that ended after ``since``."""
    from sqlalchemy import func, select

    from lookout.media.models import RecordingSegment as R

    rows = session.execute(
        select(R.channel_id, func.sum(R.bytes), func.sum(R.duration_s)).where(R.end >= since).group_by(R.channel_id)
    )
    return {cid: 8.0 * float(b) / float(s) for cid, b, s in rows if s and float(s) > 0}


def plan_from_registry(db_url: str, *, default_bitrate_bps: float = 4e6, days_override: int | None = None,
                       disk_bytes: int | None = None, disk_path: Path | None = None,
                       reserve_percent: float = 10.0, now: datetime | None = None) -> StoragePlan:
    from sqlalchemy import select

    from lookout.registry.models import Channel, Site
    from lookout.store.base import utcnow
    from lookout.store.db import session_scope

    now = now or utcnow()
    if disk_bytes is None and disk_path is not None:
        disk_bytes = shutil.disk_usage(disk_path).total
    with session_scope(db_url) as s:
        rates = measured_bitrates(s, now - timedelta(days=1))
        chans = []
        for ch, site in s.execute(select(Channel, Site).join(Site, Channel.site_id == Site.id).order_by(Channel.id)):
            rate = rates.get(ch.id)
            chans.append(PlanChannel(ch.id, ch.code, site.id, site.name, rate or default_bitrate_bps,
                                     days_override if days_override is not None else ch.retention_days,
                                     "measured" if rate else "default"))
    return plan_storage(chans, disk_bytes, reserve_percent)


def compliance_report(db_url: str, now: datetime, channel_ids: Iterable[int] | None = None) -> list[ChannelCompliance]:
    """Retention compliance of every channel (or the given ones); for the CLI, API and UI."""
    from sqlalchemy import func, select

    from lookout.media.models import RecordingSegment as R
    from lookout.registry.models import Channel
    from lookout.store.db import session_scope

    out = []
    with session_scope(db_url) as s:
        stmt = select(Channel.id, Channel.code, Channel.site_id, Channel.retention_days).order_by(Channel.id)
        if channel_ids is not None:
            stmt = stmt.where(Channel.id.in_(list(channel_ids)))
        chans = s.execute(stmt).all()
        spans = {cid: (lo, hi) for cid, lo, hi in
                 s.execute(select(R.channel_id, func.min(R.start), func.max(R.end)).group_by(R.channel_id))}
        for cid, code, site_id, days in chans:
            footage = None
            if cid in spans:
                lo, hi = spans[cid]
                secs = s.execute(select(func.coalesce(func.sum(R.duration_s), 0.0)).where(
                    R.channel_id == cid, R.end >= now - timedelta(days=days))).scalar_one()
                footage = ChannelFootage(cid, _aware(lo), _aware(hi), float(secs))
            out.append(retention_compliance(cid, code, site_id, days, footage, now))
    return out


def _aware(value):
    """Aggregates bypass the column type on SQLite: normalise to aware UTC."""
    from datetime import timezone

    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)
