"""Pages to watch: sign-in, district overview, site view, video wall, O&M, a camera's health, compliance."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from lookout.api.deps import SESSION_COOKIE, get_db
from lookout.registry.models import CHANNEL_STATUSES, ONLINE_STATUSES, SITE_CATEGORIES, Channel, Site
from lookout.security import audit, scope
from lookout.store.base import utcnow
from lookout.web import i18n, media_links, om_data, queries
from lookout.web.app import csv_response, lang_of, localtime, page_user, redirect, render

log = logging.getLogger(__name__)
router = APIRouter()


def _safe_next(nxt: str | None) -> str:
    if not nxt or not nxt.startswith("/") or nxt.startswith("//"):
        return "/overview"
    return nxt


@router.get("/")
def root() -> Response:
    return redirect("/overview")


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    """Browsers ask for it on every page, the public information screen included."""
    return FileResponse(Path(__file__).parent / "static" / "favicon.svg", media_type="image/svg+xml",
                        headers={"Cache-Control": "max-age=86400"})


@router.get("/login")
def login_page(request: Request, next: str | None = None, db: Session = Depends(get_db)):
    return render(request, "login.html", None, next=_safe_next(next))


@router.get("/logout")
def logout(request: Request) -> Response:
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


@router.get("/lang/{code}")
def switch_lang(code: str, next: str | None = None) -> Response:
    lang = i18n.normalise(code) or i18n.DEFAULT_LANG
    resp = redirect(_safe_next(next))
    resp.set_cookie(i18n.LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return resp


# ---------------------------------------------------------------- overview
@router.get("/overview")
def overview(request: Request, q: str | None = None, category: str | None = None, db: Session = Depends(get_db)):
    user = page_user(request, db)
    now = utcnow()
    sites = db.execute(queries.visible_sites(db, user, q=q, category=category or None)).scalars().all()
    rows = queries.site_rows(db, user, sites, now)
    rows.sort(key=lambda r: (-["none", "yellow", "orange", "red"].index(r.level), -(r.capacity_pct or 0), r.site.id))
    totals = {
        "present": sum(r.present for r in rows),
        "today": sum(r.entered_today for r in rows),
        "warning": sum(1 for r in rows if r.level != "none"),
        "cameras": sum(r.cameras for r in rows),
        "online": sum(r.online for r in rows),
        "normal": sum(r.normal for r in rows),
        "faults": sum(r.faults for r in rows),
    }
    totals["online_rate"] = queries.rate(totals["online"], totals["cameras"])
    totals["normal_rate"] = queries.rate(totals["normal"], totals["cameras"])
    return render(request, "overview.html", user, rows=rows, totals=totals, q=q or "", category=category or "",
                  categories=SITE_CATEGORIES, markers=[r.as_json() for r in rows],
                  has_boundary=_district_geojson(request) is not None)


def _district_geojson(request: Request) -> Path | None:
    p = Path(request.app.state.settings.data_dir) / "maps" / "district.geojson"
    return p if p.is_file() else None


@router.get("/ui/district.geojson")
def district_geojson(request: Request, db: Session = Depends(get_db)):
    page_user(request, db)
    p = _district_geojson(request)
    if p is None:
        return JSONResponse({"type": "FeatureCollection", "features": []})
    try:
        return JSONResponse(json.loads(p.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        log.warning("district boundary %s unreadable: %s", p, exc)
        return JSONResponse({"type": "FeatureCollection", "features": [], "error": f"{p.name}: {exc}"})


# ---------------------------------------------------------------- site view
@router.get("/sites/{site_id}")
def site_view(site_id: int, request: Request, page: int = Query(1, ge=1), db: Session = Depends(get_db)):
    user = page_user(request, db)
    site = queries.get_site(db, user, site_id)
    if site is None:
        return render(request, "error.html", user, status_code=404, message=i18n.t("error.not_found", lang_of(request, user)))
    now = utcnow()
    row = queries.site_rows(db, user, [site], now)[0]
    live = queries.site_live(db, [site], now)[site.id]
    counted = queries.counted_live(db, site, now)
    if counted is not None:  # fresher than the warning engine's last stored snapshot
        counted.level = live.level
        if not counted.entered_today:  # presence-only counting: the day's entries come from the warning state
            counted.entered_today = live.entered_today
        live = counted
        row.present, row.entered_today = live.present, live.entered_today
        row.capacity_pct = queries.capacity_pct(live.present, live.entered_today, row.instant_max, row.daily_max)
    zones = queries.zone_rows(db, user, site, live)
    cams, info = queries.site_channels(db, user, site.id, page)
    curve = queries.today_curve(db, site, now)
    plan = {
        "image": f"/sites/{site.id}/plan" if _plan_path(request, site.plan_image) else None,
        "zones": [{"id": z.zone.id, "name": z.zone.name, "polygon": z.zone.polygon, "count": z.count,
                   "capacity": z.capacity} for z in zones if z.zone.polygon],
        "cameras": [{"id": c.id, "name": c.name, "x": c.plan_x, "y": c.plan_y, "status": c.status}
                    for c, _ in cams if c.plan_x is not None and c.plan_y is not None],
    }
    incident = None
    sm = queries.safety_models()
    if sm is not None:
        incident = db.execute(select(sm.Incident).where(sm.Incident.site_id == site.id, sm.Incident.status == "open")
                              .order_by(sm.Incident.id.desc())).scalars().first()
    refs = om_data.reference_presets(db, [c.id for c, _ in cams])
    om = refs is not None and om_data.may_act_as_om(user)
    return render(request, "site.html", user, site=site, row=row, live=live, zones=zones, cams=cams, info=info,
                  curve=curve, plan=plan, incident=incident, site_tz=site.timezone or "Asia/Shanghai",
                  live_view=media_links.has_live_view(request.app), refs=refs, can_mark_reference=om,
                  thresholds=om_data.site_thresholds(db, site.id) if om else None,
                  ptz=om_data.ptz_channels(db, user, [c.id for c, _ in cams]))


def _plan_path(request: Request, plan_image: str | None) -> Path | None:
    if not plan_image:
        return None
    base = (Path(request.app.state.settings.data_dir) / "plans").resolve()
    p = (base / plan_image).resolve()
    if base not in p.parents or not p.is_file():
        return None
    return p


@router.get("/sites/{site_id}/plan")
def site_plan(site_id: int, request: Request, db: Session = Depends(get_db)):
    user = page_user(request, db)
    site = queries.get_site(db, user, site_id)
    p = _plan_path(request, site.plan_image) if site else None
    if p is None:
        raise HTTPException(404, f"site {site_id} has no plan image")
    return FileResponse(p)


# ---------------------------------------------------------------- video wall
LAYOUTS = (2, 3, 4)


@router.get("/wall")
def wall(request: Request, layout: int = Query(3), site: queries.OptionalId = None, page: int = Query(1, ge=1),
         status: str | None = None, mode: str = "live", db: Session = Depends(get_db)):
    user = page_user(request, db)
    layout = layout if layout in LAYOUTS else 3
    mode = mode if mode in ("live", "snapshot") else "live"
    stmt = scope.channel_filter(select(Channel), user).order_by(Channel.site_id, Channel.id)
    if site:
        stmt = stmt.where(Channel.site_id == site)
    if status in CHANNEL_STATUSES:
        stmt = stmt.where(Channel.status == status)
    rows, info = queries.paged(db, stmt, page, layout * layout)
    tiles = [media_links.tile(request.app, r[0]) for r in rows]
    return render(request, "wall.html", user, layout=layout, layouts=LAYOUTS, tiles=tiles, info=info,
                  site_id=site, sites=queries.site_options(db, user), status=status or "",
                  statuses=CHANNEL_STATUSES, live_view=media_links.has_live_view(request.app), mode=mode)


# ---------------------------------------------------------------- O&M
@router.get("/om")
def om(request: Request, site: queries.OptionalId = None, status: str | None = None, q: str | None = None,
       page: int = Query(1, ge=1), db: Session = Depends(get_db)):
    user = page_user(request, db)
    st = status if status in ("offline", "fault") else None
    stmt = queries.channel_search(db, user, q=q, site_id=site, status=st, statuses=("offline", "fault"))
    rows, info = queries.paged(db, stmt, page, 50)
    counts = queries.channel_status_counts(db, user)
    total = sum(sum(c.values()) for c in counts.values())
    online = sum(c.get(st, 0) for c in counts.values() for st in ONLINE_STATUSES)
    normal = sum(c.get("online", 0) for c in counts.values())

    now = utcnow()
    orders = om_data.work_orders(db, user, page=1, page_size=20)
    waiting = om_data.work_orders(db, user, page=1, page_size=1, unacknowledged=True)
    trend = om_data.online_trend(db, user, now)
    no_reference = om_data.without_reference(db, user)
    # a camera turned away from its view (an open scene-change order) can be called back to a preset here
    turned = [wo.channel_id for wo, *_ in (orders[0] if orders else [])
              if wo.fault == "scene_change" and wo.status != "closed"]
    return render(request, "om.html", user, rows=rows, info=info, site_id=site, status=status or "", q=q or "",
                  sites=queries.site_options(db, user), online_rate=queries.rate(online, total), total=total,
                  online=online, normal=normal, normal_rate=queries.rate(normal, total), orders=orders, trend=trend,
                  no_reference=no_reference, now=now,
                  repair=om_data.repair_stats(db, user, now), unacknowledged=waiting[1].total if waiting else 0,
                  ptz=om_data.ptz_channels(db, user, turned) if turned else None,
                  snapshot=lambda ch: media_links.snapshot_url(request.app, ch))


class OrderFilters:
    """The orders page's filter form (by default the orders not closed), as ``workorders.filter_orders`` takes it."""

    def __init__(self, status: str = "live", site: queries.OptionalId = None, fault: str | None = None,
                 mine: bool = False, overdue: bool = False, escalated: bool = False, unacknowledged: bool = False):
        wol = queries.optional("lookout.health.workorders")
        self.statuses = wol.ORDER_STATUS_FILTERS if wol is not None else ()
        self.faults = [*queries.optional("lookout.health.vqd").FAULTS, wol.OFFLINE_FAULT] if wol is not None else []
        self.status = status if status in self.statuses else None
        self.site, self.fault = site, fault if fault in self.faults else None
        self.mine, self.overdue, self.escalated, self.unacknowledged = mine, overdue, escalated, unacknowledged

    def query(self, user: Any) -> dict[str, Any]:
        return {"status": self.status, "site_id": self.site, "fault": self.fault,
                "assignee": user.username if self.mine else None, "overdue": True if self.overdue else None,
                "escalated": True if self.escalated else None, "unacknowledged": True if self.unacknowledged else None}


