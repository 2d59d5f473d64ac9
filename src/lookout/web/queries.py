"""Read-only queries behind the pages, every one through the account's scope filters.

Aggregates are computed in the database (GROUP BY), so a district of 200 sites and 10,000
channels renders in milliseconds. Where a capability has not been installed, its part of a
page comes back empty instead of failing.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from lookout.registry.models import ONLINE_STATUSES, Channel, Device, OrgUnit, Site, Zone, default_retention_days
from lookout.optional import optional_module
from lookout.security import scope
from lookout.security.models import User

log = logging.getLogger(__name__)

#: a filter form's optional number (a site): its "all" option sends it empty, which means none
OptionalId = Annotated[int | None, BeforeValidator(lambda v: None if isinstance(v, str) and not v.strip() else v)]

ONLINE_TARGET_KEY = 98.0
ONLINE_TARGET = 95.0


optional = optional_module  # a capability's module, or None while it is not installed


def safety_models():
    return optional("lookout.safety.models")


# ---------------------------------------------------------------- paging
@dataclass
class PageInfo:
    page: int
    page_size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


def paged(db: Session, stmt: Select, page: int, page_size: int) -> tuple[list[Any], PageInfo]:
    total = db.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    info = PageInfo(max(1, page), page_size, total)
    if info.page > info.pages:
        info.page = info.pages
    rows = db.execute(stmt.limit(page_size).offset(info.offset)).all()
    return rows, info


# ---------------------------------------------------------------- time
def local_day_bounds(now: datetime, tz: str) -> tuple[datetime, datetime, str]:
    """UTC start and end of the local calendar day containing ``now``, and its ISO date."""
    z = ZoneInfo(tz)
    local = now.astimezone(z)
    start = datetime(local.year, local.month, local.day, tzinfo=z)
    return start.astimezone(timezone.utc), (start + timedelta(days=1)).astimezone(timezone.utc), start.date().isoformat()


def rate(part: int, whole: int) -> float | None:
    return None if whole <= 0 else round(100.0 * part / whole, 1)


# ---------------------------------------------------------------- sites
def visible_sites(db: Session, user: User, *, q: str | None = None, category: str | None = None) -> Select:
    stmt = scope.site_filter(select(Site), user)
    if q:
        stmt = stmt.where(Site.name.contains(q))
    if category:
        stmt = stmt.where(Site.category == category)
    return stmt.order_by(Site.id)


def get_site(db: Session, user: User, site_id: int) -> Site | None:
    return db.execute(scope.site_filter(select(Site).where(Site.id == site_id), user)).scalar_one_or_none()


def channel_status_counts(db: Session, user: User, site_ids: list[int] | None = None) -> dict[int, dict[str, int]]:
    stmt = scope.channel_filter(select(Channel.site_id, Channel.status, func.count()), user)
    if site_ids is not None:
        stmt = stmt.where(Channel.site_id.in_(site_ids))
    out: dict[int, dict[str, int]] = {}
    for sid, status, n in db.execute(stmt.group_by(Channel.site_id, Channel.status)):
        out.setdefault(sid, {})[status] = n
    return out


def zone_capacities(db: Session, site_ids: list[int]) -> dict[int, int]:
    caps: dict[int, int] = {}
    if not site_ids:
        return caps
    rows = db.execute(select(Zone.site_id, Zone.area_m2, Zone.per_capita_m2, Zone.capacity_override)
                      .where(Zone.site_id.in_(site_ids)))
    for sid, area, per_capita, override in rows:
        cap = override if override is not None else (int(area / per_capita) if area and per_capita else None)
        if cap is not None:
            caps[sid] = caps.get(sid, 0) + cap
    return caps


def open_work_orders(db: Session, site_ids: list[int]) -> dict[int, int] | None:
    """Open work orders per site, when camera health is installed (None otherwise)."""
    hm = optional("lookout.health.models")
    wo = getattr(hm, "WorkOrder", None) if hm else None
    if wo is None or not site_ids:
        return None
    site_col = getattr(wo, "site_id", None)
    status_col = getattr(wo, "status", None)
    if site_col is None or status_col is None:
        if status_col is None or not hasattr(wo, "channel_id"):
            return None
        stmt = (select(Channel.site_id, func.count()).join(Channel, Channel.id == wo.channel_id)
                .where(Channel.site_id.in_(site_ids)).group_by(Channel.site_id))
    else:
        stmt = select(site_col, func.count()).where(site_col.in_(site_ids)).group_by(site_col)
    stmt = stmt.where(status_col.notin_(("closed", "done", "resolved", "cancelled")))
    return dict(db.execute(stmt).all())


@dataclass
class SiteLive:
    present: int = 0
    entered_today: int = 0
    zones: dict[str, int] = field(default_factory=dict)
    level: str = "none"
    updated_at: datetime | None = None


def site_live(db: Session, sites: list[Site], now: datetime) -> dict[int, SiteLive]:
    """Latest occupancy and level per site, from the crowd-safety state when installed."""
    out = {s.id: SiteLive() for s in sites}
    sm = safety_models()
    if sm is None or not sites:
        return out
    tz_of = {s.id: s.timezone or "Asia/Shanghai" for s in sites}
    st = sm.SafetyState
    today_of: dict[str, str] = {}
    for site_id, level, occ, updated_at in db.execute(
            select(st.site_id, st.level, st.last_occupancy, st.updated_at).where(st.site_id.in_(list(out)))):
        live = out[site_id]
        live.level = level or "none"
        live.updated_at = updated_at
        occ = occ or {}
        live.present = int(occ.get("present") or 0)
        live.zones = {str(k): int(v) for k, v in (occ.get("zones") or {}).items()}
        tz = tz_of[site_id]
        if tz not in today_of:
            today_of[tz] = local_day_bounds(now, tz)[2]
        day = occ.get("day")
        live.entered_today = int(occ.get("entered_today") or 0) if day in (None, today_of[tz]) else 0
    return out


def open_incident_counts(db: Session, site_ids: list[int]) -> dict[int, int]:
    sm = safety_models()
    if sm is None or not site_ids:
        return {}
    inc = sm.Incident
    return dict(db.execute(select(inc.site_id, func.count()).where(inc.site_id.in_(site_ids), inc.status == "open")
                           .group_by(inc.site_id)).all())


@dataclass
class SiteRow:
    site: Site
    present: int
    entered_today: int
    instant_max: int | None
    daily_max: int | None
    capacity_pct: float | None
    level: str
    cameras: int
    online: int  # delivering video (a picture fault or not)
    online_rate: float | None
    faults: int
    incidents: int
    normal: int = 0  # online with a normal picture
    normal_rate: float | None = None

    def as_json(self) -> dict[str, Any]:
        s = self.site
        return {"id": s.id, "name": s.name, "lon": s.longitude, "lat": s.latitude, "level": self.level,
                "present": self.present, "pct": self.capacity_pct, "category": s.category,
                "boundary": s.boundary}


def capacity_pct(present: int, entered: int, instant: int | None, daily: int | None) -> float | None:
    ratios = []
    if instant:
        ratios.append(100.0 * present / instant)
    if daily:
        ratios.append(100.0 * entered / daily)
    return round(max(ratios), 1) if ratios else None


def site_rows(db: Session, user: User, sites: list[Site], now: datetime) -> list[SiteRow]:
    ids = [s.id for s in sites]
    counts = channel_status_counts(db, user, ids)
    caps = zone_capacities(db, ids)
    live = site_live(db, sites, now)
    wos = open_work_orders(db, ids)
    incs = open_incident_counts(db, ids)
    rows = []
    for s in sites:
        c = counts.get(s.id, {})
        total = sum(c.values())
        online, normal = sum(c.get(st, 0) for st in ONLINE_STATUSES), c.get("online", 0)
        faults = wos.get(s.id, 0) if wos is not None else c.get("offline", 0) + c.get("fault", 0)
        lv = live[s.id]
        instant = s.instant_max if s.instant_max is not None else caps.get(s.id)
        rows.append(SiteRow(s, lv.present, lv.entered_today, instant, s.daily_max,
                            capacity_pct(lv.present, lv.entered_today, instant, s.daily_max), lv.level,
                            total, online, rate(online, total), faults, incs.get(s.id, 0), normal, rate(normal, total)))
    return rows


# ---------------------------------------------------------------- site view
@dataclass
class ZoneRow:
    zone: Zone
    count: int | None
    density: float | None
    capacity: int | None
    pct: float | None
    cameras: int


def zone_rows(db: Session, user: User, site: Site, live: SiteLive) -> list[ZoneRow]:
    zones = db.execute(select(Zone).where(Zone.site_id == site.id).order_by(Zone.id)).scalars().all()
    cams = dict(db.execute(scope.channel_filter(select(Channel.zone_id, func.count()), user)
                           .where(Channel.site_id == site.id).group_by(Channel.zone_id)).all())
    rows = []
    for z in zones:
        n = live.zones.get(z.name)
        cap = z.capacity
        rows.append(ZoneRow(z, n, round(n / z.area_m2, 2) if n is not None and z.area_m2 else None, cap,
                            rate(n, cap) if n is not None and cap else None, cams.get(z.id, 0)))
    return rows


def site_channels(db: Session, user: User, site_id: int, page: int = 1, page_size: int = 100):
    stmt = (scope.channel_filter(select(Channel, Zone.name), user).outerjoin(Zone, Channel.zone_id == Zone.id)
            .where(Channel.site_id == site_id).order_by(Channel.id))
    return paged(db, stmt, page, page_size)


def today_curve(db: Session, site: Site, now: datetime) -> dict[str, Any]:
    """Hourly arrivals and cumulative visitors today (local hours), plus a forecast when one exists."""
    tz = site.timezone or "Asia/Shanghai"
    start, end, day = local_day_bounds(now, tz)
    hours = [start + timedelta(hours=h) for h in range(24)]
    actual: list[int | None] = [None] * 24
    sm = safety_models()
    if sm is not None:
        rows = db.execute(select(sm.HourlyHistory.hour_start, sm.HourlyHistory.arrivals)
                          .where(sm.HourlyHistory.site_id == site.id, sm.HourlyHistory.hour_start >= start,
                                 sm.HourlyHistory.hour_start < end)).all()
        by_hour: dict[int, int] = {}
        for hs, n in rows:
            hs = hs if hs.tzinfo else hs.replace(tzinfo=timezone.utc)
            idx = int((hs - start).total_seconds() // 3600)
            if 0 <= idx < 24:
                by_hour[idx] = by_hour.get(idx, 0) + int(n)
        now_idx = int((now - start).total_seconds() // 3600)
        total = 0
        for i in range(24):
            if i in by_hour:
                total += by_hour[i]
            if i <= now_idx and (by_hour or i == now_idx):
                actual[i] = total
    last = next((v for v in reversed(actual) if v is not None), 0)
    forecast = forecast_curve(db, site, now, start, last or 0)
    local_hours = [h.astimezone(ZoneInfo(tz)).strftime("%H:00") for h in hours]
    return {"day": day, "hours": local_hours, "ts": [int(h.timestamp()) for h in hours], "actual": actual,
            "forecast": forecast}


def forecast_curve(db: Session, site: Site, now: datetime, day_start: datetime, so_far: int) -> list[float | None] | None:
    """Cumulative visitors expected for the rest of the local day (the crowd-safety forecast
    of hourly arrivals added to what has arrived so far), when a forecast can be made."""
    fc = optional("lookout.safety.forecast")
    fn = getattr(fc, "forecast_for_site", None) if fc else None
    if fn is None:
        return None
    now_idx = int((now - day_start).total_seconds() // 3600)
    remaining = 24 - now_idx - 1
    if remaining <= 0:
        return None
    try:
        res = fn(db, site.id, hours=remaining, now=now)
    except (LookupError, ValueError):  # no history yet: nothing to forecast from
        return None
    except Exception:  # a forecast problem must not take the site page down
        import logging

        logging.getLogger(__name__).exception("forecast for site %s failed", site.id)
        return None
    out: list[float | None] = [None] * 24
    out[now_idx] = float(so_far)
    total = float(so_far)
    for h in res.get("hours", []):
        ts = datetime.fromisoformat(h["ts"]).astimezone(timezone.utc)
        idx = int((ts - day_start).total_seconds() // 3600)
        if now_idx < idx < 24:
            total += float(h.get("arrivals") or 0.0)
            out[idx] = round(total, 1)
    return out


def counted_live(db: Session, site: Site, now: datetime) -> SiteLive | None:
    """The counting capability's fused occupancy of one site now, when it has counts today."""
    fusion = optional("lookout.counting.fusion")
    fn = getattr(fusion, "site_occupancy", None) if fusion else None
    if fn is None:
        return None
    try:
        snap = fn(db, site.id, now)
    except Exception:  # counting trouble must not take the site page down
        import logging

        logging.getLogger(__name__).exception("occupancy of site %s failed", site.id)
        return None
    if not (snap.present or snap.entered_today or snap.zones):
        return None
    names = getattr(snap, "zone_names", {}) or {}
    return SiteLive(present=snap.present, entered_today=snap.entered_today,
                    zones={names.get(z, str(z)): n for z, n in snap.zones.items()}, updated_at=snap.ts)


