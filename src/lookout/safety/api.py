"""Crowd-safety API. ``router`` is mounted under /api/v1; ``public_router`` at the root.

Public (no account; for information screens at the gates):
- ``GET /api/v1/screen/{site_id}``: visitors now, % of capacity, level colour, zones, queue waits.
- ``GET /screen/{site_id}``: the same as a large-type Chinese page refreshing every 5 s.

Signed in (scoped to the sites the account may see):
- ``GET /sites/{id}/safety``: level, ratios, thresholds, the time-to-threshold estimate.
- ``GET|PUT /sites/{id}/capacity``: LB/T 034 figures (C1, C2) and the approved maxima; edits audited.
- ``GET|PUT /sites/{id}/safety-config``: action endpoints and the acknowledgement timeout; audited.
- ``GET /incidents``, ``GET /incidents/{id}`` (report JSON), ``GET /incidents/{id}/report.pdf``.
- ``POST /plan-items/{id}/done``, ``POST /alerts/{id}/ack``.
- ``GET /sites/{id}/forecast?hours=72``; ``GET|PUT /sites/{id}/forecast-inputs`` (daily weather and
  events the forecast learns from and uses; edits audited).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from html import escape
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from lookout.api.deps import current_user, get_db, require_roles
from lookout.registry.models import Site, Zone
from lookout.safety import capacity as cap
from lookout.safety.engine import Limits, Occupancy, Thresholds, ThresholdError
from lookout.safety.live import current_service, load_limits
from lookout.safety.models import Alert, Gate, Incident, PlanItem, SafetySiteConfig, SafetyState
from lookout.safety.screen import GateQueue, build_screen
from lookout.security import audit
from lookout.security.models import User
from lookout.security.scope import can_see_site, site_filter

router = APIRouter(tags=["safety"])
public_router = APIRouter(tags=["safety"])

MANAGE = ("admin", "site_manager", "official")
ACT = ("admin", "operator", "site_manager", "official")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _site(db: Session, site_id: int, user: User | None) -> Site:
    site = db.get(Site, site_id)
    if site is None or (user is not None and not can_see_site(user, site)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"site {site_id} not found")
    return site


def _occupancy(db: Session, site: Site, now: datetime) -> tuple[Occupancy | None, datetime | None]:
    """The freshest occupancy: the live service's, else the counting fusion's, else the stored one."""
    svc = current_service()
    if svc is not None:
        snap = svc.snapshot(site.id)
        if snap and snap.get("occupancy"):
            return Occupancy.from_dict(snap["occupancy"]), now
    try:
        from lookout.counting.fusion import site_occupancy
        from lookout.safety.live import occupancy_from_payload

        return occupancy_from_payload(site_occupancy(db, site.id, now).to_dict()), now
    except ImportError:
        pass
    row = db.get(SafetyState, site.id)
    if row and row.last_occupancy:
        return Occupancy.from_dict(row.last_occupancy), row.updated_at
    return None, None


def screen_data(db: Session, site: Site, now: datetime) -> dict[str, Any]:
    limits, thr = load_limits(db, site)
    occ, updated = _occupancy(db, site, now)
    state = db.get(SafetyState, site.id)
    level = state.level if state else "none"
    zone_by_id = {z.id: z.name for z in db.execute(select(Zone).where(Zone.site_id == site.id)).scalars()}
    gates = [
        GateQueue(g.name, (occ.zones.get(zone_by_id.get(g.queue_zone_id, ""), None) if occ else None), g.service_rate_per_min)
        for g in db.execute(select(Gate).where(Gate.site_id == site.id).order_by(Gate.id)).scalars()
    ]
    svc = current_service()
    trend = svc.trend(site.id, now) if svc else None
    return build_screen(site_id=site.id, site_name=site.name, tz=site.timezone or "Asia/Shanghai", occ=occ, limits=limits,
                        level=level, gates=gates, now=now, trend=trend, updated_at=updated)


# ----------------------------------------------------------------------------- public
@router.get("/screen/{site_id}")
def public_screen(site_id: int, db: Session = Depends(get_db)) -> dict[str, Any]:
    """Public information-screen data (no account: shown on screens at the gates)."""
    return screen_data(db, _site(db, site_id, None), _now())


_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title} · 客流信息</title>
<style>
body{{margin:0;font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei","Microsoft YaHei",sans-serif;background:#111;color:#fff}}
header{{padding:2vh 3vw;font-size:5vh;font-weight:bold;display:flex;justify-content:space-between}}
#band{{padding:2vh 3vw;font-size:6vh;font-weight:bold;background:{colour}}}
main{{display:grid;grid-template-columns:1fr 1fr;gap:2vh 3vw;padding:2vh 3vw}}
.big{{font-size:13vh;font-weight:bold;line-height:1.1}} .label{{font-size:3.5vh;color:#bbb}}
table{{width:100%;font-size:4vh;border-collapse:collapse}} td{{padding:.6vh 0;border-bottom:1px solid #333}} td.r{{text-align:right}}
#msg{{padding:2vh 3vw;font-size:4.5vh}}
</style></head><body>
<header><span id="site">{title}</span><span id="clock"></span></header>
<div id="band">—</div>
<main>
<div><div class="label">景区内游客 Visitors now</div><div class="big" id="present">—</div><div class="label" id="pct"></div></div>
<div><div class="label">今日累计 Today</div><div class="big" id="daily">—</div><div class="label" id="dpct"></div></div>
<div><div class="label">区域人数 Zones</div><table id="zones"></table></div>
<div><div class="label">入口排队 Queue waits</div><table id="queues"></table></div>
</main>
<div id="msg"></div>
<script>
const URL_JSON = "/api/v1/screen/{site_id}";
function cell(t, r) {{ const td = document.createElement("td"); td.textContent = t; if (r) td.className = "r"; return td; }}
function rows(id, items) {{
  const t = document.getElementById(id); t.replaceChildren();
  for (const it of items) {{ const tr = document.createElement("tr"); tr.append(cell(it[0]), cell(it[1], true)); t.append(tr); }}
}}
async function refresh() {{
  try {{
    const r = await fetch(URL_JSON, {{cache: "no-store"}}); if (!r.ok) return; const d = await r.json();
    document.getElementById("band").textContent = d.level === "none" ? "客流正常" : d.level_zh + "预警";
    document.getElementById("band").style.background = d.colour;
    document.getElementById("present").textContent = d.present.toLocaleString("zh-CN");
    document.getElementById("pct").textContent = d.percent == null ? "" : "瞬时承载量的 " + d.percent + "%";
    document.getElementById("daily").textContent = d.entered_today.toLocaleString("zh-CN");
    document.getElementById("dpct").textContent = d.daily_percent == null ? "" : "日最大承载量的 " + d.daily_percent + "%";
    rows("zones", d.zones.map(z => [z.name, (z.count ?? "—") + (z.percent == null ? "" : " 人 · " + z.percent + "%")]));
    rows("queues", d.queues.map(q => [q.gate, q.wait_minutes == null ? "—" : (q.wait_minutes < 1 ? "无需排队" : "约 " + Math.ceil(q.wait_minutes) + " 分钟")]));
    document.getElementById("msg").textContent = d.message_zh;
    document.getElementById("clock").textContent = d.local_time;
  }} catch (e) {{ /* keep the last figures on a network blip */ }}
}}
refresh(); setInterval(refresh, 5000);
</script></body></html>"""