@router.get("/om/orders")
def om_orders(request: Request, f: OrderFilters = Depends(), page: int = Query(1, ge=1), db: Session = Depends(get_db)):
    """Every work order the account may see, filtered (by default those not closed) and paged."""
    user = page_user(request, db)
    orders = om_data.work_orders(db, user, page=page, page_size=50, **f.query(user))
    return render(request, "orders.html", user, orders=orders, statuses=f.statuses, status=f.status or "",
                  site_id=f.site, fault=f.fault or "", faults=f.faults, mine=f.mine, overdue=f.overdue,
                  escalated=f.escalated, unacknowledged=f.unacknowledged, now=utcnow(),
                  sites=queries.site_options(db, user))


@router.get("/om/orders.csv")
def om_orders_csv(request: Request, f: OrderFilters = Depends(), db: Session = Depends(get_db)):
    """The filtered work orders as CSV (UTF-8 with a byte-order mark, for Excel), every page (audited)."""
    user = page_user(request, db)
    lang, tz, now = lang_of(request, user), request.app.state.settings.timezone, utcnow()
    orders = om_data.work_orders(db, user, page=1, page_size=100_000, **f.query(user))
    rows = orders[0] if orders else []
    when = lambda t: localtime(t, tz) if t else ""  # noqa: E731
    out = [[i18n.t(k, lang) for k in ("om.wo.id", "cam.site", "cam.name", "cam.code", "om.wo.fault", "om.wo.status",
                                      "om.wo.assignee", "om.wo.opened", "om.wo.deadline", "om.wo.closed_at",
                                      "om.wo.repair_h", "om.wo.overdue", "wo.escalation_level", "om.wo.note")]]
    for wo, cname, ccode, sname in rows:
        out.append([wo.id, sname, cname, ccode, i18n.t(f"fault.{wo.fault}", lang), i18n.t(f"wo.status.{wo.status}", lang),
                    wo.assignee or "", when(wo.opened_at), when(wo.deadline_at), when(wo.closed_at),
                    "" if wo.repair_hours is None else f"{wo.repair_hours:.1f}",
                    i18n.t("yes" if wo.is_overdue(now) else "no", lang), wo.escalation_level or "", wo.close_note or ""])
    audit.record(db, user.username, "export", "work_order", None, None, {"rows": len(rows), **f.query(user)})
    return csv_response(out, "work-orders.csv")


