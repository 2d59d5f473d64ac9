"""Camera-health API (mounted under ``/api/v1``): status history, online and networking rates,
diagnoses, reference pictures, work orders and repair statistics.

Every query goes through the account's scope (``security.scope``): an out-of-scope channel or order
answers 404 like a missing one; lists and rates only cover visible channels. Every write is audited.

Endpoints (all under ``/api/v1/health``):

| method, path | what |
| --- | --- |
| GET ``/channels/{id}/status-history?start=&end=`` | current state and the changes (probe, patrol, gb28181) in the window (default: last 7 days) |
| GET ``/online-rates?by=site|district|category|resource_class|all&start=&end=`` | online rate and normal rate (正常率: online with no picture fault) per group over local days (ISO dates; default the last 7 days), key (98 %) and industry (95 %) parts |
| GET ``/online-trend?days=14`` | online and normal rate per local day |
| GET ``/networking?by=site|category|…`` | 联网率: channels with a URL seen online at least once / channels in the ledger |
| GET ``/compliance?start=&end=`` | per site: online and normal rate, networking rate, zone coverage |
| GET ``/channels/{id}/diagnoses?limit=20`` | the channel's latest diagnoses, newest first |
| GET ``/diagnoses/latest?site_id=&faulty=true&page=&page_size=`` | the latest diagnosis of each visible channel |
| GET ``/diagnoses/{id}/snapshot.jpg`` | the picture kept with a faulty diagnosis |
| POST ``/channels/{id}/patrol`` | patrol the channel now; answers its diagnosis |
| GET / PUT / DELETE ``/channels/{id}/reference?preset=`` | the reference pictures: PUT takes one from the stream now (the operator marks the view as correct), one per PTZ preset for a camera touring its presets, and answers also ``not_judged``, the faults that picture cannot help judge (``blur`` for a pale wall filling the view); DELETE without ``preset`` forgets all |
| GET ``/channels/{id}/reference.jpg?preset=`` | a reference picture itself |
| GET / PUT / DELETE ``/sites/{id}/thresholds`` | the site's own fault thresholds (``{"blur": 70}``, 0–100) for all its channels, over the deployment's (``LOOKOUT_PATROL_VQD_THRESHOLDS``); answers both and the effective ones |
| GET / PUT / DELETE ``/channels/{id}/thresholds`` | the channel's own fault thresholds (``{"blur": 65}``) over its site's and the deployment's; answers each and the effective ones |
| GET ``/work-orders?status=&site_id=&channel_id=&fault=&assignee=&overdue=&escalated=&unacknowledged=&page=&page_size=`` | work orders, open first (``unacknowledged``: with an escalation nobody acknowledged) |
| GET ``/work-orders/{id}`` | one order with its events and escalations (who was told, who acknowledged) |
| POST ``/work-orders/{id}/assign`` ``{"assignee": "om_b", "note": "…"}`` | hand the order to another O&M engineer who can see its camera (转派); they are told |
| POST ``/work-orders/{id}/acknowledge`` | someone told of an escalation takes the order in hand (site manager, operator, official; 409 when none waits) |
| POST ``/work-orders/{id}/close`` ``{"note": "…", "wait": false}`` | request the close: the order waits for an immediate re-check patrol (``wait``: answer after it) |
| GET ``/work-orders/{id}/recheck`` | the re-check's result (pending, passed, failed with a note) |
| GET ``/patrol-runs?page=&page_size=`` | patrol runs over visible channels, newest first, with how many each diagnosed, found online and faulty |
| GET ``/patrol-runs/{id}`` | one run's report (巡检报告): totals, per site normal / fault / offline with a count per fault, each channel's result |
| GET ``/repair-stats?by=site|vendor&start=&end=`` | repair hours and on-time share per site or device vendor |
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lookout.api.deps import current_user, get_db, require_roles
from lookout.health import patrol, rates, reports, status, workorders
from lookout.health.models import (ChannelReference, ChannelThresholds, DiagnosisRecord, PatrolRun, SiteThresholds,
                                   WorkOrder, WorkOrderEscalation)
from lookout.health.vqd import VqdConfig, reference_limits
from lookout.registry.models import Channel, Site
from lookout.security import audit, scope
from lookout.security.models import User
from lookout.store.base import utcnow

log = logging.getLogger(__name__)
router = APIRouter(prefix="/health", tags=["camera health"])
OM_ROLES = ("om_engineer", "operator", "site_manager")
# who takes an escalated order in hand: the duty roster an escalation is told to (site duty, district)
ACK_ROLES = ("official", "operator", "site_manager")
ASSIGNEE_ROLE = "om_engineer"  # who repairs: an order is assigned or handed to such an account


# ---------------------------------------------------------------- helpers
def _settings(request: Request):
    return request.app.state.settings


def _tz(request: Request) -> ZoneInfo:
    return ZoneInfo(_settings(request).timezone)


def _channel_for(db: Session, user: User, channel_id: int) -> Channel:
    ch = db.get(Channel, channel_id)
    if ch is None or not scope.can_see_channel(user, ch):
        raise HTTPException(404, f"channel {channel_id} not found")
    return ch


def _visible(user: User):
    return scope.channel_filter(select(Channel.id), user)


def _order_for(db: Session, user: User, order_id: int) -> WorkOrder:
    o = db.get(WorkOrder, order_id)
    if o is None:
        raise HTTPException(404, f"work order {order_id} not found")
    _channel_for(db, user, o.channel_id)  # 404 when out of scope
    return o


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise HTTPException(422, f"{name} must carry a time zone (e.g. 2026-11-22T10:00:00+08:00)")
    return value.astimezone(timezone.utc)


def _day_range(request: Request, start: date | None, end: date | None, default_days: int = 7) -> tuple[date, date]:
    today = rates.local_day(utcnow(), _tz(request))
    last = end or today
    first = start or last - timedelta(days=default_days - 1)
    if first > last:
        raise HTTPException(422, f"start {first} is after end {last}")
    if (last - first).days > 366:
        raise HTTPException(422, "at most 367 days at once")
    return first, last


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def diagnosis_json(d: DiagnosisRecord) -> dict[str, Any]:
    return {"id": d.id, "channel_id": d.channel_id, "at": d.at.isoformat(), "online": d.online, "error": d.error,
            "faults": list(d.faults or []), "scores": dict(d.scores or {}), "frames": d.frames,
            "used_reference": d.used_reference, "reference_preset": d.reference_preset, "trigger": d.trigger,
            "snapshot": f"/api/v1/health/diagnoses/{d.id}/snapshot.jpg" if d.snapshot_path else None}


def order_json(o: WorkOrder, now: datetime, detail: bool = False) -> dict[str, Any]:
    out = {"id": o.id, "channel_id": o.channel_id, "site_id": o.site_id, "fault": o.fault, "status": o.status,
           "assignee": o.assignee, "key_area": o.key_area, "opened_at": _iso(o.opened_at),
           "deadline_at": _iso(o.deadline_at), "overdue": o.is_overdue(now), "escalated": o.escalated,
           "escalation_level": o.escalation_level, "close_requested_at": _iso(o.close_requested_at),
           "close_requested_by": o.close_requested_by, "close_note": o.close_note, "recheck_at": _iso(o.recheck_at),
           "recheck_passed": o.recheck_passed, "recheck_note": o.recheck_note, "closed_at": _iso(o.closed_at),
           "reopen_count": o.reopen_count, "vendor": o.vendor, "repair_hours": o.repair_hours}
    if detail:
        out["events"] = [{"at": e.at.isoformat(), "kind": e.kind, "actor": e.actor, "note": e.note,
                          "diagnosis_id": e.diagnosis_id} for e in o.events]
    return out


# ---------------------------------------------------------------- status and rates
@router.get("/channels/{channel_id}/status-history")
def status_history(channel_id: int, start: datetime | None = None, end: datetime | None = None,
                   user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict[str, Any]:
    ch = _channel_for(db, user, channel_id)
    end_ = _aware(end, "end") or utcnow()
    start_ = _aware(start, "start") or end_ - timedelta(days=7)
    hist = status.load_history(db, [ch.id], start_, end_, with_initial=True).get(ch.id, [])
    return {"channel_id": ch.id, "status": ch.status, "status_reason": ch.status_reason,
            "status_changed_at": _iso(ch.status_changed_at), "start": start_.isoformat(), "end": end_.isoformat(),
            "changes": [e.as_dict() for e in hist]}


@router.get("/online-rates")
def online_rates(request: Request, by: str = Query("site", pattern="^(site|district|category|resource_class|all)$"),
                 start: date | None = None, end: date | None = None, user: User = Depends(current_user),
                 db: Session = Depends(get_db)) -> dict[str, Any]:
    first, last = _day_range(request, start, end)
    groups = rates.online_rates(db, first, last, utcnow(), _tz(request), by, _visible(user))
    return {"by": by, "start": first.isoformat(), "end": last.isoformat(),
            "targets": {"key": rates.TARGET_KEY, "industry": rates.TARGET_INDUSTRY}, "groups": groups}


@router.get("/online-trend")
def online_trend(request: Request, days: int = Query(14, ge=1, le=366), user: User = Depends(current_user),
                 db: Session = Depends(get_db)) -> list[dict[str, Any]]:
    now = utcnow()
    tz = _tz(request)
    first = rates.local_day(now, tz) - timedelta(days=days - 1)
    start = rates.day_bounds(first, tz)[0]
    return rates.online_rate_trend(db, start, now, _visible(user), tz)


@router.get("/networking")
def networking(by: str = Query("site", pattern="^(site|district|category|resource_class|all)$"),
               user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict[str, Any]:
    return {"by": by, "groups": rates.networking_rates(db, by, _visible(user))}


@router.get("/compliance")
def compliance(request: Request, start: date | None = None, end: date | None = None,
               user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict[str, Any]:
    first, last = _day_range(request, start, end, default_days=30)
    return {"start": first.isoformat(), "end": last.isoformat(),
            "sites": rates.compliance(db, first, last, utcnow(), _tz(request), _visible(user))}


# ---------------------------------------------------------------- diagnoses and patrols
@router.get("/channels/{channel_id}/diagnoses")
def channel_diagnoses(channel_id: int, limit: int = Query(20, ge=1, le=500), user: User = Depends(current_user),
                      db: Session = Depends(get_db)) -> list[dict[str, Any]]:
    ch = _channel_for(db, user, channel_id)
    rows = db.execute(select(DiagnosisRecord).where(DiagnosisRecord.channel_id == ch.id)
                      .order_by(DiagnosisRecord.at.desc(), DiagnosisRecord.id.desc()).limit(limit)).scalars()
    return [diagnosis_json(d) for d in rows]


@router.get("/diagnoses/latest")
def latest_diagnoses(site_id: int | None = None, faulty: bool | None = None, page: int = Query(1, ge=1),
                     page_size: int = Query(50, ge=1, le=500), user: User = Depends(current_user),
                     db: Session = Depends(get_db)) -> dict[str, Any]:
    last = (select(DiagnosisRecord.channel_id, func.max(DiagnosisRecord.id).label("id"))
            .where(DiagnosisRecord.channel_id.in_(_visible(user))).group_by(DiagnosisRecord.channel_id).subquery())
    stmt = select(DiagnosisRecord).join(last, last.c.id == DiagnosisRecord.id)
    if site_id is not None:
        stmt = stmt.join(Channel, Channel.id == DiagnosisRecord.channel_id).where(Channel.site_id == site_id)
    rows = [d for d in db.execute(stmt.order_by(DiagnosisRecord.channel_id)).scalars()]
    if faulty is not None:  # JSON lists are filtered here: portable across SQLite and PostgreSQL
        rows = [d for d in rows if bool(d.faults) == faulty]
    total = len(rows)
    items = rows[(page - 1) * page_size: page * page_size]
    return {"items": [diagnosis_json(d) for d in items], "total": total, "page": page, "page_size": page_size}


def _data_file(request: Request, rel: str) -> Path:
    base = Path(_settings(request).data_dir).resolve()
    p = (base / rel).resolve()
    if base not in p.parents or not p.is_file():
        raise HTTPException(404, "picture not found")
    return p


@router.get("/diagnoses/{diagnosis_id}/snapshot.jpg", responses={200: {"content": {"image/jpeg": {}}}})
def diagnosis_snapshot(diagnosis_id: int, request: Request, user: User = Depends(current_user),
                       db: Session = Depends(get_db)) -> FileResponse:
    d = db.get(DiagnosisRecord, diagnosis_id)
    if d is None or not d.snapshot_path:
        raise HTTPException(404, f"no picture for diagnosis {diagnosis_id}")
    _channel_for(db, user, d.channel_id)
    return FileResponse(_data_file(request, d.snapshot_path), media_type="image/jpeg")


@router.post("/channels/{channel_id}/patrol")
def patrol_now(channel_id: int, request: Request, user: User = Depends(require_roles(*OM_ROLES)),
               db: Session = Depends(get_db)) -> dict[str, Any]:
    """Patrol one channel now (takes a few seconds) and answer its diagnosis."""
    ch = _channel_for(db, user, channel_id)
    db.commit()  # nothing held open while the stream is read
    summary = patrol.patrol_once(_settings(request), patrol.PatrolConfig(), channel_ids=[ch.id], due_only=False,
                                 trigger="manual")
    if not summary["channels"]:
        raise HTTPException(409, f"channel {ch.code} has no stream URL")
    return summary["results"][0]


# ---------------------------------------------------------------- reference pictures
PresetQuery = Query(None, max_length=32, description='a PTZ preset\'s name or number; "" or absent: the fixed view')


def _references(db: Session, channel_id: int) -> list[ChannelReference]:
    return list(db.execute(select(ChannelReference).where(ChannelReference.channel_id == channel_id)
                           .order_by(ChannelReference.preset)).scalars())


def _main_reference(refs: list[ChannelReference]) -> ChannelReference | None:
    """The fixed view's reference, else the first preset's."""
    return next((r for r in refs if r.preset == ""), refs[0] if refs else None)


def _one_reference(db: Session, channel_id: int, preset: str | None) -> ChannelReference | None:
    """The reference of ``preset``; without one, the main one."""
    refs = _references(db, channel_id)
    if preset is not None:
        return next((r for r in refs if r.preset == preset), None)
    return _main_reference(refs)


def _reference_item(ref: ChannelReference) -> dict[str, Any]:
    url = f"/api/v1/health/channels/{ref.channel_id}/reference.jpg"
    if ref.preset:
        url += f"?preset={quote(ref.preset, safe='')}"
    return {"preset": ref.preset, "taken_at": ref.taken_at.isoformat(), "taken_by": ref.taken_by,
            "width": ref.width, "height": ref.height, "url": url}


def _references_json(db: Session, channel_id: int) -> dict[str, Any]:
    refs = _references(db, channel_id)
    main = _main_reference(refs)
    return {"channel_id": channel_id, "reference": _reference_item(main) if main else None,
            "references": [_reference_item(r) for r in refs]}


@router.get("/channels/{channel_id}/reference")
def get_reference(channel_id: int, user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict[str, Any]:
    """The channel's reference pictures: ``reference`` is the fixed view's (or the first preset's),
    ``references`` every one, one per PTZ preset for a camera that tours its presets."""
    ch = _channel_for(db, user, channel_id)
    return _references_json(db, ch.id)


@router.get("/channels/{channel_id}/reference.jpg", responses={200: {"content": {"image/jpeg": {}}}})
def reference_jpg(channel_id: int, request: Request, preset: str | None = PresetQuery,
                  user: User = Depends(current_user), db: Session = Depends(get_db)) -> FileResponse:
    ch = _channel_for(db, user, channel_id)
    ref = _one_reference(db, ch.id, preset)
    if ref is None:
        what = f" for preset {preset!r}" if preset else ""
        raise HTTPException(404, f"channel {channel_id} has no reference picture{what}")
    return FileResponse(_data_file(request, ref.path), media_type="image/jpeg")


@router.put("/channels/{channel_id}/reference")
def set_reference(channel_id: int, request: Request, preset: str | None = PresetQuery,
                  user: User = Depends(require_roles(*OM_ROLES)), db: Session = Depends(get_db)) -> dict[str, Any]:
    """The operator marks the current view as correct: a picture is taken from the stream now.
    For a PTZ camera that tours its presets, once per preset with ``?preset=``; a patrol then
    judges each picture against the preset view it matches best."""
    from lookout.media.recorder import channel_stream_url
    from lookout.media.snapshot import SnapshotError, grab_frame

    ch = _channel_for(db, user, channel_id)
    preset = preset or ""
    try:  # a bad name or a ninth preset is refused before the camera is asked for a picture
        patrol.check_preset(db, ch, preset)
    except patrol.ReferencePictureError as exc:
        raise HTTPException(422 if isinstance(exc, patrol.PresetNameError) else 409, str(exc)) from exc
    cfg = patrol.PatrolConfig()
    url = channel_stream_url(ch, cfg.stream, request.app.state.secret)
    if not url:
        raise HTTPException(409, f"channel {ch.code} has no stream URL")
    try:
        image = grab_frame(url, timeout=cfg.budget_s)
    except SnapshotError as exc:
        raise HTTPException(502, f"no picture from the camera: {exc}") from exc
    _, replaced = patrol.set_reference(db, Path(_settings(request).data_dir), ch, image, user.username, utcnow(),
                                       preset=preset)
    db.commit()
    patrol.unlink_quietly(replaced)
    # what this picture cannot help judge (a pale wall filling the view: focus), for the operator to
    # choose a view with detail while still at the camera
    return _references_json(db, ch.id) | {"not_judged": reference_limits(image)}


# ---------------------------------------------------------------- fault thresholds of a site and of a channel
def _own(row: SiteThresholds | ChannelThresholds | None) -> dict[str, Any]:
    return {"thresholds": dict(row.thresholds) if row else {}, "set_at": row.set_at.isoformat() if row else None,
            "set_by": row.set_by if row else None}


def _effective(deployment: VqdConfig, own: dict[str, Any]) -> dict[str, float | None]:
    """The deployment's thresholds with ``own`` over them; a stored fault that no longer exists
    leaves the deployment's in force, as the patrol does (``patrol._vqd_config``)."""
    try:
        return deployment.with_thresholds(own).thresholds
    except ValueError:
        return deployment.thresholds


def site_thresholds_json(db: Session, site_id: int) -> dict[str, Any]:
    """The site's own thresholds, the deployment's, and those its channels use unless they have their own."""
    own = _own(db.get(SiteThresholds, site_id))
    deployment = patrol.PatrolConfig().vqd
    return {"site_id": site_id, **own, "deployment": deployment.thresholds,
            "effective": _effective(deployment, own["thresholds"])}


def thresholds_json(db: Session, channel_id: int) -> dict[str, Any]:
    """The channel's own thresholds, its site's, the deployment's, and the effective ones (its own over
    its site's over the deployment's); ``inherited``: what applies where it has none of its own."""
    own = _own(db.get(ChannelThresholds, channel_id))
    ch = db.get(Channel, channel_id)
    site_row = db.get(SiteThresholds, ch.site_id) if ch is not None else None
    site_own = dict(site_row.thresholds) if site_row else {}
    deployment = patrol.PatrolConfig().vqd
    return {"channel_id": channel_id, **own, "site": site_own, "deployment": deployment.thresholds,
            "inherited": _effective(deployment, site_own),
            "effective": _effective(deployment, patrol.merged_thresholds(site_own, own["thresholds"]))}


def _save_thresholds(db: Session, user: User, model: type[SiteThresholds] | type[ChannelThresholds], key: int,
                     kind: str, body: dict[str, float | None]) -> None:
    """Set the site's or channel's own thresholds (replacing any before; None: not judged); refused: an
    unknown fault, a value outside 0–100."""
    try:
        VqdConfig().with_thresholds(body)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    row = db.get(model, key)
    before = dict(row.thresholds) if row else None
    now = utcnow()
    if row is None:
        db.add(model(**{f"{kind}_id": key}, thresholds=dict(body), set_at=now, set_by=user.username))
    else:
        row.thresholds, row.set_at, row.set_by = dict(body), now, user.username
    audit.record(db, user.username, "set_thresholds", kind, key, before, dict(body), now=now)
    db.commit()


def _clear_thresholds(db: Session, user: User, model: type[SiteThresholds] | type[ChannelThresholds], key: int,
                      kind: str) -> None:
    row = db.get(model, key)
    if row is None:
        raise HTTPException(404, f"{kind} {key} has no thresholds of its own")
    audit.record(db, user.username, "clear_thresholds", kind, key, dict(row.thresholds), None)
    db.delete(row)
    db.commit()


@router.get("/channels/{channel_id}/thresholds")
def get_thresholds(channel_id: int, user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict[str, Any]:
    """The channel's own fault thresholds, its site's, the deployment's, and those its patrols use."""
    ch = _channel_for(db, user, channel_id)
    return thresholds_json(db, ch.id)


@router.put("/channels/{channel_id}/thresholds")
def set_thresholds(channel_id: int, body: dict[str, float | None], user: User = Depends(require_roles(*OM_ROLES)),
                   db: Session = Depends(get_db)) -> dict[str, Any]:
    """Set the channel's own thresholds (replacing any before), e.g. ``{"noise": 75}`` for a dusty
    tunnel: a fault is reported from that score; ``null``: the fault is not judged on this camera
    (``{"frozen": null}`` for a view that is still by nature). Unknown faults and values outside
    0–100 are refused."""
    ch = _channel_for(db, user, channel_id)
    _save_thresholds(db, user, ChannelThresholds, ch.id, "channel", body)
    return thresholds_json(db, ch.id)


@router.delete("/channels/{channel_id}/thresholds")
def clear_thresholds(channel_id: int, user: User = Depends(require_roles(*OM_ROLES)),
                     db: Session = Depends(get_db)) -> dict[str, Any]:
    """Back to its site's and the deployment's thresholds."""
    ch = _channel_for(db, user, channel_id)
    _clear_thresholds(db, user, ChannelThresholds, ch.id, "channel")
    return thresholds_json(db, ch.id)


def _site_for(db: Session, user: User, site_id: int) -> Site:
    site = db.get(Site, site_id)
    if site is None or not scope.can_see_site(user, site):
        raise HTTPException(404, f"site {site_id} not found")
    return site


@router.get("/sites/{site_id}/thresholds")
def get_site_thresholds(site_id: int, user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict[str, Any]:
    """The site's own fault thresholds, the deployment's, and those its channels use unless they have their own."""
    return site_thresholds_json(db, _site_for(db, user, site_id).id)


@router.put("/sites/{site_id}/thresholds")
def set_site_thresholds(site_id: int, body: dict[str, float | None], user: User = Depends(require_roles(*OM_ROLES)),
                        db: Session = Depends(get_db)) -> dict[str, Any]:
    """Set the site's own thresholds for all its channels (replacing any before), e.g. ``{"blur": 70}``
    for a mountain area's morning mist (``null``: not judged); a channel's own still win."""
    site = _site_for(db, user, site_id)
    _save_thresholds(db, user, SiteThresholds, site.id, "site", body)
    return site_thresholds_json(db, site.id)


@router.delete("/sites/{site_id}/thresholds")
def clear_site_thresholds(site_id: int, user: User = Depends(require_roles(*OM_ROLES)),
                          db: Session = Depends(get_db)) -> dict[str, Any]:
    """Back to the deployment's thresholds."""
    site = _site_for(db, user, site_id)
    _clear_thresholds(db, user, SiteThresholds, site.id, "site")
    return site_thresholds_json(db, site.id)


@router.delete("/channels/{channel_id}/reference")
def clear_reference(channel_id: int, request: Request, preset: str | None = PresetQuery,
                    user: User = Depends(require_roles(*OM_ROLES)), db: Session = Depends(get_db)) -> dict[str, Any]:
    """Forget the reference picture of ``preset``, or without it every reference of the channel."""
    ch = _channel_for(db, user, channel_id)
    removed = patrol.clear_reference(db, Path(_settings(request).data_dir), ch, user.username, utcnow(), preset=preset)
    if not removed:
        what = f" for preset {preset!r}" if preset is not None else ""
        raise HTTPException(404, f"channel {channel_id} has no reference picture{what}")
    db.commit()
    for f in removed:
        patrol.unlink_quietly(f)
    return _references_json(db, ch.id)


# ---------------------------------------------------------------- work orders
@router.get("/work-orders")
def list_work_orders(status_: str | None = Query(None, alias="status", pattern="^(open|rechecking|closed|live)$"),
                     site_id: int | None = None, channel_id: int | None = None, fault: str | None = None,
                     assignee: str | None = None, overdue: bool | None = None, escalated: bool | None = None,
                     unacknowledged: bool | None = None,
                     page: int = Query(1, ge=1), page_size: int = Query(50, ge=1, le=500),
                     user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict[str, Any]:
    """Work orders of visible channels; ``status=live`` means not closed. Open first, newest first."""
    now = utcnow()
    stmt = workorders.filter_orders(select(WorkOrder).where(WorkOrder.channel_id.in_(_visible(user))), now,
                                    status=status_, site_id=site_id, channel_id=channel_id, fault=fault,
                                    assignee=assignee, overdue=overdue, escalated=escalated,
                                    unacknowledged=unacknowledged)
    total = db.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    rows = db.execute(stmt.limit(page_size).offset((page - 1) * page_size)).scalars()
    return {"items": [order_json(o, now) for o in rows], "total": total, "page": page, "page_size": page_size}


@router.get("/work-orders/{order_id}")
def get_work_order(order_id: int, user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict[str, Any]:
    o = _order_for(db, user, order_id)
    out = order_json(o, utcnow(), detail=True)
    out["escalations"] = [{"at": e.at.isoformat(), "level": e.level, "overdue_s": e.overdue_s, "assignee": e.assignee,
                           "notified": e.notified, "acknowledged_at": _iso(e.acknowledged_at),
                           "acknowledged_by": e.acknowledged_by}
                          for e in db.execute(select(WorkOrderEscalation).where(WorkOrderEscalation.order_id == o.id)
                                              .order_by(WorkOrderEscalation.id)).scalars()]
    return out


class CloseRequest(BaseModel):
    note: str | None = Field(None, max_length=2000)
    wait: bool = False  # answer after the re-check patrol instead of at once


def _change_order(db: Session, change: Callable[[], list[status.Publish]]) -> None:
    """A person's change to an order: refused with 409 naming why (``OrderError``), else committed and
    its events published."""
    try:
        pubs = change()
    except workorders.OrderError as exc:
        raise HTTPException(409, str(exc)) from exc
    db.commit()
    status.publish(pubs)


def _recheck(settings: Any, channel_id: int) -> None:
    try:
        patrol.patrol_once(settings, patrol.PatrolConfig(), channel_ids=[channel_id], due_only=False, trigger="recheck")
    except Exception:  # the scheduled patrol will re-check it then
        log.exception("re-check patrol of channel %s failed", channel_id)


@router.post("/work-orders/{order_id}/close")
def close_work_order(order_id: int, body: CloseRequest, request: Request, background: BackgroundTasks,
                     user: User = Depends(require_roles(*OM_ROLES)), db: Session = Depends(get_db)) -> dict[str, Any]:
    """The repair is done: the order waits for a re-check patrol of its channel, which must pass."""
    o = _order_for(db, user, order_id)
    channel_id = o.channel_id
    _change_order(db, lambda: workorders.request_close(db, o, user.username, body.note, utcnow()))
    if body.wait:
        _recheck(_settings(request), channel_id)
        db.expire_all()
    else:
        background.add_task(_recheck, _settings(request), channel_id)
    return order_json(db.get(WorkOrder, order_id), utcnow())


class AssignRequest(BaseModel):
    assignee: str = Field(min_length=1, max_length=64)
    note: str | None = Field(None, max_length=2000)


def assignable(db: Session, order: WorkOrder) -> list[str]:
    """Who an order may be handed to: the active O&M engineers whose scope covers its camera."""
    ch = db.get(Channel, order.channel_id)
    users = db.execute(select(User).where(User.role == ASSIGNEE_ROLE, User.active.is_(True))
                       .order_by(User.username)).scalars()
    return [u.username for u in users if ch is not None and scope.can_see_channel(u, ch)]


@router.post("/work-orders/{order_id}/assign")
def assign_work_order(order_id: int, body: AssignRequest, user: User = Depends(require_roles(*OM_ROLES)),
                      db: Session = Depends(get_db)) -> dict[str, Any]:
    """Hand the order to another O&M engineer who can see its camera (422 naming who cannot take it)."""
    o = _order_for(db, user, order_id)
    if body.assignee not in assignable(db, o):
        raise HTTPException(422, f"assignee: '{body.assignee}' is no active O&M engineer who can see this camera")
    _change_order(db, lambda: workorders.reassign(db, o, body.assignee, user.username, body.note, utcnow()))
    return get_work_order(order_id, user, db)


@router.post("/work-orders/{order_id}/acknowledge")
def acknowledge_work_order(order_id: int, user: User = Depends(require_roles(*ACK_ROLES)),
                           db: Session = Depends(get_db)) -> dict[str, Any]:
    """Someone told of an overdue order's escalation takes it in hand (409 when none is waiting)."""
    o = _order_for(db, user, order_id)
    _change_order(db, lambda: workorders.acknowledge(db, o, user.username, utcnow()))
    return get_work_order(order_id, user, db)


@router.get("/work-orders/{order_id}/recheck")
def recheck_result(order_id: int, user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict[str, Any]:
    o = _order_for(db, user, order_id)
    if o.close_requested_at is None:
        state = "not requested"
    elif o.status == "rechecking":
        state = "pending"
    else:
        state = "passed" if o.recheck_passed else "failed"
    diag = db.get(DiagnosisRecord, o.recheck_diagnosis_id) if o.recheck_diagnosis_id else None
    return {"order_id": o.id, "state": state, "status": o.status, "close_requested_at": _iso(o.close_requested_at),
            "recheck_at": _iso(o.recheck_at), "passed": o.recheck_passed, "note": o.recheck_note,
            "diagnosis": diagnosis_json(diag) if diag else None}


def run_json(run: PatrolRun) -> dict[str, Any]:
    return {"id": run.id, "trigger": run.trigger, "started_at": _iso(run.started_at), "finished_at": _iso(run.finished_at)}


@router.get("/patrol-runs")
def patrol_runs(page: int = Query(1, ge=1), page_size: int = Query(30, ge=1, le=500),
                user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict[str, Any]:
    """Patrol runs over visible channels, newest first, each with what it found among them."""
    total, rows = reports.patrol_runs(db, _visible(user), page, page_size)
    return {"items": [{**run_json(r), "channels": n, "online": int(on or 0), "faulty": int(bad or 0)}
                      for r, n, on, bad in rows], "total": total, "page": page, "page_size": page_size}


@router.get("/patrol-runs/{run_id}")
def patrol_run(run_id: int, user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict[str, Any]:
    """One patrol's report over visible channels: totals, per site, and each channel's result."""
    rep = reports.patrol_report(db, run_id, _visible(user))
    if rep is None:
        raise HTTPException(404, f"patrol run {run_id} not found")
    return {**run_json(rep["run"]), "total": rep["total"], "sites": rep["sites"],
            "results": [{"channel_id": r["camera"].id, "code": r["camera"].code, "name": r["camera"].name,
                         "site": r["site"], "outcome": r["outcome"], "diagnosis": diagnosis_json(r["diagnosis"])}
                        for r in rep["results"]]}


@router.get("/repair-stats")
def repair_stats(by: str = Query("site", pattern="^(site|vendor)$"), start: datetime | None = None,
                 end: datetime | None = None, user: User = Depends(current_user),
                 db: Session = Depends(get_db)) -> dict[str, Any]:
    now = utcnow()
    end_ = _aware(end, "end") or now
    start_ = _aware(start, "start") or end_ - timedelta(days=30)
    return {"by": by, "start": start_.isoformat(), "end": end_.isoformat(),
            "groups": workorders.repair_stats(db, by, start_, end_, now, _visible(user))}

