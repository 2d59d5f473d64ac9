"""O&M figures from camera health (work orders, online-rate history) when it is installed."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lookout.registry.models import Channel, Site
from lookout.security import scope
from lookout.security.models import User
from lookout.store.base import utcnow
from lookout.web import i18n
from lookout.web.app import localtime
from lookout.web.queries import PageInfo, optional, paged, seconds_rate

log = logging.getLogger(__name__)


def _health_models():
    return optional("lookout.health.models")


def work_orders(db: Session, user: User, page: int = 1, page_size: int = 20,
                **filters: Any) -> tuple[list[Any], PageInfo] | None:
    """Work orders of channels the account may see, with the camera's name and code and the site's
    name, open first, newest first; ``filters`` as ``health.workorders.filter_orders`` takes them
    (None: camera health not installed)."""
    hm, wol = _health_models(), optional("lookout.health.workorders")
    if hm is None or wol is None:
        return None
    wo = hm.WorkOrder
    visible = scope.channel_filter(select(Channel.id), user)
    stmt = (select(wo, Channel.name, Channel.code, Site.name).join(Channel, Channel.id == wo.channel_id)
            .join(Site, Site.id == wo.site_id).where(wo.channel_id.in_(visible)))
    try:
        return paged(db, wol.filter_orders(stmt, utcnow(), **filters), page, page_size)
    except Exception:  # a schema mismatch with camera health must not take the page down
        log.exception("work orders could not be listed")
        return None


def order_story(db: Session, user: User, order_id: int, lang: str) -> dict[str, Any] | None:
    """One work order for its page: the order, its camera and site names, and its story (each step with
    a reading in ``lang``: the platform's own steps from their recorded facts, a person's note as
    written); None: not found, out of the account's scope, or camera health not installed."""
    hm = _health_models()
    if hm is None:
        return None
    o = db.get(hm.WorkOrder, order_id)
    ch = db.get(Channel, o.channel_id) if o is not None else None
    if o is None or ch is None or not scope.can_see_channel(user, ch):
        return None
    site = db.get(Site, o.site_id)
    ids = [e.diagnosis_id for e in o.events if e.diagnosis_id] + [o.opened_by_diagnosis_id or 0]
    diagnoses = {d.id: d for d in db.execute(select(hm.DiagnosisRecord).where(hm.DiagnosisRecord.id.in_(ids))).scalars()}
    by_time = {e.at: e for e in db.execute(select(hm.WorkOrderEscalation)
                                          .where(hm.WorkOrderEscalation.order_id == o.id)).scalars()}
    fault = i18n.t(f"fault.{o.fault}", lang)
    tz = site.timezone if site is not None and site.timezone else "Asia/Shanghai"
    platform = getattr(optional("lookout.health.workorders"), "ACTOR", None)  # the patrol's own steps
    steps = []
    for e in o.events:
        d = diagnoses.get(e.diagnosis_id) if e.diagnosis_id else None
        if e.kind == "opened":
            text = i18n.t("wo.event.opened", lang, fault=fault)
        elif e.kind == "recheck_failed" and d is not None:
            score = (d.scores or {}).get(o.fault)
            text = i18n.t("wo.event.recheck_failed", lang) + " · " + (
                i18n.t("wo.detail.no_picture", lang) if not d.online else
                i18n.t("wo.detail.still", lang, fault=fault) + (f" ({score:.0f})" if score is not None else ""))
        elif e.kind == "escalated" and e.at in by_time:
            esc = by_time[e.at]
            text = i18n.t("wo.detail.escalated", lang, h=f"{esc.overdue_s / 3600:.1f}", level=esc.level)
            if esc.notified:  # "site: 张三、李四", as health.workorders records it
                tier, _, names = esc.notified.partition(": ")
                text += " · " + i18n.t("wo.detail.told", lang, tier=i18n.t(f"tier.{tier}", lang), names=names)
            else:
                text += " · " + i18n.t("wo.detail.told_nobody", lang)
            text += " · " + (i18n.t("wo.detail.acked", lang, who=esc.acknowledged_by,
                                    at=localtime(esc.acknowledged_at, tz, "%m-%d %H:%M"))
                             if esc.acknowledged_at else i18n.t("wo.detail.not_acked", lang))
        else:
            text = i18n.t(f"wo.event.{e.kind}", lang)
        person = e.kind in ("close_requested", "reassigned")  # a person's words, kept as written
        actor = i18n.t("wo.actor.platform", lang) if e.actor == platform else e.actor
        steps.append({"at": e.at, "kind": e.kind, "actor": actor, "text": text,
                      "note": e.note if person else None,
                      "snapshot": f"/api/v1/health/diagnoses/{d.id}/snapshot.jpg" if d is not None and d.snapshot_path else None})
    opening = diagnoses.get(o.opened_by_diagnosis_id or 0)
    waiting = o.status != "closed" and any(e.acknowledged_at is None for e in by_time.values())
    api = optional("lookout.health.api")
    others = [u for u in api.assignable(db, o) if u != o.assignee] if api and o.status != "closed" else []
    return {"order": o, "camera": ch, "site": site, "steps": steps, "waiting_acknowledgement": waiting,
            "assignable": others,
            "opening_snapshot": f"/api/v1/health/diagnoses/{opening.id}/snapshot.jpg"
            if opening is not None and opening.snapshot_path else None}