@router.get("/om/orders/{order_id}")
def om_order(order_id: int, request: Request, db: Session = Depends(get_db)):
    """One work order: its camera, deadline and repair time, and what happened to it, step by step."""
    user = page_user(request, db)
    story = om_data.order_story(db, user, order_id, lang_of(request, user))
    if story is None:
        raise HTTPException(404, f"work order {order_id} not found")
    return render(request, "order.html", user, story=story, now=utcnow(), can_acknowledge=om_data.may_acknowledge(user),
                  can_reassign=om_data.may_act_as_om(user),
                  site_tz=story["site"].timezone if story["site"] and story["site"].timezone else "Asia/Shanghai")


@router.get("/om/patrols")
def om_patrols(request: Request, page: int = Query(1, ge=1), db: Session = Depends(get_db)):
    """Patrol runs over the account's cameras, newest first, each with what it found."""
    user = page_user(request, db)
    return render(request, "patrols.html", user, runs=om_data.patrol_runs(db, user, page=page))


def _patrol_report(request: Request, db: Session, run_id: int) -> tuple[Any, dict[str, Any]]:
    user = page_user(request, db)
    report = om_data.patrol_report(db, user, run_id)
    if report is None:
        raise HTTPException(404, f"patrol {run_id} not found")
    return user, report


