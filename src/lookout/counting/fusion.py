"""Occupancy fusion per site: one snapshot of how many people are inside now.

Stable entry points::

    site_occupancy(session, site_id, now) -> OccupancySnapshot   # reads the sample store
    fuse(inputs, now) -> OccupancySnapshot                        # the pure rule, no I/O
    publish_occupancy(snapshot)                                   # bus topic "site.<id>.occupancy"

Rule:
- the business day starts at the site's opening time (``Site.opening_time`` in
  ``Site.timezone``); counts reset then: ``entered_today``/``exited_today`` are the sums of
  in/out of the site's *entrance* flow sources (gates, ticketing, entrance lines) since then;
- ``present`` = entered − exited (never below 0), *corrected* by zone counts when the zones
  cover the site (every zone of the site has a fresh count): their sum is a direct observation
  and replaces the accumulated flow, which drifts; where zones cover only part of the site
  their sum is a lower bound (present = max(flow, zones));
- with no flow source, a site-wide presence estimate (WiFi, LBS) stands in;
- a note is added whenever two estimates of the same people differ by more than the
  tolerance (``max(10 people, 20 %)``), and when a source has gone quiet;
- ``zones`` holds each zone's latest fresh count (presence samples of sources bound to it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, time, timedelta
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lookout.counting.models import CountSample, CountSource

FRESH = timedelta(minutes=10)
ABS_TOLERANCE = 10
REL_TOLERANCE = 0.20


@dataclass(frozen=True)
class OccupancySnapshot:
    site_id: int
    ts: datetime
    present: int
    entered_today: int
    exited_today: int
    zones: dict[int, int] = field(default_factory=dict)  # zone_id -> people now
    notes: list[str] = field(default_factory=list)
    day: str | None = None  # business day (local date of the opening), a change resets daily counts
    zone_names: dict[int, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ts"] = self.ts.isoformat()
        d["zones"] = {str(k): v for k, v in self.zones.items()}
        d["zone_names"] = {str(k): v for k, v in self.zone_names.items()}
        return d


@dataclass(frozen=True)
class FlowTotal:
    source: str
    entered: int
    exited: int
    is_entrance: bool = True


@dataclass(frozen=True)
class PresenceReading:
    source: str
    present: int
    ts: datetime
    zone_id: int | None = None
    covers_site: bool = False


@dataclass
class FusionInputs:
    site_id: int
    day: str
    flows: list[FlowTotal] = field(default_factory=list)
    presences: list[PresenceReading] = field(default_factory=list)
    site_zones: dict[int, str] = field(default_factory=dict)  # every zone of the site: id -> name
    quiet_sources: list[str] = field(default_factory=list)


def business_day_start(now: datetime, opening_time: str = "08:00", tz: str = "Asia/Shanghai") -> datetime:
    """The latest opening at or before ``now`` (UTC-aware result)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    zone = ZoneInfo(tz)
    try:
        hh, mm = (int(x) for x in opening_time.split(":"))
        opening = time(hh, mm)
    except ValueError as exc:
        raise ValueError(f"opening time must be HH:MM, got {opening_time!r}") from exc
    local = now.astimezone(zone)
    start = datetime.combine(local.date(), opening, tzinfo=zone)
    if start > local:
        start = datetime.combine(local.date() - timedelta(days=1), opening, tzinfo=zone)
    return start.astimezone(ZoneInfo("UTC"))


def disagree(a: int, b: int) -> bool:
    return abs(a - b) > max(ABS_TOLERANCE, REL_TOLERANCE * max(a, b))