def patrol_runs(db: Session, user: User, page: int = 1, page_size: int = 30) -> tuple[list[Any], PageInfo] | None:
    """Patrol runs over the cameras the account may see (``health.reports.patrol_runs``), paged;
    None: camera health not installed."""
    reports = optional("lookout.health.reports")
    if reports is None:
        return None
    total, rows = reports.patrol_runs(db, scope.channel_filter(select(Channel.id), user), page, page_size)
    info = PageInfo(page, page_size, total)
    return rows, info


def patrol_report(db: Session, user: User, run_id: int) -> dict[str, Any] | None:
    """One patrol's report over the cameras the account may see (``health.reports.patrol_report``);
    None: not found, none of its cameras visible, or camera health not installed."""
    reports = optional("lookout.health.reports")
    return reports.patrol_report(db, run_id, scope.channel_filter(select(Channel.id), user)) if reports else None


def _reference_model():
    """Camera health's reference-picture table (None: not installed)."""
    hm = _health_models()
    return getattr(hm, "ChannelReference", None) if hm else None


def without_reference(db: Session, user: User) -> int | None:
    """Visible channels with no reference picture (None: camera health not installed)."""
    ref = _reference_model()
    if ref is None:
        return None
    from sqlalchemy import func

    visible = scope.channel_filter(select(Channel.id), user)
    stmt = select(func.count()).select_from(Channel).where(Channel.id.in_(visible),
                                                           ~Channel.id.in_(select(ref.channel_id)))
    return int(db.execute(stmt).scalar_one())


def reference_presets(db: Session, channel_ids: list[int]) -> dict[int, list[str]] | None:
    """Per channel, the presets that have a reference picture ("" the fixed view), in name order;
    None: camera health not installed."""
    ref = _reference_model()
    if ref is None or not channel_ids:
        return None if ref is None else {}
    out: dict[int, list[str]] = {}
    for cid, preset in db.execute(select(ref.channel_id, ref.preset).where(ref.channel_id.in_(channel_ids))
                                  .order_by(ref.channel_id, ref.preset)):
        out.setdefault(int(cid), []).append(preset)
    return out


def _health_roles(user: User, name: str) -> bool:
    api = optional("lookout.health.api")
    roles = getattr(api, name, None) if api else None
    return roles is not None and user.has_role(roles)


def may_act_as_om(user: User) -> bool:
    """Whether the account has camera health's O&M roles: marks views as correct, sets thresholds,
    patrols now, closes and hands on work orders."""
    return _health_roles(user, "OM_ROLES")


def may_acknowledge(user: User) -> bool:
    """Whether the account may take an escalated work order in hand (the duty roster's roles)."""
    return _health_roles(user, "ACK_ROLES")