@router.get("/om/patrols/{run_id}")
def om_patrol(run_id: int, request: Request, db: Session = Depends(get_db)):
    """One patrol's report (巡检报告): per site what it found, then every camera's result."""
    user, report = _patrol_report(request, db, run_id)
    return render(request, "patrol.html", user, report=report)


@router.get("/om/patrols/{run_id}/report.csv")
def om_patrol_csv(run_id: int, request: Request, db: Session = Depends(get_db)):
    """One patrol's report as CSV (UTF-8 with a byte-order mark, for Excel): a row per camera."""
    user, report = _patrol_report(request, db, run_id)
    lang = lang_of(request, user)
    tz = request.app.state.settings.timezone
    out = [[i18n.t(k, lang) for k in ("cam.site", "cam.name", "cam.code", "patrol.result", "om.wo.fault",
                                      "patrol.reason", "patrol.reference", "camera.time")]]
    for r in report["results"]:
        d = r["diagnosis"]
        out.append([r["site"], r["camera"].name, r["camera"].code, i18n.t(f"patrol.outcome.{r['outcome']}", lang),
                    "、".join(i18n.t(f"fault.{f}", lang) for f in r["faults"]), i18n.stream_error(d.error, lang),
                    "" if d.reference_preset is None else (d.reference_preset or i18n.t("cam.fixed_view", lang)),
                    localtime(d.at, tz, "%Y-%m-%d %H:%M:%S")])
    audit.record(db, user.username, "export", "patrol_run", run_id, None, {"rows": len(report["results"])})
    return csv_response(out, f"patrol-{run_id}.csv")


