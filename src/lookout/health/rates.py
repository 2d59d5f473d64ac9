"""Online rate (在线率), normal rate (正常率), daily history, networking rate (联网率) and zone coverage.

Definitions (all pure functions below, time passed in):

- A channel is *online* while its latest state change (from stream probes or GB/T 28181, see
  :mod:`lookout.health.status`) says ``online`` or ``fault``, *offline* while it says ``offline``, and
  *unobserved* before its first change or while ``unknown``.
- **Daily history**: per channel and local day (the instance's time zone), seconds online, offline and
  unobserved; the day's online fraction = online / (online + offline). Days that have ended are stored
  in ``channel_daily_online`` by :func:`refresh_daily`; the rest is computed from the changes on demand.
- A channel online is *faulty* while its state is ``fault`` (a patrol found a picture fault that
  counts — without a reference picture only those reliable without one, as for work orders,
  ``workorders.trusted_faults`` — or GB/T 28181 reported video lost or a defect; see
  :mod:`lookout.health.status`), *normal* while it is ``online``.
- **Online rate** of a group (site, district, category or resource class) over a date range =
  Σ online seconds / Σ observed seconds of its channels. Reported apart for *key* channels (a
  ``key_area`` channel, or any channel of a ``key_unit`` site; target 98 %) and *industry* channels
  (the rest; target 95 %), per seed 003.
- **Normal rate** (点位正常率, the measure seed 003 sets the 98 % / 95 % targets on) = Σ normal seconds /
  Σ observed seconds: online *and* with a picture the patrol found no fault in. Reported beside the
  online rate, key and industry apart, against the same targets (``normal_rate``, ``normal_meets``).
- **Networking rate** = channels with a stream URL that were seen online at least once / channels in
  the ledger.
- **Zone coverage** = zones of a site with at least one networked channel / zones of the site.

JSON endpoints (``lookout.health.api``): ``GET /api/v1/health/online-rates``, ``/online-trend``,
``/networking``, ``/compliance``. The O&M page calls :func:`online_rate_trend`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from lookout.health.models import ChannelDailyOnline
from lookout.health.status import FAULT_STATE, HistoryEntry, is_online, load_history
from lookout.registry.models import Channel, OrgUnit, Site

TARGET_KEY = 0.98
TARGET_INDUSTRY = 0.95
GROUPINGS = ("site", "district", "category", "resource_class", "all")


# --------------------------------------------------------------------------- pure logic
@dataclass(frozen=True)
class Seconds:
    online: float = 0.0
    offline: float = 0.0
    unknown: float = 0.0
    fault: float = 0.0  # of the online seconds, those with a faulty picture

    @property
    def observed(self) -> float:
        return self.online + self.offline

    @property
    def normal(self) -> float:
        return self.online - self.fault

    @property
    def fraction(self) -> float | None:
        return self.online / self.observed if self.observed > 0 else None

    @property
    def normal_fraction(self) -> float | None:
        return self.normal / self.observed if self.observed > 0 else None

    def __add__(self, o: Seconds) -> Seconds:
        return Seconds(self.online + o.online, self.offline + o.offline, self.unknown + o.unknown,
                       self.fault + o.fault)


#: a state change: (time, online? — None unobserved) or (time, online?, faulty picture?)
Change = tuple[datetime, bool | None] | tuple[datetime, bool | None, bool]


def online_seconds(changes: Sequence[Change], start: datetime, end: datetime) -> Seconds:
    """Seconds online/offline/unobserved in [start, end) given changes sorted by time, and of the
    online seconds those with a faulty picture.

    The state before the first change is unobserved; a change at or before ``start`` sets the state
    the window opens in.
    """
    if end <= start:
        return Seconds()
    acc = {True: 0.0, False: 0.0, None: 0.0}
    fault = 0.0
    state: bool | None = None
    faulty = False
    t = start
    for at, online, *picture in changes:
        if at <= start:
            state, faulty = online, bool(picture and picture[0])
            continue
        if at >= end:
            break
        span = (at - t).total_seconds()
        acc[state] += span
        fault += span if state and faulty else 0.0
        t, state, faulty = at, online, bool(picture and picture[0])
    span = (end - t).total_seconds()
    acc[state] += span
    fault += span if state and faulty else 0.0
    return Seconds(acc[True], acc[False], acc[None], fault)


@dataclass(frozen=True)
class DayOnline:
    day: date
    online_s: float
    offline_s: float
    unknown_s: float
    complete: bool  # the day had ended at ``now``
    fault_s: float = 0.0  # of the online seconds, those with a faulty picture

    @property
    def fraction(self) -> float | None:
        return self.seconds.fraction

    @property
    def seconds(self) -> Seconds:
        return Seconds(self.online_s, self.offline_s, self.unknown_s, self.fault_s)


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a local day, in UTC."""
    s = datetime.combine(day, time(0), tz)
    e = datetime.combine(day + timedelta(days=1), time(0), tz)
    return s.astimezone(timezone.utc), e.astimezone(timezone.utc)


