"""REST for the registry: org units, sites, devices, channels, zones, counting lines (under /api/v1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from lookout.api.crud import crud_router
from lookout.registry import gbcode, service
from lookout.registry.models import (
    DEVICE_KINDS, CountingLine, Channel, Device, OrgUnit, Site, Zone, default_retention_days,
)
from lookout.security import scope
from lookout.security.models import User

Category = Literal["scenic_area", "hotel", "tourism_other", "public_place"]
Tier = Literal["city", "district", "site_group"]
Kind = Literal[DEVICE_KINDS]  # type: ignore[valid-type]
def hhmm(default: str | None = None) -> Any:
    return Field(default=default, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


def _code(v: str | None) -> str | None:
    if v is None:
        return v
    try:
        return str(gbcode.parse(v))
    except gbcode.GBCodeError as exc:
        raise ValueError(f"GB/T 28181 code {exc}") from exc


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    created_at: datetime | None = None
    updated_at: datetime | None = None


# ---------------------------------------------------------------- org units
class OrgIn(BaseModel):
    tier: Tier
    name: str = Field(min_length=1, max_length=128)
    division_code: str = Field(pattern=r"^\d{6}(\d{2}|\d{3}|\d{6})?$")
    parent_id: int | None = None


class OrgPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=128)
    division_code: str | None = Field(default=None, pattern=r"^\d{6}(\d{2}|\d{3}|\d{6})?$")


class OrgOut(Out):
    tier: str
    name: str
    division_code: str
    parent_id: int | None
    path: str


# ---------------------------------------------------------------- sites
class SiteFields(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=128)
    org_unit_id: int | None = None
    category: Category | None = None
    a_level: int | None = Field(default=None, ge=1, le=5)
    key_unit: bool | None = None
    timezone: str | None = None
    opening_time: str | None = hhmm()
    closing_time: str | None = hhmm()
    avg_visit_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    daily_max: int | None = Field(default=None, ge=0)
    instant_max: int | None = Field(default=None, ge=0)
    thresholds: dict[str, float] | None = None
    plan_image: str | None = None
    boundary: dict[str, Any] | None = None
    longitude: float | None = Field(default=None, ge=-180, le=180)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    om_contact: str | None = None
    address: str | None = None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is not None:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone '{v}'") from exc
        return v

    @field_validator("thresholds")
    @classmethod
    def _thr(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is not None:
            bad = set(v) - {"yellow", "orange", "red", "hysteresis", "hold_minutes"}
            if bad:
                raise ValueError(f"unknown key(s) {sorted(bad)}: use yellow, orange, red, hysteresis, hold_minutes")
            vals = [v.get(k) for k in ("yellow", "orange", "red") if v.get(k) is not None]
            if vals != sorted(vals) or any(not 0 < x <= 200 for x in vals):
                raise ValueError("thresholds must rise yellow < orange < red, in percent")
            if any(v.get(k) is not None and v[k] < 0 for k in ("hysteresis", "hold_minutes")):
                raise ValueError("hysteresis and hold_minutes must be ≥ 0")
        return v


class SiteIn(SiteFields):
    name: str = Field(min_length=1, max_length=128)
    org_unit_id: int
    category: Category = "scenic_area"
    timezone: str = "Asia/Shanghai"
    opening_time: str = hhmm("08:00")
    closing_time: str = hhmm("18:00")
    avg_visit_minutes: int = 180


class SiteOut(Out):
    name: str
    org_unit_id: int
    category: str
    a_level: int | None
    key_unit: bool
    timezone: str
    opening_time: str
    closing_time: str
    avg_visit_minutes: int
    daily_max: int | None
    instant_max: int | None
    thresholds: dict[str, Any] | None
    plan_image: str | None
    boundary: dict[str, Any] | None
    longitude: float | None
    latitude: float | None
    om_contact: str | None
    address: str | None


# ---------------------------------------------------------------- devices
class DeviceFields(BaseModel):
    site_id: int | None = None
    code: str | None = None
    kind: Kind | None = None
    name: str | None = None
    vendor: str | None = None
    model: str | None = None
    serial: str | None = None
    address: str | None = None
    ports: dict[str, int] | None = None
    dual_nic: bool | None = None
    username: str | None = None
    password: str | None = Field(default=None, description="stored encrypted, never returned")
    status: Literal["unknown", "online", "offline", "fault"] | None = None

    @field_validator("code")
    @classmethod
    def check_code(cls, v: str | None) -> str | None:
        return _code(v)


class DeviceIn(DeviceFields):
    site_id: int
    code: str
    kind: Kind = "nvr"


class DeviceOut(Out):
    site_id: int
    code: str
    kind: str
    name: str | None
    vendor: str | None
    model: str | None
    serial: str | None
    address: str | None
    ports: dict[str, Any] | None
    dual_nic: bool
    username: str | None
    has_password: bool = False
    status: str


# ---------------------------------------------------------------- channels
class ChannelFields(BaseModel):
    site_id: int | None = None
    device_id: int | None = None
    zone_id: int | None = None
    code: str | None = None
    name: str | None = Field(default=None, min_length=1, max_length=128)
    main_url: str | None = None
    sub_url: str | None = None
    longitude: float | None = Field(default=None, ge=-180, le=180)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    resource_class: Literal[1, 2, 3] | None = None
    key_area: bool | None = None
    retention_days: int | None = Field(default=None, ge=1, le=3650)
    status: Literal["unknown", "online", "offline", "fault"] | None = None
    analysis_fps: float | None = Field(default=None, gt=0, le=30)
    analyzers: list[str] | None = None
    plan_x: float | None = None
    plan_y: float | None = None
    calibration: dict[str, Any] | None = None

    @field_validator("code")
    @classmethod
    def check_code(cls, v: str | None) -> str | None:
        return _code(v)


class ChannelIn(ChannelFields):
    site_id: int
    code: str
    name: str = Field(min_length=1, max_length=128)
    resource_class: Literal[1, 2, 3] = 3
    key_area: bool = False
    analysis_fps: float = 5.0


class ChannelOut(Out):
    site_id: int
    device_id: int | None
    zone_id: int | None
    code: str
    name: str
    main_url: str | None
    sub_url: str | None
    longitude: float | None
    latitude: float | None
    resource_class: int
    key_area: bool
    retention_days: int
    status: str
    status_reason: str | None
    status_changed_at: datetime | None
    analysis_fps: float
    analyzers: list[Any] | None
    plan_x: float | None
    plan_y: float | None
    calibration: dict[str, Any] | None


# ---------------------------------------------------------------- zones and lines
class ZoneFields(BaseModel):
    site_id: int | None = None
    name: str | None = Field(default=None, min_length=1, max_length=128)
    polygon: list[list[float]] | None = None
    area_m2: float | None = Field(default=None, gt=0)
    per_capita_m2: float | None = Field(default=None, gt=0)
    capacity_override: int | None = Field(default=None, ge=0)

    @field_validator("polygon")
    @classmethod
    def _poly(cls, v: list[list[float]] | None) -> list[list[float]] | None:
        if v is not None and (len(v) < 3 or any(len(p) != 2 for p in v)):
            raise ValueError("polygon needs at least 3 points of [x, y]")
        return v


class ZoneIn(ZoneFields):
    site_id: int
    name: str = Field(min_length=1, max_length=128)


class ZoneOut(Out):
    site_id: int
    name: str
    polygon: list[Any] | None
    area_m2: float | None
    per_capita_m2: float | None
    capacity_override: int | None
    capacity: int | None


class LineFields(BaseModel):
    channel_id: int | None = None
    name: str | None = None
    x1: float | None = None
    y1: float | None = None
    x2: float | None = None
    y2: float | None = None
    in_side: Literal["left", "right"] | None = None
    margin_px: float | None = Field(default=None, ge=0)
    is_entrance: bool | None = None


class LineIn(LineFields):
    channel_id: int
    name: str
    x1: float
    y1: float
    x2: float
    y2: float
    in_side: Literal["left", "right"] = "left"
    margin_px: float = 10.0
    is_entrance: bool = True


class LineOut(Out):
    channel_id: int
    name: str
    x1: float
    y1: float
    x2: float
    y2: float
    in_side: str
    margin_px: float
    is_entrance: bool


# ---------------------------------------------------------------- scope and write checks
def _site_visible(db: Session, user: User, site_id: int | None) -> Site:
    site = db.execute(scope.site_filter(select(Site).where(Site.id == site_id), user)).scalar_one_or_none()
    if site is None:
        raise HTTPException(404, f"site {site_id} not found")
    return site


def _check_site_write(db: Session, user: User, v: dict[str, Any], creating: bool) -> dict[str, Any]:
    _site_visible(db, user, v["site_id"])
    return v


def _check_channel_write(db: Session, user: User, v: dict[str, Any], creating: bool) -> dict[str, Any]:
    site = _site_visible(db, user, v["site_id"])
    if v.get("resource_class") is not None and v["resource_class"] < user.clearance:
        raise HTTPException(403, f"resource_class {v['resource_class']} is above this account's clearance")
    if v.get("retention_days") is None:
        v["retention_days"] = default_retention_days(site.category, bool(v.get("key_area")))
    return v


def _check_line_write(db: Session, user: User, v: dict[str, Any], creating: bool) -> dict[str, Any]:
    ch = db.execute(scope.channel_filter(select(Channel).where(Channel.id == v["channel_id"]), user)).scalar_one_or_none()
    if ch is None:
        raise HTTPException(404, f"channel {v['channel_id']} not found")
    return v


def _check_org_write(db: Session, user: User, v: dict[str, Any], creating: bool) -> dict[str, Any]:
    if user.role != "admin":
        raise HTTPException(403, "only an administrator changes the tiers")
    return v


def _check_site_record(db: Session, user: User, v: dict[str, Any], creating: bool) -> dict[str, Any]:
    org = db.execute(scope.org_filter(select(OrgUnit).where(OrgUnit.id == v["org_unit_id"]), user)).scalar_one_or_none()
    if org is None:
        raise HTTPException(404, f"org unit {v['org_unit_id']} not found")
    if creating and user.role not in ("admin", "official"):
        raise HTTPException(403, f"role '{user.role}' may not create sites")
    return v


def _tier_filter(stmt: Select, site_col: Any, org_id: int | None) -> Select:
    if org_id is None:
        return stmt
    root = select(OrgUnit.path).where(OrgUnit.id == org_id).scalar_subquery()
    return stmt.where(site_col.in_(select(Site.id).join(OrgUnit, Site.org_unit_id == OrgUnit.id)
                                   .where(OrgUnit.path.startswith(root))))


def _site_params(tier: int | None = Query(None, description="org unit id: its whole subtree"),
                 category: Category | None = None, q: str | None = None) -> dict[str, Any]:
    return {"tier": tier, "category": category, "q": q}


def _site_filters(stmt: Select, f: dict[str, Any]) -> Select:
    stmt = _tier_filter(stmt, Site.id, f["tier"])
    if f["category"]:
        stmt = stmt.where(Site.category == f["category"])
    if f["q"]:
        stmt = stmt.where(Site.name.contains(f["q"]))
    return stmt


def _device_params(tier: int | None = None, site_id: int | None = None, status: str | None = None,
                   kind: str | None = None, category: Category | None = None) -> dict[str, Any]:
    return {"tier": tier, "site_id": site_id, "status": status, "kind": kind, "category": category}


def _by_category(stmt: Select, site_col: Any, category: str | None) -> Select:
    if not category:
        return stmt
    return stmt.where(site_col.in_(select(Site.id).where(Site.category == category)))


def _device_filters(stmt: Select, f: dict[str, Any]) -> Select:
    stmt = _by_category(_tier_filter(stmt, Device.site_id, f["tier"]), Device.site_id, f["category"])
    for col, key in ((Device.site_id, "site_id"), (Device.status, "status"), (Device.kind, "kind")):
        if f[key] is not None:
            stmt = stmt.where(col == f[key])
    return stmt


def _channel_params(tier: int | None = None, site_id: int | None = None, status: str | None = None,
                    category: Category | None = None, resource_class: int | None = None,
                    key_area: bool | None = None, q: str | None = None) -> dict[str, Any]:
    return {"tier": tier, "site_id": site_id, "status": status, "category": category,
            "resource_class": resource_class, "key_area": key_area, "q": q}


def _channel_filters(stmt: Select, f: dict[str, Any]) -> Select:
    stmt = _by_category(_tier_filter(stmt, Channel.site_id, f["tier"]), Channel.site_id, f["category"])
    for col, key in ((Channel.site_id, "site_id"), (Channel.status, "status"),
                     (Channel.resource_class, "resource_class"), (Channel.key_area, "key_area")):
        if f[key] is not None:
            stmt = stmt.where(col == f[key])
    if f["q"]:
        stmt = stmt.where(Channel.name.contains(f["q"]) | Channel.code.startswith(f["q"]))
    return stmt


def _zone_params(site_id: int | None = None, tier: int | None = None) -> dict[str, Any]:
    return {"site_id": site_id, "tier": tier}


def _zone_filters(stmt: Select, f: dict[str, Any]) -> Select:
    stmt = _tier_filter(stmt, Zone.site_id, f["tier"])
    return stmt if f["site_id"] is None else stmt.where(Zone.site_id == f["site_id"])


def _line_params(channel_id: int | None = None) -> dict[str, Any]:
    return {"channel_id": channel_id}


def _line_filters(stmt: Select, f: dict[str, Any]) -> Select:
    return stmt if f["channel_id"] is None else stmt.where(CountingLine.channel_id == f["channel_id"])


def _org_params(tier_name: Tier | None = Query(None, alias="tier"), parent_id: int | None = None) -> dict[str, Any]:
    return {"tier": tier_name, "parent_id": parent_id}


def _org_filters(stmt: Select, f: dict[str, Any]) -> Select:
    if f["tier"]:
        stmt = stmt.where(OrgUnit.tier == f["tier"])
    if f["parent_id"] is not None:
        stmt = stmt.where(OrgUnit.parent_id == f["parent_id"])
    return stmt


def _line_scope(stmt: Select, user: User) -> Select:
    return stmt.where(CountingLine.channel_id.in_(scope.channel_filter(select(Channel.id), user)))


router = APIRouter()
_WRITE = ("site_manager",)
router.include_router(crud_router(
    model=OrgUnit, entity="org_unit", path="/org-units", out=OrgOut, create=OrgIn, patch=OrgPatch,
    scope=scope.org_filter, filters=_org_filters, filter_params=_org_params, check_write=_check_org_write,
    write_roles=(), order_by=OrgUnit.path, tags=["registry"],
    creator=lambda db, actor, v: service.create_org_unit(db, actor, **v)))
router.include_router(crud_router(
    model=Site, entity="site", path="/sites", out=SiteOut, create=SiteIn, patch=SiteFields,
    scope=scope.site_filter, filters=_site_filters, filter_params=_site_params, check_write=_check_site_record,
    write_roles=("official", "site_manager"), order_by=Site.id, tags=["registry"]))
router.include_router(crud_router(
    model=Device, entity="device", path="/devices", out=DeviceOut, create=DeviceIn, patch=DeviceFields,
    scope=lambda s, u: scope.site_filter(s, u, Device.site_id), filters=_device_filters,
    filter_params=_device_params, check_write=_check_site_write, write_roles=_WRITE + ("om_engineer",),
    order_by=Device.id, tags=["registry"]))
router.include_router(crud_router(
    model=Channel, entity="channel", path="/channels", out=ChannelOut, create=ChannelIn, patch=ChannelFields,
    scope=scope.channel_filter, filters=_channel_filters, filter_params=_channel_params,
    check_write=_check_channel_write, write_roles=_WRITE + ("om_engineer",), order_by=Channel.id,
    tags=["registry"]))
router.include_router(crud_router(
    model=Zone, entity="zone", path="/zones", out=ZoneOut, create=ZoneIn, patch=ZoneFields,
    scope=lambda s, u: scope.site_filter(s, u, Zone.site_id), filters=_zone_filters, filter_params=_zone_params,
    check_write=_check_site_write, write_roles=_WRITE, order_by=Zone.id, tags=["registry"]))
router.include_router(crud_router(
    model=CountingLine, entity="counting_line", path="/counting-lines", out=LineOut, create=LineIn,
    patch=LineFields, scope=_line_scope, filters=_line_filters, filter_params=_line_params,
    check_write=_check_line_write, write_roles=_WRITE, order_by=CountingLine.id, tags=["registry"]))
