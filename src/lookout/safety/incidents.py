"""Incidents: each level change opens or updates one, with its timeline and checklist."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lookout.safety.engine import RANK, Occupancy, Transition, higher
from lookout.safety.models import Incident, IncidentEvent, PlanItem
from lookout.safety.plans import PLANS

SYSTEM_ACTOR = "lookout"


def open_incident(session: Session, site_id: int) -> Incident | None:
    return session.execute(
        select(Incident).where(Incident.site_id == site_id, Incident.status == "open").order_by(Incident.id.desc())
    ).scalars().first()


def add_event(
    session: Session,
    incident: Incident,
    ts: datetime,
    kind: str,
    *,
    level: str | None = None,
    measure: str | None = None,
    detail: dict[str, Any] | None = None,
    actor: str | None = None,
) -> IncidentEvent:
    ev = IncidentEvent(
        incident_id=incident.id, ts=ts, kind=kind, level=level, measure=measure, detail=detail, actor=actor
    )
    session.add(ev)
    return ev


def _add_plan_items(session: Session, incident: Incident, level: str) -> None:
    plan = PLANS.get(level)
    if plan is None:
        return
    have = set(
        session.execute(select(PlanItem.key).where(PlanItem.incident_id == incident.id, PlanItem.level == level))
        .scalars()
        .all()
    )
    for item in plan.items:
        if item.key in have:
            continue
        session.add(
            PlanItem(
                incident_id=incident.id,
                level=level,
                key=item.key,
                text_zh=item.zh,
                text_en=item.en,
                commander=plan.commander,
                auto=item.auto is not None,
            )
        )


def update_peaks(incident: Incident, occ: Occupancy, ratio: float) -> None:
    incident.peak_present = max(incident.peak_present or 0, occ.present)
    incident.peak_daily = max(incident.peak_daily or 0, occ.entered_today)
    incident.peak_ratio = max(incident.peak_ratio or 0.0, round(ratio, 2))
    zones = dict(incident.zones or {})
    for name, n in occ.zones.items():
        zones[name] = max(int(zones.get(name, 0)), n)
    incident.zones = zones


def apply_transition(
    session: Session,
    site_id: int,
    tr: Transition,
    occ: Occupancy,
    ratios: dict[str, float],
    *,
    drill: bool = False,
) -> Incident | None:
    """Open an incident on the first warning, add the step to its timeline and the new
    level's checklist, close it when the level returns to none."""
    inc = open_incident(session, site_id)
    if inc is None:
        if tr.level == "none":
            return None
        inc = Incident(
            site_id=site_id, status="open", level=tr.level, peak_level=tr.level, opened_at=tr.ts, drill=drill, zones={}
        )
        session.add(inc)
        session.flush()
    inc.level = tr.level
    inc.peak_level = higher(inc.peak_level, tr.level)
    update_peaks(inc, occ, max(ratios.values(), default=0.0))
    add_event(
        session,
        inc,
        tr.ts,
        "level",
        level=tr.level,
        measure=tr.measure_key,
        detail={
            "previous": tr.previous,
            "ratio": round(tr.ratio, 2),
            "ratios": {k: round(v, 2) for k, v in ratios.items()},
            "present": occ.present,
            "entered_today": occ.entered_today,
        },
        actor=SYSTEM_ACTOR,
    )
    if RANK[tr.level] > RANK[tr.previous]:
        for lv in ("yellow", "orange", "red"):
            if RANK[lv] <= RANK[tr.level]:
                _add_plan_items(session, inc, lv)
    if tr.level == "none":
        inc.status, inc.closed_at = "closed", tr.ts
    session.flush()
    return inc


def mark_item_done(session: Session, item_id: int, actor: str, now: datetime) -> PlanItem:
    item = session.get(PlanItem, item_id)
    if item is None:
        raise LookupError(f"plan item {item_id} not found")
    if item.done_at is None:
        item.done_at, item.done_by = now, actor
        inc = session.get(Incident, item.incident_id)
        add_event(session, inc, now, "action", level=item.level, detail={"item": item.key, "text": item.text_zh}, actor=actor)
    return item


def mark_auto_done(session: Session, incident: Incident, level: str, auto: str, now: datetime, detail: dict[str, Any],
                   *, event: bool = True) -> None:
    keys = [i.key for i in PLANS[level].items if i.auto == auto] if level in PLANS else []
    for item in session.execute(
        select(PlanItem).where(PlanItem.incident_id == incident.id, PlanItem.level == level, PlanItem.key.in_(keys))
    ).scalars():
        if item.done_at is None:
            item.done_at, item.done_by = now, SYSTEM_ACTOR
    if event:
        add_event(session, incident, now, "action", level=level, detail={"auto": auto, **detail}, actor=SYSTEM_ACTOR)


def timeline(session: Session, incident_id: int) -> list[IncidentEvent]:
    return list(
        session.execute(
            select(IncidentEvent).where(IncidentEvent.incident_id == incident_id).order_by(IncidentEvent.ts, IncidentEvent.id)
        ).scalars()
    )