# ---------------------------------------------------------------- channels and ledger
def channel_search(db: Session, user: User, *, q: str | None = None, site_id: int | None = None,
                   status: str | None = None, statuses: tuple[str, ...] | None = None) -> Select:
    stmt = (scope.channel_filter(select(Channel, Site.name, Device.code, Zone.name), user)
            .join(Site, Channel.site_id == Site.id)
            .outerjoin(Device, Channel.device_id == Device.id)
            .outerjoin(Zone, Channel.zone_id == Zone.id))
    if q:
        stmt = stmt.where(or_(Channel.name.contains(q), Channel.code.startswith(q), Site.name.contains(q)))
    if site_id:
        stmt = stmt.where(Channel.site_id == site_id)
    if status:
        stmt = stmt.where(Channel.status == status)
    elif statuses:
        stmt = stmt.where(Channel.status.in_(statuses))
    return stmt.order_by(Channel.site_id, Channel.code)


def site_options(db: Session, user: User) -> list[tuple[int, str]]:
    return [(i, n) for i, n in db.execute(scope.site_filter(select(Site.id, Site.name), user).order_by(Site.name))]


# ---------------------------------------------------------------- compliance
@dataclass
class ComplianceRow:
    key: str
    label: str
    channels: int = 0
    networked: int = 0
    online: int = 0  # delivering video
    normal: int = 0  # delivering video with a normal picture
    retained: int = 0
    zones: int = 0
    zones_covered: int = 0
    key_site: bool = False
    # over a period, from camera health's history (``timed``); else the rates are of the moment
    timed: bool = False
    observed_s: float = 0.0
    online_s: float = 0.0
    normal_s: float = 0.0

    @property
    def networking_rate(self) -> float | None:
        return rate(self.networked, self.channels)

    @property
    def online_rate(self) -> float | None:
        return seconds_rate(self.online_s, self.observed_s) if self.timed else rate(self.online, self.channels)

    @property
    def normal_rate(self) -> float | None:
        return seconds_rate(self.normal_s, self.observed_s) if self.timed else rate(self.normal, self.channels)

    @property
    def retention_rate(self) -> float | None:
        return rate(self.retained, self.channels)

    @property
    def coverage_rate(self) -> float | None:
        return rate(self.zones_covered, self.zones)

    @property
    def online_target(self) -> float:
        return ONLINE_TARGET_KEY if self.key_site else ONLINE_TARGET

    def add(self, other: ComplianceRow) -> None:
        for f in ("channels", "networked", "online", "normal", "retained", "zones", "zones_covered", "observed_s",
                  "online_s", "normal_s"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        self.timed = self.timed or other.timed


def seconds_rate(part: float, whole: float) -> float | None:
    return None if whole <= 0 else round(100.0 * part / whole, 1)


def period_seconds(db: Session, channel_ids: list[int], first: date, last: date, now: datetime, tz: str
                   ) -> dict[int, Any] | None:
    """Per channel, its seconds online, normal and observed over the local days [first, last] from camera
    health's daily history (``health.rates.Seconds``); None: camera health not installed."""
    rates = optional("lookout.health.rates")
    if rates is None:
        return None
    try:
        return rates.channel_period(db, first, last, now, ZoneInfo(tz), channel_ids)
    except Exception:  # a schema mismatch with camera health must not take the page down
        log.exception("online history could not be read")
        return None


def footage_days(db: Session, user: User, now: datetime) -> dict[int, float] | None:
    """Days of recorded video per channel (oldest segment to now), when recording is installed."""
    mm = optional("lookout.media.models")
    seg = getattr(mm, "RecordingSegment", None) if mm else None
    if seg is None:
        return None
    stmt = select(seg.channel_id, func.min(seg.start)).where(
        seg.channel_id.in_(scope.channel_filter(select(Channel.id), user))).group_by(seg.channel_id)
    out = {}
    for cid, oldest in db.execute(stmt):
        if oldest is not None:
            oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=timezone.utc)
            out[cid] = (now - oldest).total_seconds() / 86400.0
    return out


