"""The alert centre: incidents, the level's checklist, acknowledge, escalate, report."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import case, select
from sqlalchemy.orm import Session

from lookout.api.deps import get_db
from lookout.registry.models import Site
from lookout.runtime.bus import bus
from lookout.security import audit, scope
from lookout.security.models import User
from lookout.store.base import utcnow
from lookout.web import i18n, queries
from lookout.web.app import check_same_origin, lang_of, page_user, redirect, render

log = logging.getLogger(__name__)
router = APIRouter()
ACT_ROLES = ("admin", "official", "operator", "site_manager")


def may_act(user: User) -> bool:
    return user.role in ACT_ROLES


def _visible_incident(db: Session, user: User, incident_id: int):
    sm = queries.safety_models()
    if sm is None:
        return None
    return db.execute(scope.site_filter(select(sm.Incident).where(sm.Incident.id == incident_id), user,
                                        sm.Incident.site_id)).scalar_one_or_none()


def _visible_alert(db: Session, user: User, alert_id: int):
    sm = queries.safety_models()
    if sm is None:
        return None
    return db.execute(scope.site_filter(select(sm.Alert).where(sm.Alert.id == alert_id), user,
                                        sm.Alert.site_id)).scalar_one_or_none()


@router.get("/alerts")
def alert_centre(request: Request, incident: int | None = None, status: str | None = None,
                 site: queries.OptionalId = None, page: int = Query(1, ge=1), msg: str | None = None,
                 db: Session = Depends(get_db)):
    user = page_user(request, db)
    sm = queries.safety_models()
    if sm is None:
        return render(request, "alerts.html", user, installed=False, incidents=[], info=None, detail=None,
                      status="", site_id=site, sites=[], msg=None, may_act=False)
    inc = sm.Incident
    stmt = (scope.site_filter(select(inc, Site.name, Site.timezone), user, inc.site_id)
            .join(Site, Site.id == inc.site_id))
    if status in ("open", "closed"):
        stmt = stmt.where(inc.status == status)
    if site:
        stmt = stmt.where(inc.site_id == site)
    stmt = stmt.order_by(case((inc.status == "open", 0), else_=1), inc.opened_at.desc(), inc.id.desc())
    rows, info = queries.paged(db, stmt, page, 20)
    chosen = incident or (rows[0][0].id if rows else None)
    detail = _detail(db, user, chosen) if chosen else None
    return render(request, "alerts.html", user, installed=True, incidents=rows, info=info, detail=detail,
                  status=status or "", site_id=site, sites=queries.site_options(db, user), msg=msg,
                  may_act=may_act(user), chosen=chosen)


def _detail(db: Session, user: User, incident_id: int) -> dict[str, Any] | None:
    sm = queries.safety_models()
    inc = _visible_incident(db, user, incident_id)
    if inc is None:
        return None
    site = db.get(Site, inc.site_id)
    items = db.execute(select(sm.PlanItem).where(sm.PlanItem.incident_id == inc.id)
                       .order_by(sm.PlanItem.id)).scalars().all()
    alerts = db.execute(select(sm.Alert).where(sm.Alert.incident_id == inc.id).order_by(sm.Alert.id)).scalars().all()
    events = db.execute(select(sm.IncidentEvent).where(sm.IncidentEvent.incident_id == inc.id)
                        .order_by(sm.IncidentEvent.ts.desc(), sm.IncidentEvent.id.desc()).limit(200)).scalars().all()
    levels: dict[str, list[Any]] = {}
    for it in items:
        levels.setdefault(it.level, []).append(it)
    plans = optional_plans()
    scope_text = None
    try:
        from lookout.safety.reports import _scope

        scope_text = _scope(inc)
    except ImportError:
        pass
    return {"incident": inc, "site": site, "tz": site.timezone or "Asia/Shanghai", "levels": levels,
            "alerts": alerts, "events": events, "plans": plans, "scope": scope_text}


def optional_plans() -> dict[str, Any]:
    mod = queries.optional("lookout.safety.plans")
    return getattr(mod, "PLANS", {}) if mod else {}


def _back(request: Request, incident_id: int | None, msg: str | None = None) -> Response:
    url = "/alerts" + (f"?incident={incident_id}" if incident_id else "")
    if msg:
        url += ("&" if "?" in url else "?") + f"msg={msg}"
    return redirect(url)


def _forbidden(request: Request, user: User) -> Response:
    return render(request, "error.html", user, status_code=403, message=i18n.t("error.forbidden", lang_of(request, user)))


@router.post("/alerts/ack/{alert_id}")
def acknowledge(alert_id: int, request: Request, db: Session = Depends(get_db)):
    check_same_origin(request)
    user = page_user(request, db)
    if not may_act(user):
        return _forbidden(request, user)
    alert = _visible_alert(db, user, alert_id)
    if alert is None:
        return render(request, "error.html", user, status_code=404, message=i18n.t("error.not_found", lang_of(request, user)))
    from lookout.safety import duty

    duty.acknowledge(db, alert.id, user.username, utcnow())
    db.flush()
    _publish(alert.site_id, "alert", {"alert_id": alert.id, "status": alert.status, "by": user.username})
    return _back(request, alert.incident_id, "acked")


@router.post("/alerts/escalate/{alert_id}")
def escalate(alert_id: int, request: Request, db: Session = Depends(get_db)):
    """Pass an open alert to the next tier now, without waiting for its deadline."""
    check_same_origin(request)
    user = page_user(request, db)
    if not may_act(user):
        return _forbidden(request, user)
    alert = _visible_alert(db, user, alert_id)
    if alert is None:
        return render(request, "error.html", user, status_code=404, message=i18n.t("error.not_found", lang_of(request, user)))
    from lookout.safety import duty, incidents
    from lookout.safety.models import Incident

    if alert.status not in ("open", "acked"):
        return _back(request, alert.incident_id)
    now = utcnow()
    site = db.get(Site, alert.site_id)
    inc = db.get(Incident, alert.incident_id) if alert.incident_id else None
    refs = duty.tiers_for(db, site)
    idx = next((i for i, r in enumerate(refs) if r.tier == alert.tier), len(refs) - 1)
    nxt = None
    if idx + 1 < len(refs):
        nxt = duty.open_alert(db, site, alert.level, now, incident=inc, tier_index=idx + 1, parent=alert,
                              message=(alert.message or "") + f"(由{user.username}手动升级)")
    before = {"status": alert.status}
    alert.escalated_at = now
    if alert.status == "open":
        alert.status = "escalated" if nxt else "expired"
    if inc is not None:
        incidents.add_event(db, inc, now, "escalation", level=alert.level,
                            detail={"from_alert": alert.id, "from_tier": alert.tier, "manual": True,
                                    "to_alert": nxt.id if nxt else None, "to_tier": nxt.tier if nxt else None},
                            actor=user.username)
    audit.record(db, user.username, "escalate", "safety_alert", alert.id, before,
                 {"status": alert.status, "to_alert": nxt.id if nxt else None})
    db.flush()
    _publish(alert.site_id, "alert", {"alert_id": alert.id, "status": alert.status, "escalated_to": nxt.id if nxt else None})
    return _back(request, alert.incident_id, "escalated" if nxt else "no_next_tier")


@router.post("/alerts/item/{item_id}/done")
def item_done(item_id: int, request: Request, db: Session = Depends(get_db)):
    check_same_origin(request)
    user = page_user(request, db)
    if not may_act(user):
        return _forbidden(request, user)
    sm = queries.safety_models()
    item = db.get(sm.PlanItem, item_id) if sm else None
    inc = _visible_incident(db, user, item.incident_id) if item else None
    if inc is None:
        return render(request, "error.html", user, status_code=404, message=i18n.t("error.not_found", lang_of(request, user)))
    from lookout.safety import incidents

    incidents.mark_item_done(db, item.id, user.username, utcnow())
    audit.record(db, user.username, "update", "safety_plan_item", item.id, None, {"done_by": user.username})
    return _back(request, inc.id)


@router.get("/alerts/{incident_id}/report.pdf")
def report_pdf(incident_id: int, request: Request, db: Session = Depends(get_db)):
    user = page_user(request, db)
    inc = _visible_incident(db, user, incident_id)
    if inc is None:
        return render(request, "error.html", user, status_code=404, message=i18n.t("error.not_found", lang_of(request, user)))
    from lookout.safety.reports import incident_pdf, incident_report

    pdf = incident_pdf(incident_report(db, inc.id))
    audit.record(db, user.username, "export", "safety_incident_report", inc.id)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="incident-{inc.id}.pdf"'})


def _publish(site_id: int, kind: str, payload: dict[str, Any]) -> None:
    try:
        bus.publish(f"site.{site_id}.{kind}", {"site_id": site_id, **payload})
    except Exception:  # the write is committed regardless of subscribers
        log.exception("publishing site.%s.%s failed", site_id, kind)
