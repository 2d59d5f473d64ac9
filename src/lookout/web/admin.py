"""Pages to change things: the device ledger (search, import, export) and settings
(capacity and thresholds, duty roster, accounts and scopes). Every write is audited."""

from __future__ import annotations

import logging
import re
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from lookout.api.deps import get_db
from lookout.registry import ledger, service
from lookout.registry.models import CHANNEL_STATUSES, Channel, OrgUnit, Site
from lookout.security import accounts, audit, scope
from lookout.security.models import ROLES, User
from lookout.store.base import utcnow
from lookout.web import i18n, queries
from lookout.web.app import check_same_origin, csv_response, lang_of, page_user, redirect, render
from lookout.web.queries import optional

log = logging.getLogger(__name__)
router = APIRouter()
IMPORT_ROLES = ("admin", "official", "om_engineer")
CAPACITY_ROLES = ("admin", "official", "site_manager")
INPUT_ROLES = CAPACITY_ROLES  # who gives a site's forecast its weather and events
MAX_UPLOAD = 20 * 1024 * 1024


def _forbidden(request: Request, user: User) -> Response:
    return render(request, "error.html", user, status_code=403, message=i18n.t("error.forbidden", lang_of(request, user)))


# ---------------------------------------------------------------- ledger
def _ledger_page(request: Request, db: Session, user: User, *, q: str | None, site: int | None, status: str | None,
                 page: int, result: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    stmt = queries.channel_search(db, user, q=q, site_id=site, status=status if status in CHANNEL_STATUSES else None)
    rows, info = queries.paged(db, stmt, page, 50)
    return render(request, "ledger.html", user, status_code=status_code, rows=rows, info=info, q=q or "",
                  site_id=site, status=status or "", statuses=CHANNEL_STATUSES, sites=queries.site_options(db, user),
                  result=result, may_import=user.role in IMPORT_ROLES)


@router.get("/ledger")
def ledger_page(request: Request, q: str | None = None, site: queries.OptionalId = None, status: str | None = None,
                page: int = Query(1, ge=1), db: Session = Depends(get_db)):
    user = page_user(request, db)
    return _ledger_page(request, db, user, q=q, site=site, status=status, page=page)


def _scope_errors(db: Session, user: User, path: Path) -> list[ledger.RowError]:
    """Rows that would touch sites or channels outside the account's scope."""
    if user.scope_org_id is None and user.scope_site_id is None and user.clearance == 1:
        return []
    visible = {n for (n,) in db.execute(scope.site_filter(select(Site.name), user))}
    all_sites = {n for (n,) in db.execute(select(Site.name))}
    _, good, _ = ledger.validate(ledger.read_rows(path))
    codes = [r.channel_code for r in good]
    hidden_codes: set[str] = set()
    visible_ids = scope.channel_filter(select(Channel.id), user)
    for i in range(0, len(codes), 900):
        chunk = codes[i:i + 900]
        hidden_codes |= set(db.execute(select(Channel.code).where(Channel.code.in_(chunk),
                                                                  Channel.id.notin_(visible_ids))).scalars())
    errors = []
    for r in good:
        if r.site in all_sites and r.site not in visible:
            errors.append(ledger.RowError(r.row, "site", f"'{r.site}' is outside this account's scope"))
        elif r.site not in all_sites and (user.scope_org_id is not None or user.scope_site_id is not None):
            errors.append(ledger.RowError(r.row, "site", f"'{r.site}' does not exist and this account may not create sites"))
        elif r.channel_code in hidden_codes:
            errors.append(ledger.RowError(r.row, "channel_code", f"{r.channel_code} belongs to a channel outside this account's scope"))
        elif r.resource_class < user.clearance:
            errors.append(ledger.RowError(r.row, "resource_class", f"class {r.resource_class} is above this account's clearance"))
    return errors


@router.post("/ledger/import")
async def ledger_import(request: Request, file: UploadFile, dry_run: str | None = None, db: Session = Depends(get_db)):
    check_same_origin(request)
    user = page_user(request, db)
    if user.role not in IMPORT_ROLES:
        return _forbidden(request, user)
    name = Path(file.filename or "ledger.csv").name
    suffix = Path(name).suffix.lower()
    data = await file.read(MAX_UPLOAD + 1)
    result: dict[str, Any] = {"file": name}
    if suffix not in (".csv", ".xlsx"):
        result["error"] = f"{name}: unknown ledger format '{suffix}' (use .csv or .xlsx)"
        return _ledger_page(request, db, user, q=None, site=None, status=None, page=1, result=result, status_code=422)
    if len(data) > MAX_UPLOAD:
        result["error"] = f"{name}: larger than {MAX_UPLOAD // (1024 * 1024)} MB"
        return _ledger_page(request, db, user, q=None, site=None, status=None, page=1, result=result, status_code=413)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            extra = _scope_errors(db, user, path)
            res = ledger.import_ledger(db, path, user.username, dry_run=bool(dry_run) or bool(extra))
        except ledger.LedgerFormatError as exc:
            result["error"] = str(exc)
            return _ledger_page(request, db, user, q=None, site=None, status=None, page=1, result=result, status_code=422)
        except Exception as exc:  # a broken spreadsheet must not take the page down
            log.warning("ledger import of %s failed: %s", name, exc)
            result["error"] = f"{name}: {exc.__class__.__name__}: {exc}"
            return _ledger_page(request, db, user, q=None, site=None, status=None, page=1, result=result, status_code=422)
    errors = sorted([*res.errors, *extra], key=lambda e: (e.row, e.field))
    result.update(rows=res.rows, valid=res.valid, imported=res.imported, created=res.created, updated=res.updated,
                  unchanged=res.unchanged, written=res.written, errors=[e.as_dict() for e in errors[:500]],
                  error_count=len(errors), dry_run=bool(dry_run))
    return _ledger_page(request, db, user, q=None, site=None, status=None, page=1, result=result,
                        status_code=200 if not errors else 422)


@router.get("/ledger/export.csv")
def ledger_export(request: Request, q: str | None = None, site: queries.OptionalId = None, status: str | None = None,
                  db: Session = Depends(get_db)):
    """What the account may see, as the ledger CSV (the same columns the import reads)."""
    user = page_user(request, db)
    stmt = queries.channel_search(db, user, q=q, site_id=site, status=status if status in CHANNEL_STATUSES else None)
    rows = db.execute(stmt).all()
    out = [[ledger.CHINESE_OF[c] for c in ledger.COLUMNS]]
    from lookout.registry.models import Device

    dev_kind = dict(db.execute(select(Device.code, Device.kind)).all())
    for ch, site_name, dcode, zname in rows:
        out.append([site_name, dcode or "", dev_kind.get(dcode, "") if dcode else "", ch.code, ch.name,
                    ch.main_url or "", "" if ch.longitude is None else ch.longitude,
                    "" if ch.latitude is None else ch.latitude, zname or "", ch.resource_class,
                    "yes" if ch.key_area else "no"])
    audit.record(db, user.username, "export", "ledger", None, None, {"rows": len(rows), "q": q, "site": site})
    return csv_response(out, "ledger.csv")


# ---------------------------------------------------------------- settings
def _settings_page(request: Request, db: Session, user: User, *, q: str | None = None, page: int = 1,
                   msg: str | None = None, error: str | None = None, status_code: int = 200) -> Response:
    sites_rows, info = queries.paged(db, queries.visible_sites(db, user, q=q), page, 20)
    sites = [r[0] for r in sites_rows]
    sm = queries.safety_models()
    duty: list[Any] = []
    orgs = queries.org_units(db, user)
    if sm is not None:
        visible_sites = scope.visible_site_ids(user)
        stmt = select(sm.DutyMember).where(sm.DutyMember.active.is_(True))
        if visible_sites is not None:
            org_ids = [o.id for o in orgs]
            stmt = stmt.where((sm.DutyMember.site_id.in_(visible_sites)) | (sm.DutyMember.org_unit_id.in_(org_ids)))
        duty = db.execute(stmt.order_by(sm.DutyMember.site_id, sm.DutyMember.org_unit_id, sm.DutyMember.id)
                          .limit(500)).scalars().all()
    site_names = dict(db.execute(scope.site_filter(select(Site.id, Site.name), user)).all())
    fi = optional("lookout.safety.forecast_inputs")
    inputs: list[Any] = []
    if fi is not None and site_names:
        today = utcnow().date() - timedelta(days=1)  # a day's margin for sites east or west of UTC
        inputs = fi.load(db, site_names, start=today, limit=200)
    org_names = {o.id: o.name for o in orgs}
    users = db.execute(select(User).order_by(User.id).limit(500)).scalars().all() if user.role == "admin" else []
    return render(request, "settings.html", user, status_code=status_code, sites=sites, info=info, q=q or "",
                  duty=duty, orgs=orgs, site_names=site_names, org_names=org_names, users=users, roles=ROLES,
                  msg=msg, error=error, duty_installed=sm is not None, inputs=inputs,
                  input_kinds=fi.INPUTS if fi is not None else None,
                  may_capacity=user.role in CAPACITY_ROLES, may_duty=user.role in CAPACITY_ROLES,
                  may_inputs=user.role in INPUT_ROLES)


@router.get("/settings")
def settings_page(request: Request, q: str | None = None, page: int = Query(1, ge=1), msg: str | None = None,
                  db: Session = Depends(get_db)):
    user = page_user(request, db)
    if user.role not in CAPACITY_ROLES:
        return _forbidden(request, user)
    return _settings_page(request, db, user, q=q, page=page, msg=msg)


def _int_or_none(v: Any, name: str, lo: int = 0) -> int | None:
    v = (v or "").strip() if isinstance(v, str) else v
    if v in (None, ""):
        return None
    try:
        n = int(v)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: '{v}' is not a whole number") from exc
    if n < lo:
        raise ValueError(f"{name}: must be ≥ {lo}")
    return n


@router.post("/settings/site/{site_id}")
async def save_capacity(site_id: int, request: Request, db: Session = Depends(get_db)):
    check_same_origin(request)
    user = page_user(request, db)
    if user.role not in CAPACITY_ROLES:
        return _forbidden(request, user)
    site = queries.get_site(db, user, site_id)
    if site is None:
        return render(request, "error.html", user, status_code=404, message=i18n.t("error.not_found", lang_of(request, user)))
    form = await request.form()
    try:
        values: dict[str, Any] = {"daily_max": _int_or_none(form.get("daily_max"), "daily_max"),
                                  "instant_max": _int_or_none(form.get("instant_max"), "instant_max")}
        thr = {k: float(form.get(k)) for k in ("yellow", "orange", "red") if (form.get(k) or "").strip()}
        if thr:
            from lookout.safety.engine import Thresholds

            Thresholds.from_dict({**(site.thresholds or {}), **thr})
            values["thresholds"] = {**(site.thresholds or {}), **thr}
    except ValueError as exc:
        return _settings_page(request, db, user, error=f"{site.name}: {exc}", status_code=422)
    changed = {k: v for k, v in values.items() if getattr(site, k) != v}
    if changed:
        service.update(db, user.username, site, changed, "site")
    return redirect(f"/settings?msg=saved&q={site.name}")


_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@router.post("/settings/duty")
async def add_duty(request: Request, db: Session = Depends(get_db)):
    check_same_origin(request)
    user = page_user(request, db)
    sm = queries.safety_models()
    if user.role not in CAPACITY_ROLES or sm is None:
        return _forbidden(request, user)
    form = await request.form()
    name = (form.get("name") or "").strip()
    where = (form.get("where") or "").strip()  # "site:<id>" or "org:<id>"
    start, end = (form.get("shift_start") or "").strip() or None, (form.get("shift_end") or "").strip() or None
    error = None
    site_id = org_id = None
    if not name:
        error = "name: required"
    elif not re.match(r"^(site|org):\d+$", where):
        error = "post: choose a site or an org unit"
    elif any(x and not _HHMM.match(x) for x in (start, end)):
        error = "shift: use HH:MM"
    else:
        kind, ident = where.split(":")
        if kind == "site":
            site_id = int(ident)
            if queries.get_site(db, user, site_id) is None:
                error = f"site {site_id} not found"
        else:
            org_id = int(ident)
            if org_id not in {o.id for o in queries.org_units(db, user)} or user.scope_site_id is not None:
                error = f"org unit {org_id} not found"
    if error:
        return _settings_page(request, db, user, error=error, status_code=422)
    m = sm.DutyMember(site_id=site_id, org_unit_id=org_id, name=name[:64],
                      username=(form.get("username") or "").strip() or None,
                      phone=(form.get("phone") or "").strip() or None, email=(form.get("email") or "").strip() or None,
                      shift_start=start, shift_end=end, active=True)
    db.add(m)
    db.flush()
    audit.record(db, user.username, "create", "duty_member", m.id, None, audit.snapshot(m))
    return redirect("/settings?msg=saved#duty")


@router.post("/settings/forecast-input")
async def add_forecast_input(request: Request, db: Session = Depends(get_db)):
    """One daily forecast input for a site (tomorrow's rain forecast, a planned event)."""
    check_same_origin(request)
    user = page_user(request, db)
    fi = optional("lookout.safety.forecast_inputs")
    if user.role not in INPUT_ROLES or fi is None:
        return _forbidden(request, user)
    form = await request.form()
    site = None
    try:
        site = queries.get_site(db, user, int(form.get("site") or 0))
    except ValueError:
        pass
    if site is None:
        return _settings_page(request, db, user, error=f"site {form.get('site')!r} not found", status_code=422)
    raw = (form.get("value") or "").strip()
    try:
        value: Any = float(raw)
    except ValueError:
        value = raw
    try:
        rows = fi.validate([{"day": (form.get("day") or "").strip(), "name": form.get("name"), "value": value}])
    except fi.ForecastInputError as exc:
        return _settings_page(request, db, user, error=f"{site.name}: {str(exc).removeprefix('row 1: ')}",
                              status_code=422)
    fi.store(db, site.id, rows, user.username, utcnow())
    return redirect("/settings?msg=saved#forecast-inputs")


@router.post("/settings/duty/{member_id}/delete")
def delete_duty(member_id: int, request: Request, db: Session = Depends(get_db)):
    check_same_origin(request)
    user = page_user(request, db)
    sm = queries.safety_models()
    if user.role not in CAPACITY_ROLES or sm is None:
        return _forbidden(request, user)
    m = db.get(sm.DutyMember, member_id)
    ok = m is not None and ((m.site_id and queries.get_site(db, user, m.site_id) is not None) or
                            (m.org_unit_id and m.org_unit_id in {o.id for o in queries.org_units(db, user)}
                             and user.scope_site_id is None))
    if not ok:
        return render(request, "error.html", user, status_code=404, message=i18n.t("error.not_found", lang_of(request, user)))
    before = audit.snapshot(m)
    m.active = False
    audit.record(db, user.username, "delete", "duty_member", m.id, before, {"active": False})
    return redirect("/settings?msg=saved#duty")


@router.post("/settings/users")
async def add_account(request: Request, db: Session = Depends(get_db)):
    check_same_origin(request)
    user = page_user(request, db)
    if user.role != "admin":
        return _forbidden(request, user)
    form = await request.form()
    username = (form.get("username") or "").strip()
    password = form.get("password") or ""
    role = form.get("role") or "viewer"
    scope_v = (form.get("scope") or "").strip()
    try:
        if not re.match(r"^[\w.@-]{2,64}$", username):
            raise ValueError("username: 2–64 letters, digits or . @ - _")
        if len(password) < 6:
            raise ValueError("password: at least 6 characters")
        org_id = site_id = None
        if scope_v.startswith("org:"):
            org_id = int(scope_v[4:])
            if db.get(OrgUnit, org_id) is None:
                raise ValueError(f"scope: no org unit {org_id}")
        elif scope_v.startswith("site:"):
            site_id = int(scope_v[5:])
            if db.get(Site, site_id) is None:
                raise ValueError(f"scope: no site {site_id}")
        accounts.add_user(db, user.username, username, password, role,
                          display_name=(form.get("display_name") or "").strip() or None,
                          scope_org_id=org_id, scope_site_id=site_id, clearance=int(form.get("clearance") or 3))
    except ValueError as exc:
        return _settings_page(request, db, user, error=str(exc), status_code=422)
    return redirect("/settings?msg=saved#users")