@router.get("/compliance.csv")
def compliance_csv(request: Request, month: str | None = None, db: Session = Depends(get_db)):
    """The compliance figures of a month per site, then per category and in all, as CSV for a report (audited)."""
    user, data = _compliance(request, db, month)
    lang = lang_of(request, user)
    pct = lambda v: "" if v is None else f"{v:.1f}"  # noqa: E731
    out = [[i18n.t(k, lang) for k in ("comp.month", "cam.site", "comp.channels", "comp.networking", "comp.online",
                                      "comp.normal", "comp.retention", "comp.coverage", "comp.target")]]
    rows = [(r.label, r) for r in data["by_site"]] + [(i18n.t(f"category.{r.key}", lang), r) for r in data["by_cat"]]
    for label, r in rows + [(i18n.t("all", lang), data["total"])]:
        out.append([data["month"], label, r.channels, pct(r.networking_rate), pct(r.online_rate), pct(r.normal_rate),
                    pct(r.retention_rate), pct(r.coverage_rate), f"{r.online_target:.0f}"])
    audit.record(db, user.username, "export", "compliance", None, None, {"month": data["month"], "rows": len(rows) + 1})
    return csv_response(out, f"compliance-{data['month']}.csv")


# ---------------------------------------------------------------- one camera's health
@router.get("/cameras/{channel_id}")
def camera(channel_id: int, request: Request, db: Session = Depends(get_db)):
    """A camera's health: the last diagnosis with each fault's score against its threshold (editable by
    O&M), its reference views, its work orders (closed from here, then re-checked) and state changes."""
    user = page_user(request, db)
    row = db.execute(queries.channel_search(db, user).where(Channel.id == channel_id)).first()
    if row is None:
        raise HTTPException(404, f"camera {channel_id} not found")
    ch, site_name, device_code, zone_name = row
    site = db.get(Site, ch.site_id)
    return render(request, "camera.html", user, c=ch, site_name=site_name, device_code=device_code,
                  zone_name=zone_name, site_tz=site.timezone or "Asia/Shanghai",
                  health=om_data.camera_health(db, ch, utcnow()),
                  refs=om_data.reference_presets(db, [ch.id]), can_mark_reference=om_data.may_act_as_om(user),
                  ptz=om_data.ptz_channels(db, user, [ch.id]))


# ---------------------------------------------------------------- compliance
def _month(value: str | None, today: date) -> tuple[date, date]:
    """The local days of a month given as YYYY-MM (default, or unreadable: this month)."""
    try:
        first = datetime.strptime(value or "", "%Y-%m").date()
    except ValueError:
        first = today.replace(day=1)
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return first, last


def _compliance(request: Request, db: Session, month: str | None) -> tuple[Any, dict[str, Any]]:
    user = page_user(request, db)
    now, tz = utcnow(), request.app.state.settings.timezone
    today = now.astimezone(ZoneInfo(tz)).date()
    first, last = _month(month, today)
    by_site, by_cat, total = queries.compliance(db, user, now, period=(first, last), tz=tz)
    return user, {"by_site": by_site, "by_cat": by_cat, "total": total, "month": f"{first:%Y-%m}", "first": first,
                  "last": min(last, today)}


@router.get("/compliance")
def compliance(request: Request, month: str | None = None, db: Session = Depends(get_db)):
    """Networking, online and normal rates (over a month, from the online history), retention and coverage."""
    user, data = _compliance(request, db, month)
    return render(request, "compliance.html", user, **data,
                  has_recording=queries.optional("lookout.media.models") is not None)