def daily_online(changes: Sequence[Change], first: date, last: date, tz: ZoneInfo,
                 now: datetime) -> list[DayOnline]:
    """Per local day from ``first`` to ``last`` (inclusive): seconds online/offline/unobserved up to ``now``.

    Days that start after ``now`` are left out; today is cut at ``now`` and marked incomplete.
    """
    out = []
    d = first
    while d <= last:
        s, e = day_bounds(d, tz)
        if s >= now:
            break
        sec = online_seconds(changes, s, min(e, now))
        out.append(DayOnline(d, sec.online, sec.offline, sec.unknown, complete=e <= now, fault_s=sec.fault))
        d += timedelta(days=1)
    return out


def local_day(t: datetime, tz: ZoneInfo) -> date:
    return t.astimezone(tz).date()


@dataclass(frozen=True)
class ChannelFacts:
    """What grouping and targets need to know of a channel."""

    channel_id: int
    site_id: int
    site_name: str
    district_id: int | None
    district_name: str | None
    category: str
    resource_class: int
    key: bool  # key public area: the channel's key_area flag or its site's key_unit flag
    has_url: bool = True
    zone_id: int | None = None


def target_for(key: bool) -> float:
    return TARGET_KEY if key else TARGET_INDUSTRY


def group_key(f: ChannelFacts, by: str) -> tuple[Any, str]:
    """(group id, group label) of a channel for a grouping."""
    if by == "site":
        return f.site_id, f.site_name
    if by == "district":
        return f.district_id, f.district_name or "—"
    if by == "category":
        return f.category, f.category
    if by == "resource_class":
        return f.resource_class, str(f.resource_class)
    if by == "all":
        return "all", "all"
    raise ValueError(f"unknown grouping {by!r}: use one of {', '.join(GROUPINGS)}")


def _rates(sec: Seconds, target: float | None) -> dict[str, Any]:
    """A part's or group's seconds, online and normal rates (and, given a target, whether each meets it)."""
    rate, normal = sec.fraction, sec.normal_fraction
    out = {"online_s": round(sec.online, 1), "normal_s": round(sec.normal, 1), "observed_s": round(sec.observed, 1),
           "unobserved_s": round(sec.unknown, 1), "rate": None if rate is None else round(rate, 5),
           "normal_rate": None if normal is None else round(normal, 5)}
    if target is not None:
        out.update(target=target, meets=None if rate is None else rate >= target,
                   normal_meets=None if normal is None else normal >= target)
    return out


def _part(channels: int, sec: Seconds, target: float) -> dict[str, Any]:
    return {"channels": channels, **_rates(sec, target)}


def _all_met(parts: Sequence[dict[str, Any]], key: str) -> bool | None:
    verdicts = [p[key] for p in parts if p["channels"]]
    return None if any(v is None for v in verdicts) else all(verdicts)


def online_rate_groups(facts: Iterable[ChannelFacts], seconds: dict[int, Seconds], by: str) -> list[dict[str, Any]]:
    """Online rate per group, with the key (98 %) and industry (95 %) parts and whether both targets are met.

    ``seconds`` maps channel id → its seconds over the period; a channel absent from it counts as
    unobserved (it is still counted among the group's channels).
    """
    groups: dict[Any, dict[str, Any]] = {}
    for f in facts:
        gid, label = group_key(f, by)
        g = groups.setdefault(gid, {"id": gid, "name": label, "key": [0, Seconds()], "industry": [0, Seconds()]})
        part = g["key" if f.key else "industry"]
        part[0] += 1
        part[1] = part[1] + seconds.get(f.channel_id, Seconds())
    out = []
    for g in groups.values():
        total = g["key"][1] + g["industry"][1]
        n = g["key"][0] + g["industry"][0]
        key = _part(g["key"][0], g["key"][1], TARGET_KEY)
        ind = _part(g["industry"][0], g["industry"][1], TARGET_INDUSTRY)
        out.append({"id": g["id"], "name": g["name"], "channels": n, **_rates(total, None), "key": key,
                    "industry": ind, "meets": _all_met((key, ind), "meets"),
                    "normal_meets": _all_met((key, ind), "normal_meets")})
    out.sort(key=lambda g: (str(g["name"]), str(g["id"])))
    return out