def ptz_channels(db: Session, user: User, channel_ids: list[int]) -> set[int] | None:
    """Those channels whose camera the account may turn to a preset now (reached over GB/T 28181 by
    the server running in this process); None: GB/T 28181 access is not installed or the account may not."""
    api, presets = optional("lookout.federation.gb28181.api"), optional("lookout.federation.gb28181.presets")
    roles = getattr(api, "PTZ_ROLES", None) if api else None
    if roles is None or presets is None or not user.has_role(roles):
        return None
    try:
        return presets.reachable(db, channel_ids)
    except Exception:  # a schema mismatch with GB/T 28181 access must not take the page down
        log.exception("GB/T 28181 reachable channels could not be listed")
        return None


def online_trend(db: Session, user: User, now: datetime, days: int = 14) -> list[dict[str, Any]]:
    """Daily online rate over the last days, from camera health's history when it keeps one."""
    hm = _health_models()
    if hm is None:
        return []
    for fn_name in ("online_rate_trend", "online_trend"):
        rates = optional("lookout.health.rates")
        fn = getattr(rates, fn_name, None) if rates else None
        if fn is not None:
            try:
                res = fn(db, now - timedelta(days=days), now, channel_ids=scope.channel_filter(select(Channel.id), user))
                return [dict(r) if isinstance(r, dict) else {"day": r[0], "rate": r[1]} for r in res]
            except Exception:
                log.exception("online-rate trend failed")
                return []
    return []


def camera_health(db: Session, channel: Channel, now: datetime, days: int = 7) -> dict[str, Any] | None:
    """One camera's health for its page: recent diagnoses (newest first), fault thresholds (its own,
    its site's, the deployment's, the effective ones), its work orders and its state changes over the last days;
    None: camera health not installed."""
    hm, api, status = _health_models(), optional("lookout.health.api"), optional("lookout.health.status")
    if hm is None or api is None or status is None:
        return None
    diag, wo = hm.DiagnosisRecord, hm.WorkOrder
    diagnoses = [api.diagnosis_json(d) for d in db.execute(
        select(diag).where(diag.channel_id == channel.id).order_by(diag.at.desc(), diag.id.desc()).limit(10)).scalars()]
    orders = [api.order_json(o, now) for o in db.execute(
        select(wo).where(wo.channel_id == channel.id).order_by(wo.id.desc()).limit(10)).scalars()]
    start = now - timedelta(days=days)
    history = status.load_history(db, [channel.id], start, now, with_initial=True).get(channel.id, [])
    rates = optional("lookout.health.rates")
    sec = rates.online_seconds(rates.as_changes(history), start, now) if rates is not None else None
    return {"latest": diagnoses[0] if diagnoses else None, "diagnoses": diagnoses, "orders": orders,
            "thresholds": api.thresholds_json(db, channel.id), "history": [e.as_dict() for e in reversed(history)],
            "days": days, "online_rate": seconds_rate(sec.online, sec.observed) if sec else None,
            "normal_rate": seconds_rate(sec.normal, sec.observed) if sec else None}


def site_thresholds(db: Session, site_id: int) -> dict[str, Any] | None:
    """A site's own fault thresholds, the deployment's and the effective ones; None: camera health not installed."""
    api = optional("lookout.health.api")
    return api.site_thresholds_json(db, site_id) if api is not None and _health_models() is not None else None


def repair_stats(db: Session, user: User, now: datetime, days: int = 30) -> dict[str, list[dict[str, Any]]] | None:
    """Repair times of work orders opened over the last days, by site and by vendor; None: not installed."""
    wo = optional("lookout.health.workorders")
    if wo is None:
        return None
    visible = scope.channel_filter(select(Channel.id), user)
    try:
        return {by: wo.repair_stats(db, by, now - timedelta(days=days), now, now, visible) for by in ("site", "vendor")}
    except Exception:  # a schema mismatch with camera health must not take the page down
        log.exception("repair statistics could not be computed")
        return None