def compliance(db: Session, user: User, now: datetime, period: tuple[date, date] | None = None, tz: str = "Asia/Shanghai"
               ) -> tuple[list[ComplianceRow], list[ComplianceRow], ComplianceRow]:
    """Networking, online, normal, retention and coverage per site and per category, and the total. The
    online and normal rates are over ``period`` (local days, inclusive) from camera health's history
    when it keeps one, else of the moment (``ComplianceRow.timed`` says which)."""
    sites = db.execute(visible_sites(db, user)).scalars().all()
    by_site = {s.id: ComplianceRow(str(s.id), s.name, key_site=bool(s.key_unit)) for s in sites}
    cat_of = {s.id: s.category for s in sites}
    days = footage_days(db, user, now) or {}
    stmt = scope.channel_filter(
        select(Channel.id, Channel.site_id, Channel.status, Channel.key_area,
               (Channel.main_url.isnot(None) | Channel.sub_url.isnot(None) | Channel.device_id.isnot(None))), user)
    channels = db.execute(stmt).all()
    timed = period_seconds(db, [c[0] for c in channels], *period, now, tz) if period and channels else None
    for cid, sid, status, key_area, networked in channels:
        row = by_site.get(sid)
        if row is None:
            continue
        if timed is not None:
            sec = timed.get(cid)
            row.timed = True
            if sec is not None:
                row.observed_s, row.online_s, row.normal_s = (row.observed_s + sec.observed, row.online_s + sec.online,
                                                              row.normal_s + sec.normal)
        row.channels += 1
        row.networked += 1 if networked else 0
        row.online += 1 if status in ONLINE_STATUSES else 0
        row.normal += 1 if status == "online" else 0
        required = default_retention_days(cat_of[sid], bool(key_area))
        row.retained += 1 if days.get(cid, 0.0) >= required else 0
    ids = list(by_site)
    covered = set(db.execute(scope.channel_filter(select(Channel.zone_id).distinct(), user)
                             .where(Channel.zone_id.isnot(None))).scalars())
    if ids:
        for zid, sid in db.execute(select(Zone.id, Zone.site_id).where(Zone.site_id.in_(ids))):
            by_site[sid].zones += 1
            by_site[sid].zones_covered += 1 if zid in covered else 0
    cats: dict[str, ComplianceRow] = {}
    total = ComplianceRow("all", "all")
    for sid, row in by_site.items():
        cats.setdefault(cat_of[sid], ComplianceRow(cat_of[sid], cat_of[sid])).add(row)
        total.add(row)
    return list(by_site.values()), sorted(cats.values(), key=lambda r: r.key), total


# ---------------------------------------------------------------- org units (for scopes and maps)
def org_units(db: Session, user: User) -> list[OrgUnit]:
    return list(db.execute(scope.org_filter(select(OrgUnit), user).order_by(OrgUnit.path)).scalars())