def networking_groups(facts: Iterable[ChannelFacts], ever_online: set[int], by: str) -> list[dict[str, Any]]:
    """联网率 per group: channels with a stream URL seen online at least once / channels in the ledger."""
    groups: dict[Any, dict[str, Any]] = {}
    for f in facts:
        gid, label = group_key(f, by)
        g = groups.setdefault(gid, {"id": gid, "name": label, "ledger": 0, "with_url": 0, "networked": 0})
        g["ledger"] += 1
        g["with_url"] += int(f.has_url)
        g["networked"] += int(f.has_url and f.channel_id in ever_online)
    for g in groups.values():
        g["rate"] = round(g["networked"] / g["ledger"], 5) if g["ledger"] else None
    return sorted(groups.values(), key=lambda g: (str(g["name"]), str(g["id"])))


def zone_coverage(zones: Iterable[tuple[int, int]], facts: Iterable[ChannelFacts], ever_online: set[int]
                  ) -> dict[int, dict[str, Any]]:
    """Per site: zones with at least one networked channel / zones. ``zones`` are (site id, zone id)."""
    covered = {f.zone_id for f in facts if f.zone_id is not None and f.has_url and f.channel_id in ever_online}
    out: dict[int, dict[str, Any]] = {}
    for site_id, zone_id in zones:
        s = out.setdefault(site_id, {"zones": 0, "covered": 0})
        s["zones"] += 1
        s["covered"] += int(zone_id in covered)
    for s in out.values():
        s["rate"] = round(s["covered"] / s["zones"], 5) if s["zones"] else None
    return out


# --------------------------------------------------------------------------- adapters
def _ids(session: Session, channel_ids: Select | Sequence[int] | None) -> list[int] | None:
    if channel_ids is None:
        return None
    if isinstance(channel_ids, Select):
        return list(session.execute(channel_ids).scalars())
    return list(channel_ids)


def channel_facts(session: Session, channel_ids: Select | Sequence[int] | None = None) -> list[ChannelFacts]:
    """Facts of the channels (all, or those ids / that id subquery), with each site's district."""
    units = {u.id: u for u in session.execute(select(OrgUnit)).scalars()}

    def district_of(org_id: int) -> OrgUnit | None:
        u = units.get(org_id)
        if u is None:
            return None
        for part in [p for p in (u.path or "").split("/") if p] + [str(u.id)]:
            a = units.get(int(part)) if part.isdigit() else None
            if a is not None and a.tier == "district":
                return a
        return None

    stmt = select(Channel.id, Channel.site_id, Site.name, Site.org_unit_id, Site.category, Channel.resource_class,
                  Channel.key_area, Site.key_unit, Channel.main_url, Channel.sub_url, Channel.zone_id
                  ).join(Site, Site.id == Channel.site_id)
    ids = _ids(session, channel_ids)
    if ids is not None:
        stmt = stmt.where(Channel.id.in_(ids))
    out = []
    for cid, sid, sname, org, cat, rc, key_area, key_unit, main, sub, zone in session.execute(stmt):
        d = district_of(org)
        out.append(ChannelFacts(cid, sid, sname, d.id if d else None, d.name if d else None, cat, rc,
                                bool(key_area or key_unit), bool(main or sub), zone))
    return out


def as_changes(entries: Sequence[HistoryEntry]) -> list[Change]:
    return [(e.at, is_online(e.status), e.status == FAULT_STATE) for e in entries]


def compute_days(session: Session, ids: list[int] | None, first: date, last: date, tz: ZoneInfo, now: datetime
                 ) -> dict[int, list[DayOnline]]:
    """Days computed from the state changes (nothing read from the stored history)."""
    start, _ = day_bounds(first, tz)
    _, end = day_bounds(last, tz)
    hist = load_history(session, ids, start, min(end, now))
    out = {cid: daily_online(as_changes(entries), first, last, tz, now) for cid, entries in hist.items()}
    for cid in ids or ():
        if cid not in out:  # never observed in the window: all its time is unobserved
            out[cid] = daily_online([], first, last, tz, now)
    return out