def fuse(inputs: FusionInputs, now: datetime, fresh: timedelta = FRESH) -> OccupancySnapshot:
    notes: list[str] = []
    entrance = [f for f in inputs.flows if f.is_entrance]
    entered = sum(f.entered for f in entrance)
    exited = sum(f.exited for f in entrance)
    flow_present = max(0, entered - exited)
    if entered - exited < 0:
        notes.append(f"more exits ({exited}) than entries ({entered}) since opening: a counter misses entries")

    live = [p for p in inputs.presences if now - p.ts <= fresh]
    zones: dict[int, int] = {}
    zone_ts: dict[int, datetime] = {}
    for p in live:
        if p.zone_id is not None and (p.zone_id not in zone_ts or p.ts > zone_ts[p.zone_id]):
            zones[p.zone_id], zone_ts[p.zone_id] = p.present, p.ts
    zone_total = sum(zones.values())
    covered = bool(inputs.site_zones) and set(inputs.site_zones) <= set(zones)
    site_wide = [p.present for p in live if p.covers_site and p.zone_id is None]
    estimate = int(round(median(site_wide))) if site_wide else None

    if covered:
        present = zone_total
        if entrance and disagree(flow_present, zone_total):
            notes.append(f"zones count {zone_total} but entries − exits give {flow_present}: "
                         f"occupancy corrected to the zone counts")
    elif entrance:
        present = max(flow_present, zone_total)
        if zone_total > flow_present and disagree(flow_present, zone_total):
            notes.append(f"zones alone count {zone_total}, more than entries − exits ({flow_present})")
    elif estimate is not None:
        present = estimate
    else:
        present = zone_total
        if not zones:
            notes.append("no count source has reported today")
    if estimate is not None and (entrance or covered) and disagree(present, estimate):
        notes.append(f"site-wide estimate ({estimate}) disagrees with the counted {present}")
    for name in inputs.quiet_sources:
        notes.append(f"source {name!r} has sent nothing for over {int(fresh.total_seconds() // 60)} min")
    return OccupancySnapshot(inputs.site_id, now, present, entered, exited, zones, notes, inputs.day,
                             {z: inputs.site_zones.get(z, str(z)) for z in zones})


def site_occupancy(session: Session, site_id: int, now: datetime) -> OccupancySnapshot:
    """Fuse the site's stored samples into a snapshot at ``now`` (reads only)."""
    from lookout.registry.models import Site, Zone

    site = session.get(Site, site_id)
    if site is None:
        raise LookupError(f"site {site_id} not found")
    start = business_day_start(now, site.opening_time or "00:00", site.timezone or "Asia/Shanghai")
    day = start.astimezone(ZoneInfo(site.timezone or "Asia/Shanghai")).date().isoformat()
    sources = session.execute(select(CountSource).where(CountSource.site_id == site_id)).scalars().all()
    flow_ids = [s.id for s in sources if s.kind == "flow"]
    sums: dict[int, tuple[int, int]] = {}
    if flow_ids:
        for sid, a, b in session.execute(
            select(CountSample.source_id, func.coalesce(func.sum(CountSample.n_in), 0),
                   func.coalesce(func.sum(CountSample.n_out), 0))
            .where(CountSample.source_id.in_(flow_ids), CountSample.ts >= start, CountSample.ts <= now)
            .group_by(CountSample.source_id)
        ):
            sums[sid] = (int(a), int(b))
    flows = [FlowTotal(s.name, *sums.get(s.id, (0, 0)), is_entrance=s.is_entrance) for s in sources if s.kind == "flow"]
    presences = []
    pres_ids = [s.id for s in sources if s.kind == "presence"]
    if pres_ids:
        latest = (select(CountSample.source_id, func.max(CountSample.ts).label("ts"))
                  .where(CountSample.source_id.in_(pres_ids), CountSample.ts <= now, CountSample.ts >= now - FRESH)
                  .group_by(CountSample.source_id).subquery())
        rows = session.execute(
            select(CountSample.source_id, CountSample.present, CountSample.ts)
            .join(latest, (CountSample.source_id == latest.c.source_id) & (CountSample.ts == latest.c.ts))
        ).all()
        by_id = {s.id: s for s in sources}
        for sid, present, ts in rows:
            s = by_id[sid]
            presences.append(PresenceReading(s.name, int(present or 0), ts, s.zone_id, s.covers_site))
    last_seen = dict(session.execute(
        select(CountSample.source_id, func.max(CountSample.ts)).where(CountSample.source_id.in_([s.id for s in sources]))
        .group_by(CountSample.source_id)).all()) if sources else {}
    quiet = [s.name for s in sources if s.id in last_seen and start < last_seen[s.id] < now - FRESH
             and s.kind == "presence"]
    site_zones = dict(session.execute(select(Zone.id, Zone.name).where(Zone.site_id == site_id)).all())
    inputs = FusionInputs(site_id, day, flows, presences, site_zones, quiet)
    return fuse(inputs, now)


def publish_occupancy(snapshot: OccupancySnapshot) -> None:
    from lookout.runtime.bus import bus

    bus.publish(f"site.{snapshot.site_id}.occupancy", snapshot.to_dict())


__all__ = ["OccupancySnapshot", "FusionInputs", "FlowTotal", "PresenceReading", "business_day_start", "fuse",
           "site_occupancy", "publish_occupancy"]
