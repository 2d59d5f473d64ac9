"""The live path: occupancy in → level, incident, automatic actions, alerts, bus event out.

``SafetyService.on_occupancy`` is the one entry for live counts, drills and ``lookout
replay``: it grades the snapshot with the pure engine (state kept in memory, persisted
whenever it changes), and on a level change writes the incident, its checklist, the
automatic actions and the duty alert in one transaction (through the outbox), then
publishes ``site.<id>.level`` on the bus. ``tick`` advances time without new counts
(de-escalation holds, alert escalation) and flushes hourly history.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from lookout.registry.models import Site, Zone
from lookout.runtime.bus import bus as default_bus
from lookout.safety import duty, incidents
from lookout.safety.engine import (
    COLOURS,
    NAMES_ZH,
    RANK,
    EngineState,
    Evaluation,
    Limits,
    Occupancy,
    Thresholds,
    Transition,
    evaluate,
)
from lookout.safety.models import HourlyHistory, Incident, SafetySiteConfig, SafetyState
from lookout.safety.outbox import enqueue
from lookout.safety.plans import SCREEN_TEXT, auto_actions
from lookout.store.db import session_scope

log = logging.getLogger(__name__)


@dataclass
class SiteRuntime:
    state: EngineState
    limits: Limits
    thresholds: Thresholds
    name: str
    tz: str
    loaded_at: datetime
    last_occ: Occupancy | None = None
    last_eval: Evaluation | None = None
    persisted: dict[str, Any] | None = None
    hourly: dict[datetime, list[int]] = field(default_factory=dict)  # hour start (UTC) -> [arrivals, peak]
    last_entered: int | None = None
    last_day: str | None = None
    history: list[tuple[datetime, float]] = field(default_factory=list)  # (ts, max ratio) for trends
    zone_names: dict[str, str] = field(default_factory=dict)  # zone id -> name
    occ_persisted_at: datetime | None = None


def load_limits(session: Session, site: Site) -> tuple[Limits, Thresholds]:
    zones = {
        z.name: z.capacity
        for z in session.execute(select(Zone).where(Zone.site_id == site.id)).scalars()
        if z.capacity is not None
    }
    instant = site.instant_max
    if instant is None and zones:
        instant = sum(zones.values())
    return Limits(instant_max=instant, daily_max=site.daily_max, zones=zones), Thresholds.from_dict(site.thresholds)


def zone_names(session: Session, site_id: int) -> dict[str, str]:
    return {str(z.id): z.name for z in session.execute(select(Zone).where(Zone.site_id == site_id)).scalars()}


def occupancy_from_payload(payload: dict[str, Any], zone_names: dict[str, str] | None = None) -> Occupancy:
    """Accept the counting snapshot (present, entered_today, zones as {id|name: n} or a list
    of {"zone_id"|"name", "count"|"present"}) and name zones as the registry does."""
    names = dict(zone_names or {})
    names.update({str(k): str(v) for k, v in (payload.get("zone_names") or {}).items()})
    zones: dict[str, int] = {}
    raw = payload.get("zones") or {}
    items = raw.items() if isinstance(raw, dict) else (
        (z.get("name") or z.get("zone_id") or z.get("id"), z.get("count", z.get("present", 0))) for z in raw if isinstance(z, dict)
    )
    for k, v in items:
        if k is None or v is None:
            continue
        if isinstance(v, dict):
            v = v.get("count", v.get("present", 0))
        zones[names.get(str(k), str(k))] = int(v)
    return Occupancy(
        present=int(payload.get("present") or 0),
        entered_today=int(payload.get("entered_today") or 0),
        zones=zones,
        day=payload.get("day"),
    )


def business_day(now: datetime, tz: str, opening: str = "00:00") -> str:
    """The business day a moment belongs to: local date, days starting at ``opening``."""
    h, m = (int(x) for x in opening.split(":"))
    local = now.astimezone(ZoneInfo(tz)) - timedelta(hours=h, minutes=m)
    return local.date().isoformat()


class SafetyService:
    def __init__(
        self,
        url: str,
        *,
        publish: Callable[[str, dict[str, Any]], Any] | None = None,
        drill: bool = False,
        limits_ttl: timedelta = timedelta(seconds=10),
        history_window: timedelta = timedelta(minutes=30),
        occupancy_every: timedelta = timedelta(seconds=5),
    ) -> None:
        self.occupancy_every = occupancy_every
        self.url = url
        self.publish = publish or default_bus.publish
        self.drill = drill
        self.limits_ttl = limits_ttl
        self.history_window = history_window
        self._sites: dict[int, SiteRuntime] = {}
        self._lock = threading.RLock()

    # ---------------------------------------------------------------- loading
    def _runtime(self, site_id: int, now: datetime) -> SiteRuntime:
        rt = self._sites.get(site_id)
        if rt is not None and now - rt.loaded_at < self.limits_ttl and rt.loaded_at <= now:
            return rt
        with session_scope(self.url) as s:
            site = s.get(Site, site_id)
            if site is None:
                raise LookupError(f"site {site_id} not found")
            limits, thr = load_limits(s, site)
            if rt is None:
                row = s.get(SafetyState, site_id)
                state = EngineState.from_dict(row.state) if row and row.state else EngineState()
                rt = SiteRuntime(state, limits, thr, site.name, site.timezone or "Asia/Shanghai", now, persisted=state.to_dict())
                rt.zone_names = zone_names(s, site_id)
                if row and row.last_occupancy:
                    rt.last_occ = Occupancy.from_dict(row.last_occupancy)
                self._sites[site_id] = rt
            else:
                rt.limits, rt.thresholds, rt.name, rt.tz, rt.loaded_at = limits, thr, site.name, site.timezone or "Asia/Shanghai", now
                rt.zone_names = zone_names(s, site_id)
        return rt

    def invalidate(self, site_id: int | None = None) -> None:
        """Reload limits on the next snapshot (after a capacity edit)."""
        with self._lock:
            for sid, rt in self._sites.items():
                if site_id is None or sid == site_id:
                    rt.loaded_at = datetime.min.replace(tzinfo=timezone.utc)

    # ---------------------------------------------------------------- live entry
    def on_occupancy(self, site_id: int, occ: Occupancy, now: datetime) -> list[Transition]:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        with self._lock:
            rt = self._runtime(site_id, now)
            if occ.day is None:
                occ = Occupancy(occ.present, occ.entered_today, occ.zones, business_day(now, rt.tz))
            self._track_history(rt, occ, now)
            ev = evaluate(rt.state, occ, rt.limits, rt.thresholds, now)
            rt.last_occ = occ
            return self._commit(site_id, rt, ev, occ, now)

    def tick(self, now: datetime) -> list[Transition]:
        """Advance time: due de-escalations, alert escalations, history flush."""
        out: list[Transition] = []
        with self._lock:
            for site_id, rt in list(self._sites.items()):
                if rt.last_occ is not None and rt.state.last_eval is not None and now > rt.state.last_eval:
                    ev = evaluate(rt.state, rt.last_occ, rt.limits, rt.thresholds, now)
                    out += self._commit(site_id, rt, ev, rt.last_occ, now)
            with session_scope(self.url) as s:
                duty.escalate_due(s, now)
                self._flush_history(s)
        return out

    def next_deadline(self) -> datetime | None:
        ds = [rt.last_eval.next_check for rt in self._sites.values() if rt.last_eval and rt.last_eval.next_check]
        return min(ds) if ds else None

    def trend(self, site_id: int, now: datetime) -> dict[str, Any] | None:
        """Time to the next threshold from the recent trend ("orange in about 40 min")."""
        from lookout.safety.forecast import time_to_threshold

        rt = self._sites.get(site_id)
        if rt is None:
            return None
        thr = rt.thresholds
        return time_to_threshold(list(rt.history), now, (("yellow", thr.yellow), ("orange", thr.orange), ("red", thr.red)))

    def snapshot(self, site_id: int) -> dict[str, Any] | None:
        rt = self._sites.get(site_id)
        if rt is None:
            return None
        return {
            "level": rt.state.level,
            "ratios": {k: m.ratio for k, m in rt.state.measures.items()},
            "occupancy": rt.last_occ.to_dict() if rt.last_occ else None,
            "history": [(t.isoformat(), r) for t, r in rt.history],
        }

    # ---------------------------------------------------------------- internals
    def _track_history(self, rt: SiteRuntime, occ: Occupancy, now: datetime) -> None:
        hour = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
        slot = rt.hourly.setdefault(hour, [0, 0])
        if rt.last_entered is not None:  # the first snapshot has no baseline
            new_day = occ.day != rt.last_day
            slot[0] += occ.entered_today if new_day else max(0, occ.entered_today - rt.last_entered)
        slot[1] = max(slot[1], occ.present)
        rt.last_entered, rt.last_day = occ.entered_today, occ.day
        ratios = [v for v in ([100.0 * occ.present / rt.limits.instant_max] if rt.limits.instant_max else [])]
        if rt.limits.daily_max:
            ratios.append(100.0 * occ.entered_today / rt.limits.daily_max)
        if ratios:
            rt.history.append((now, max(ratios)))
            cutoff = now - self.history_window
            while rt.history and rt.history[0][0] < cutoff:
                rt.history.pop(0)

    def _flush_history(self, s: Session) -> None:
        for site_id, rt in self._sites.items():
            for hour, (arrivals, peak) in list(rt.hourly.items()):
                row = s.execute(
                    select(HourlyHistory).where(HourlyHistory.site_id == site_id, HourlyHistory.hour_start == hour)
                ).scalar_one_or_none()
                if row is None:
                    s.add(HourlyHistory(site_id=site_id, hour_start=hour, arrivals=arrivals, peak_present=peak))
                else:
                    row.arrivals += arrivals
                    row.peak_present = max(row.peak_present, peak)
            rt.hourly.clear()

    def _commit(self, site_id: int, rt: SiteRuntime, ev: Evaluation, occ: Occupancy, now: datetime) -> list[Transition]:
        rt.state, rt.last_eval = ev.state, ev
        state_dict = ev.state.to_dict()
        # persist when levels or hold timers changed (not for every ratio wiggle)
        key = {k: (m["level"], m["below_since"]) for k, m in state_dict["measures"].items()}
        old_key = {k: (m["level"], m["below_since"]) for k, m in (rt.persisted or {}).get("measures", {}).items()}
        if not ev.transitions and key == old_key and state_dict.get("day") == (rt.persisted or {}).get("day"):
            if rt.occ_persisted_at is None or now - rt.occ_persisted_at >= self.occupancy_every or now < rt.occ_persisted_at:
                with session_scope(self.url) as s:  # keep the latest counts visible to screens and pages
                    row = s.get(SafetyState, site_id)
                    if row is None:
                        s.add(SafetyState(site_id=site_id, level=ev.state.level, state=state_dict, last_occupancy=occ.to_dict(), updated_at=now))
                    else:
                        row.last_occupancy, row.updated_at = occ.to_dict(), now
                rt.occ_persisted_at = now
            return []
        published: list[dict[str, Any]] = []
        with session_scope(self.url) as s:
            row = s.get(SafetyState, site_id)
            if row is None:
                row = SafetyState(site_id=site_id)
                s.add(row)
            row.level, row.state, row.last_occupancy, row.updated_at = ev.state.level, state_dict, occ.to_dict(), now
            for tr in ev.transitions:
                inc = incidents.apply_transition(s, site_id, tr, occ, ev.ratios, drill=self.drill)
                self._actions(s, site_id, tr, inc, occ, now)
                published.append(self._event(site_id, rt, tr, inc, ev, occ))
        rt.persisted, rt.occ_persisted_at = state_dict, now
        for payload in published:
            try:
                self.publish(f"site.{site_id}.level", payload)
            except Exception:  # a subscriber problem must not undo the committed change
                log.exception("publishing site.%s.level failed", site_id)
        return ev.transitions

    def _event(self, site_id: int, rt: SiteRuntime, tr: Transition, inc: Incident | None, ev: Evaluation, occ: Occupancy) -> dict[str, Any]:
        return {
            "site_id": site_id,
            "site": rt.name,
            "level": tr.level,
            "previous": tr.previous,
            "measure": tr.measure,
            "measure_key": tr.measure_key,
            "ratio": round(tr.ratio, 2),
            "ratios": {k: round(v, 2) for k, v in ev.ratios.items()},
            "colour": COLOURS[tr.level],
            "name_zh": NAMES_ZH[tr.level],
            "ts": tr.ts.isoformat(),
            "incident_id": inc.id if inc else None,
            "present": occ.present,
            "entered_today": occ.entered_today,
        }

    def _actions(self, s: Session, site_id: int, tr: Transition, inc: Incident | None, occ: Occupancy, now: datetime) -> None:
        """Queue the automatic actions for a level change (delivered by the outbox)."""
        site = s.get(Site, site_id)
        cfg = s.get(SafetySiteConfig, site_id)
        base = f"site:{site_id}:inc:{inc.id if inc else 0}:{tr.ts.isoformat()}:{tr.level}"
        text_zh, text_en = SCREEN_TEXT[tr.level]
        common = {"site_id": site_id, "site": site.name, "level": tr.level, "previous": tr.previous, "ts": tr.ts.isoformat(), "drill": self.drill}
        iid = inc.id if inc else None
        for act in auto_actions(tr.previous, tr.level):
            detail: dict[str, Any] = {}
            if act == "ticketing" and cfg and cfg.ticketing_url:
                enqueue(s, key=f"{base}:stop_sales", channel="ticketing", target=cfg.ticketing_url, payload={**common, "action": "stop_sales", "reason": text_zh}, now=now, incident_id=iid)
                detail = {"sent_to": cfg.ticketing_url}
            elif act == "resume_sales" and cfg and cfg.ticketing_url:
                enqueue(s, key=f"{base}:resume_sales", channel="ticketing", target=cfg.ticketing_url, payload={**common, "action": "resume_sales"}, now=now, incident_id=iid)
                detail = {"sent_to": cfg.ticketing_url}
            elif act == "screen" and cfg and cfg.screen_url:
                enqueue(s, key=f"{base}:screen", channel="screen", target=cfg.screen_url, payload={**common, "text_zh": text_zh, "text_en": text_en, "colour": COLOURS[tr.level]}, now=now, incident_id=iid)
                detail = {"sent_to": cfg.screen_url, "text": text_zh}
            elif act == "broadcast" and cfg and cfg.broadcast_url:
                enqueue(s, key=f"{base}:broadcast", channel="broadcast", target=cfg.broadcast_url, payload={**common, "text": text_zh}, now=now, incident_id=iid)
                detail = {"sent_to": cfg.broadcast_url, "text": text_zh}
            elif act == "notify":
                alert = duty.open_alert(s, site, tr.level, now, incident=inc)
                detail = {"alert_id": alert.id if alert else None, "tier": alert.tier if alert else None}
            elif act == "upward" and cfg and cfg.upward_url and inc is not None:
                from lookout.safety.reports import upward_report

                enqueue(s, key=f"{base}:upward", channel="upward", target=cfg.upward_url, payload=upward_report(s, inc, now), now=now, incident_id=iid)
                detail = {"sent_to": cfg.upward_url}
            else:
                continue
            if inc is not None and RANK[tr.level] > RANK[tr.previous]:
                incidents.mark_auto_done(s, inc, tr.level, act, now, detail)
                for lv in ("yellow", "orange"):  # the same action on the levels jumped over
                    if RANK[tr.previous] < RANK[lv] < RANK[tr.level]:
                        incidents.mark_auto_done(s, inc, lv, act, now, detail, event=False)
            elif inc is not None:
                incidents.add_event(s, inc, now, "action", level=tr.level, detail={"auto": act, **detail}, actor=incidents.SYSTEM_ACTOR)


# ------------------------------------------------------------------------- running in the app
_service: SafetyService | None = None


def current_service() -> SafetyService | None:
    """The service the running application feeds (None outside a server)."""
    return _service


class SafetyRunner:
    """Runs the live path inside the API process: consumes ``site.<id>.occupancy`` from the
    bus (latest snapshot per site wins when behind), ticks once a second, delivers the outbox."""

    def __init__(self, url: str, data_dir, clock: Callable[[], datetime] | None = None) -> None:
        self.url = url
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.service = SafetyService(url)
        self.data_dir = data_dir
        self._tasks: list[Any] = []
        self._outbox = None

    async def _consume(self) -> None:
        import asyncio

        sub = default_bus.subscribe("site.", maxsize=100000)
        try:
            while True:
                ev = await sub.get()
                batch = {ev.topic: ev}
                while not sub.queue.empty():  # coalesce a backlog: occupancy is a state, not a delta
                    e = sub.queue.get_nowait()
                    batch[e.topic] = e
                for topic, e in batch.items():
                    parts = topic.split(".")
                    if len(parts) != 3 or parts[2] != "occupancy":
                        continue
                    try:
                        site_id = int(parts[1])
                        rt = self.service._sites.get(site_id)
                        occ = occupancy_from_payload(e.payload, rt.zone_names if rt else None)
                        await asyncio.to_thread(self.service.on_occupancy, site_id, occ, self.clock())
                    except Exception:  # one bad snapshot must not stop the consumer
                        log.exception("occupancy event %s rejected: %r", topic, e.payload)
        finally:
            sub.close()

    async def _ticker(self) -> None:
        import asyncio

        while True:
            await asyncio.sleep(1.0)
            try:
                await asyncio.to_thread(self.service.tick, self.clock())
            except Exception:
                log.exception("safety tick failed")

    async def start(self, _app: Any = None) -> None:
        import asyncio
        from pathlib import Path

        from lookout.safety.actions.senders import default_senders
        from lookout.safety.outbox import OutboxWorker

        global _service
        _service = self.service
        from lookout.safety.forecast import keep_site_models_warm

        self._tasks = [asyncio.create_task(self._consume()), asyncio.create_task(self._ticker()),
                       asyncio.create_task(keep_site_models_warm(self.url, self.clock))]  # day models off the page path
        self._outbox = OutboxWorker(self.url, default_senders(Path(self.data_dir)), self.clock)
        self._outbox.start()

    async def stop(self, _app: Any = None) -> None:
        global _service
        for t in self._tasks:
            t.cancel()
        if self._outbox:
            self._outbox.stop()
        _service = None


def install(app: Any) -> SafetyRunner:
    """Start the live safety path with the application (``create_app`` startup hooks)."""
    existing = getattr(app.state, "safety", None)
    if existing is not None:
        return existing
    st = app.state.settings
    runner = SafetyRunner(st.db_url, st.data_dir)
    app.state.safety = runner
    app.state.startup_hooks.append(runner.start)
    app.state.shutdown_hooks.append(runner.stop)
    return runner