def _stored(session: Session, first: date, last: date, ids: list[int] | None) -> Select:
    """Complete stored days in [first, last] (a day stored before faulty seconds were kept, ``fault_s``
    NULL, counts as not stored: it is computed again from the changes)."""
    c = ChannelDailyOnline
    stmt = select(c.channel_id, c.day, c.online_s, c.offline_s, c.unknown_s, c.fault_s).where(
        c.day >= first, c.day <= last, c.complete.is_(True), c.fault_s.is_not(None))
    return stmt if ids is None else stmt.where(c.channel_id.in_(ids))


def _channel_count(session: Session, ids: list[int] | None) -> int:
    return len(ids) if ids is not None else session.execute(select(func.count()).select_from(Channel)).scalar_one()


def _first_unstored(first: date, last: date, channels: int, stored_per_day: dict[date, int]) -> date:
    """The first day from ``first`` that not every one of ``channels`` has stored: the days before it
    need no computing from the changes (a month's figures then read only the days since the last refresh)."""
    day = first
    while day <= last and channels and stored_per_day.get(day, 0) >= channels:
        day += timedelta(days=1)
    return day


def channel_days(session: Session, first: date, last: date, now: datetime, tz: ZoneInfo,
                 channel_ids: Select | Sequence[int] | None = None) -> dict[int, list[DayOnline]]:
    """Per channel, its days in [first, last]: stored complete days, the rest computed from the changes."""
    ids = _ids(session, channel_ids)
    stored: dict[int, dict[date, DayOnline]] = defaultdict(dict)
    per_day: dict[date, int] = defaultdict(int)
    for cid, day, on, off, unk, fault in session.execute(_stored(session, first, last, ids)):
        stored[cid][day] = DayOnline(day, on, off, unk, True, fault)
        per_day[day] += 1
    start = _first_unstored(first, last, _channel_count(session, ids), per_day)
    computed = compute_days(session, ids, start, last, tz, now) if start <= last else {}
    out: dict[int, list[DayOnline]] = {}
    for cid in set(stored) | set(computed):
        days = {d.day: d for d in computed.get(cid, [])}
        days.update(stored.get(cid, {}))
        out[cid] = [days[d] for d in sorted(days)]
    return out


def channel_period(session: Session, first: date, last: date, now: datetime, tz: ZoneInfo,
                   channel_ids: Select | Sequence[int] | None = None) -> dict[int, Seconds]:
    """Per channel, its seconds over [first, last] (what ``period_seconds(channel_days(…))`` gives): the
    stored days summed by the database, the days after them computed from the changes."""
    ids = _ids(session, channel_ids)
    days = _stored(session, first, last, ids).subquery()
    per_day = dict(session.execute(select(days.c.day, func.count()).group_by(days.c.day)).all())
    start = _first_unstored(first, last, _channel_count(session, ids), per_day)
    out: dict[int, Seconds] = defaultdict(Seconds)
    if start > first:
        sub = _stored(session, first, start - timedelta(days=1), ids).subquery()
        for cid, on, off, unk, fault in session.execute(select(sub.c.channel_id, func.sum(sub.c.online_s),
                                                               func.sum(sub.c.offline_s), func.sum(sub.c.unknown_s),
                                                               func.sum(sub.c.fault_s)).group_by(sub.c.channel_id)):
            out[cid] = Seconds(on or 0.0, off or 0.0, unk or 0.0, fault or 0.0)
    if start <= last:
        for cid, total in period_seconds(compute_days(session, ids, start, last, tz, now)).items():
            out[cid] = out[cid] + total
    return dict(out)


def refresh_daily(session: Session, first: date, last: date, now: datetime, tz: ZoneInfo,
                  channel_ids: Sequence[int] | None = None) -> int:
    """Store the daily history of [first, last] computed from the changes (upsert); returns rows written.

    Derived data (recomputable from the changes), so no audit record.
    """
    ids = list(channel_ids) if channel_ids is not None else list(session.execute(select(Channel.id)).scalars())
    computed = compute_days(session, ids, first, last, tz, now)
    existing = {(r.channel_id, r.day): r for r in session.execute(
        select(ChannelDailyOnline).where(ChannelDailyOnline.day >= first, ChannelDailyOnline.day <= last)).scalars()}
    n = 0
    for cid, days in computed.items():
        for d in days:
            row = existing.get((cid, d.day))
            if row is None:
                row = ChannelDailyOnline(channel_id=cid, day=d.day)
                session.add(row)
            row.online_s, row.offline_s, row.unknown_s, row.fault_s = d.online_s, d.offline_s, d.unknown_s, d.fault_s
            row.fraction, row.complete, row.computed_at = d.fraction, d.complete, now
            n += 1
    return n