@public_router.get("/screen/{site_id}", response_class=HTMLResponse)
def public_screen_page(site_id: int, db: Session = Depends(get_db)) -> HTMLResponse:
    """A public information-screen page: Chinese, large type, refreshing every 5 s, no CDN."""
    site = _site(db, site_id, None)
    return HTMLResponse(_PAGE.format(title=escape(site.name), site_id=site.id, colour="#2e7d32"))


# ----------------------------------------------------------------------------- level and capacity
@router.get("/sites/{site_id}/safety")
def site_safety(site_id: int, user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict[str, Any]:
    site = _site(db, site_id, user)
    now = _now()
    data = screen_data(db, site, now)
    state = db.get(SafetyState, site.id)
    _, thr = load_limits(db, site)
    data["measures"] = (state.state or {}).get("measures", {}) if state else {}
    data["thresholds"] = thr.to_dict()
    inc = db.execute(select(Incident).where(Incident.site_id == site.id, Incident.status == "open")).scalars().first()
    data["incident_id"] = inc.id if inc else None
    return data


def _capacity_view(db: Session, site: Site) -> dict[str, Any]:
    zones = db.execute(select(Zone).where(Zone.site_id == site.id).order_by(Zone.id)).scalars().all()
    spots = [cap.Spot(z.name, z.area_m2, z.per_capita_m2) for z in zones if z.area_m2 is not None and z.per_capita_m2]
    overrides = {z.name: z.capacity_override for z in zones if z.capacity_override is not None}
    try:
        c = cap.site_capacity(spots, opening=site.opening_time, closing=site.closing_time, avg_visit_min=site.avg_visit_minutes,
                              approved_instant=site.instant_max, approved_daily=site.daily_max, zone_overrides=overrides)
        computed: dict[str, Any] = {"c1": c.c1_computed, "c2": c.c2_computed, "turnover": c.turnover,
                                    "instant_source": c.instant_source, "daily_source": c.daily_source}
    except cap.CapacityError as exc:
        computed = {"error": str(exc)}
    return {
        "site_id": site.id,
        "opening_time": site.opening_time,
        "closing_time": site.closing_time,
        "avg_visit_minutes": site.avg_visit_minutes,
        "instant_max": site.instant_max,
        "daily_max": site.daily_max,
        "thresholds": Thresholds.from_dict(site.thresholds).to_dict(),
        "computed": computed,
        "zones": [{"id": z.id, "name": z.name, "area_m2": z.area_m2, "per_capita_m2": z.per_capita_m2,
                   "capacity_override": z.capacity_override, "capacity": z.capacity} for z in zones],
    }


@router.get("/sites/{site_id}/capacity")
def get_capacity(site_id: int, user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict[str, Any]:
    return _capacity_view(db, _site(db, site_id, user))


class ZoneCapacityIn(BaseModel):
    id: int
    area_m2: float | None = Field(default=None, ge=0)
    per_capita_m2: float | None = Field(default=None, gt=0)
    capacity_override: int | None = Field(default=None, gt=0)


class CapacityIn(BaseModel):
    instant_max: int | None = Field(default=None, gt=0)
    daily_max: int | None = Field(default=None, gt=0)
    opening_time: str | None = None
    closing_time: str | None = None
    avg_visit_minutes: int | None = Field(default=None, gt=0)
    thresholds: dict[str, float] | None = None
    zones: list[ZoneCapacityIn] = []


@router.put("/sites/{site_id}/capacity")
def put_capacity(site_id: int, body: CapacityIn, user: User = Depends(require_roles(*MANAGE)),
                 db: Session = Depends(get_db)) -> dict[str, Any]:
    """Edit capacity figures (approved maxima, opening hours, zone areas); every change audited."""
    site = _site(db, site_id, user)
    before = _capacity_view(db, site)
    fields = body.model_dump(exclude_unset=True)
    try:
        for k in ("opening_time", "closing_time"):
            if k in fields and fields[k] is not None:
                cap.hhmm_to_minutes(fields[k])
        if "thresholds" in fields:
            Thresholds.from_dict(fields["thresholds"])
    except (cap.CapacityError, ThresholdError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    for k in ("instant_max", "daily_max", "opening_time", "closing_time", "avg_visit_minutes", "thresholds"):
        if k in fields:
            setattr(site, k, fields[k])
    for zin in body.zones:
        z = db.get(Zone, zin.id)
        if z is None or z.site_id != site.id:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"zone {zin.id} is not a zone of site {site.id}")
        for k, v in zin.model_dump(exclude_unset=True).items():
            if k != "id":
                setattr(z, k, v)
    db.flush()
    after = _capacity_view(db, site)
    audit.record(db, user.username, "update", "site_capacity", site.id, before, after)
    svc = current_service()
    if svc is not None:
        svc.invalidate(site.id)
    return after


class SafetyConfigIn(BaseModel):
    ticketing_url: str | None = None
    screen_url: str | None = None
    broadcast_url: str | None = None
    upward_url: str | None = None
    ack_timeout_s: int | None = Field(default=None, ge=10, le=3600)


def _config_view(cfg: SafetySiteConfig | None, site_id: int) -> dict[str, Any]:
    keys = ("ticketing_url", "screen_url", "broadcast_url", "upward_url", "ack_timeout_s")
    return {"site_id": site_id, **{k: (getattr(cfg, k) if cfg else (180 if k == "ack_timeout_s" else None)) for k in keys}}


@router.get("/sites/{site_id}/safety-config")
def get_config(site_id: int, user: User = Depends(require_roles(*MANAGE)), db: Session = Depends(get_db)) -> dict[str, Any]:
    site = _site(db, site_id, user)
    return _config_view(db.get(SafetySiteConfig, site.id), site.id)


@router.put("/sites/{site_id}/safety-config")
def put_config(site_id: int, body: SafetyConfigIn, user: User = Depends(require_roles(*MANAGE)),
               db: Session = Depends(get_db)) -> dict[str, Any]:
    site = _site(db, site_id, user)
    cfg = db.get(SafetySiteConfig, site.id)
    before = _config_view(cfg, site.id)
    if cfg is None:
        cfg = SafetySiteConfig(site_id=site.id)
        db.add(cfg)
    for k, v in body.model_dump(exclude_unset=True).items():
        if k.endswith("_url") and v and not v.startswith(("http://", "https://")):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{k} must be an http(s) URL, got {v!r}")
        setattr(cfg, k, v)
    db.flush()
    after = _config_view(cfg, site.id)
    audit.record(db, user.username, "update", "safety_config", site.id, before, after)
    return after


# ----------------------------------------------------------------------------- incidents, duty
@router.get("/incidents")
def list_incidents(site_id: int | None = None, status_: str | None = Query(None, alias="status"),
                   limit: int = Query(50, ge=1, le=500), user: User = Depends(current_user),
                   db: Session = Depends(get_db)) -> list[dict[str, Any]]:
    stmt = site_filter(select(Incident), user, Incident.site_id)
    if site_id:
        stmt = stmt.where(Incident.site_id == site_id)
    if status_:
        stmt = stmt.where(Incident.status == status_)
    rows = db.execute(stmt.order_by(Incident.opened_at.desc()).limit(limit)).scalars()
    return [{"id": i.id, "site_id": i.site_id, "status": i.status, "level": i.level, "peak_level": i.peak_level,
             "opened_at": i.opened_at.isoformat(), "closed_at": i.closed_at.isoformat() if i.closed_at else None,
             "peak_present": i.peak_present, "drill": i.drill} for i in rows]


def _incident(db: Session, incident_id: int, user: User) -> Incident:
    inc = db.get(Incident, incident_id)
    if inc is None or not can_see_site(user, db.get(Site, inc.site_id)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"incident {incident_id} not found")
    return inc


@router.get("/incidents/{incident_id}")
def get_incident(incident_id: int, user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict[str, Any]:
    from lookout.safety.reports import incident_report

    return incident_report(db, _incident(db, incident_id, user).id)


@router.get("/incidents/{incident_id}/report.pdf")
def get_incident_pdf(incident_id: int, user: User = Depends(current_user), db: Session = Depends(get_db)) -> Response:
    from lookout.safety.reports import incident_pdf, incident_report

    inc = _incident(db, incident_id, user)
    pdf = incident_pdf(incident_report(db, inc.id))
    audit.record(db, user.username, "export", "safety_incident_report", inc.id)
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="incident-{inc.id}.pdf"'})


@router.post("/plan-items/{item_id}/done")
def plan_item_done(item_id: int, user: User = Depends(require_roles(*ACT)), db: Session = Depends(get_db)) -> dict[str, Any]:
    from lookout.safety.incidents import mark_item_done

    item = db.get(PlanItem, item_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"plan item {item_id} not found")
    _incident(db, item.incident_id, user)
    mark_item_done(db, item.id, user.username, _now())
    audit.record(db, user.username, "update", "safety_plan_item", item.id, None, {"done_by": user.username})
    return {"id": item.id, "done_at": item.done_at.isoformat(), "done_by": item.done_by}


@router.post("/alerts/{alert_id}/ack")
def ack_alert(alert_id: int, user: User = Depends(require_roles(*ACT)), db: Session = Depends(get_db)) -> dict[str, Any]:
    from lookout.safety.duty import acknowledge

    alert = db.get(Alert, alert_id)
    if alert is None or not can_see_site(user, db.get(Site, alert.site_id)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"alert {alert_id} not found")
    acknowledge(db, alert.id, user.username, _now())
    return {"id": alert.id, "status": alert.status, "acked_at": alert.acked_at.isoformat(), "ack_seconds": alert.ack_seconds}


@router.get("/sites/{site_id}/forecast-inputs")
def get_forecast_inputs(site_id: int, start: date | None = None, end: date | None = None,
                        user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict[str, Any]:
    """The site's daily forecast inputs (weather, events) between ``start`` and ``end`` (local days)."""
    from lookout.safety import forecast_inputs as fi

    site = _site(db, site_id, user)
    return {"site_id": site.id,
            "inputs": {k: {"min": v.low, "max": v.high, "zh": v.label_zh, "en": v.label_en} for k, v in fi.INPUTS.items()},
            "rows": [{"day": r.day.isoformat(), "name": r.name, "value": r.value, "set_by": r.set_by,
                      "set_at": r.set_at.isoformat()} for r in fi.load(db, [site.id], start, end)]}


@router.put("/sites/{site_id}/forecast-inputs")
def put_forecast_inputs(site_id: int, rows: list[dict[str, Any]], user: User = Depends(require_roles(*ACT)),
                        db: Session = Depends(get_db)) -> dict[str, Any]:
    """Record daily inputs: past days' weather and events (so the model learns them) and the
    coming days' forecast and plans (so it uses them). ``[{"day", "name", "value"}, …]``; all
    rows are stored or none, and an error names the row and field."""
    from lookout.safety import forecast_inputs as fi

    site = _site(db, site_id, user)
    try:
        valid = fi.validate(rows)
    except fi.ForecastInputError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    changed = fi.store(db, site.id, valid, user.username, _now())
    db.commit()
    return {"site_id": site.id, "rows": len(valid), "changed": changed}


@router.get("/sites/{site_id}/forecast")
def site_forecast(site_id: int, hours: int = Query(72, ge=1, le=168), country: str = "CN",
                  user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict[str, Any]:
    from lookout.safety.forecast import ForecastError, forecast_for_site

    site = _site(db, site_id, user)
    try:
        return forecast_for_site(db, site.id, hours=hours, country=country)
    except ForecastError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


__all__ = ["router", "public_router", "screen_data", "Limits"]