def period_seconds(days: dict[int, list[DayOnline]]) -> dict[int, Seconds]:
    out = {}
    for cid, ds in days.items():
        total = Seconds()
        for d in ds:
            total = total + d.seconds
        out[cid] = total
    return out


def online_rates(session: Session, first: date, last: date, now: datetime, tz: ZoneInfo, by: str = "site",
                 channel_ids: Select | Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Online rate per group over the local days [first, last] (see the module docstring)."""
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}: use one of {', '.join(GROUPINGS)}")
    facts = channel_facts(session, channel_ids)
    return online_rate_groups(facts, channel_period(session, first, last, now, tz, [f.channel_id for f in facts]), by)


def online_rate_trend(session: Session, start: datetime, end: datetime, channel_ids: Select | Sequence[int] | None = None,
                      tz: ZoneInfo | None = None) -> list[dict[str, Any]]:
    """Online rate per local day from ``start`` to ``end`` (``end`` is "now").

    ``[{"day": "2026-11-22", "rate": 97.5 (percent, as the web pages show rates), "fraction": 0.975,
    "normal_rate": 96.1 (percent), "online_s", "normal_s", "observed_s", "unobserved_s"}]``; the rates and
    ``fraction`` are None for a day never observed.
    """
    tz = tz or _default_tz()
    first, last = local_day(start, tz), local_day(end, tz)
    days = channel_days(session, first, last, end, tz, channel_ids)
    per_day: dict[date, Seconds] = defaultdict(Seconds)
    for ds in days.values():
        for d in ds:
            per_day[d.day] = per_day[d.day] + d.seconds
    out = []
    for day in sorted(per_day):
        s = per_day[day]
        f, n = s.fraction, s.normal_fraction
        out.append({"day": day.isoformat(), "rate": None if f is None else round(100.0 * f, 2), "fraction": f,
                    "normal_rate": None if n is None else round(100.0 * n, 2), "online_s": round(s.online, 1),
                    "normal_s": round(s.normal, 1), "observed_s": round(s.observed, 1),
                    "unobserved_s": round(s.unknown, 1)})
    return out


def ever_online(session: Session) -> set[int]:
    """Channels with at least one online (or fault) state in their history, or online now."""
    from sqlalchemy import union

    from lookout.health.models import ChannelStatusChange
    from lookout.health.status import ONLINE_STATES, _gb_events

    parts = [select(ChannelStatusChange.channel_id).where(ChannelStatusChange.status.in_(ONLINE_STATES)),
             select(Channel.id).where(Channel.status.in_(ONLINE_STATES))]
    gb = _gb_events()
    if gb is not None:
        parts.append(select(gb.channel_id).where(gb.channel_id.is_not(None), gb.status.in_(ONLINE_STATES)))
    return {r for r in session.execute(union(*parts)).scalars() if r is not None}


def networking_rates(session: Session, by: str = "site", channel_ids: Select | Sequence[int] | None = None
                     ) -> list[dict[str, Any]]:
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}: use one of {', '.join(GROUPINGS)}")
    return networking_groups(channel_facts(session, channel_ids), ever_online(session), by)


def compliance(session: Session, first: date, last: date, now: datetime, tz: ZoneInfo,
               channel_ids: Select | Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Per site: online rate (key / industry against targets), networking rate and zone coverage."""
    from lookout.registry.models import Zone

    facts = channel_facts(session, channel_ids)
    seconds = channel_period(session, first, last, now, tz, [f.channel_id for f in facts])
    online = {g["id"]: g for g in online_rate_groups(facts, seconds, "site")}
    seen = ever_online(session)
    net = {g["id"]: g for g in networking_groups(facts, seen, "site")}
    site_ids = sorted(online)
    zones = session.execute(select(Zone.site_id, Zone.id).where(Zone.site_id.in_(site_ids))).all() if site_ids else []
    cov = zone_coverage([(s, z) for s, z in zones], facts, seen)
    return [{"site_id": sid, "site": online[sid]["name"], "online": online[sid], "networking": net.get(sid),
             "coverage": cov.get(sid)} for sid in site_ids]


def _default_tz() -> ZoneInfo:
    from lookout.settings import get_settings

    return ZoneInfo(get_settings().timezone)


def as_json(obj: Any) -> Any:
    if isinstance(obj, (DayOnline, Seconds)):
        return asdict(obj)
    return obj
