"""Registry tables: org units in tiers, sites, devices, channels, zones and counting lines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lookout.store.base import Base, utcnow

TIERS = ("city", "district", "site_group")
SITE_CATEGORIES = ("scenic_area", "hotel", "tourism_other", "public_place")
TOURISM_CATEGORIES = ("scenic_area", "hotel", "tourism_other")
DEVICE_KINDS = ("nvr", "dvr", "ipc", "encoder", "turnstile", "wifi_probe", "led_screen", "broadcast", "other")
CHANNEL_STATUSES = ("unknown", "online", "offline", "fault")
RESOURCE_CLASSES = (1, 2, 3)  # 1 police, 2 government, 3 social


def default_retention_days(category: str, key_area: bool) -> int:
    """Required days of video: tourism sites 90, general 60, key areas 90 (seeds 000, 004)."""
    if key_area or category in TOURISM_CATEGORIES:
        return 90
    return 60


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OrgUnit(Timestamped, Base):
    """A tier of the command system: city → district/county → site group."""

    __tablename__ = "org_units"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id", ondelete="RESTRICT"), index=True)
    tier: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128))
    division_code: Mapped[str] = mapped_column(String(12), index=True)  # GB/T 2260
    # materialized path "/1/4/9/" for subtree scoping; set by registry.service
    path: Mapped[str] = mapped_column(String(255), default="/", index=True)

    parent: Mapped[OrgUnit | None] = relationship(remote_side="OrgUnit.id")


class Site(Timestamped, Base):
    __tablename__ = "sites"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    category: Mapped[str] = mapped_column(String(24), default="scenic_area", index=True)
    a_level: Mapped[int | None] = mapped_column(Integer)  # 1..5 (A to AAAAA)
    key_unit: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    opening_time: Mapped[str] = mapped_column(String(5), default="08:00")
    closing_time: Mapped[str] = mapped_column(String(5), default="18:00")
    avg_visit_minutes: Mapped[int] = mapped_column(Integer, default=180)
    daily_max: Mapped[int | None] = mapped_column(Integer)  # approved daily maximum (competent department)
    instant_max: Mapped[int | None] = mapped_column(Integer)  # approved instantaneous maximum, overrides zones
    thresholds: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {"yellow": 80, "orange": 90, "red": 95}
    plan_image: Mapped[str | None] = mapped_column(String(255))
    boundary: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # GeoJSON geometry
    longitude: Mapped[float | None] = mapped_column(Float)
    latitude: Mapped[float | None] = mapped_column(Float)
    om_contact: Mapped[str | None] = mapped_column(String(64))  # username of the O&M contact
    address: Mapped[str | None] = mapped_column(String(255))

    org_unit: Mapped[OrgUnit] = relationship()


class Device(Timestamped, Base):
    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)  # GB/T 28181
    kind: Mapped[str] = mapped_column(String(16), default="nvr", index=True)
    name: Mapped[str | None] = mapped_column(String(128))
    vendor: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(64))
    serial: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(255))  # IP or host
    ports: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {"rtsp": 554, "http": 80, "sip": 5060}
    dual_nic: Mapped[bool] = mapped_column(Boolean, default=False)
    username: Mapped[str | None] = mapped_column(String(64))
    password_enc: Mapped[str | None] = mapped_column(Text)  # Fernet token, see security.secrets
    status: Mapped[str] = mapped_column(String(16), default="unknown")

    site: Mapped[Site] = relationship()

    @property
    def has_password(self) -> bool:
        return bool(self.password_enc)


class Zone(Timestamped, Base):
    """An area of a site plan; instantaneous capacity = area / per-capita space (LB/T 034)."""

    __tablename__ = "zones"
    __table_args__ = (UniqueConstraint("site_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    polygon: Mapped[list[Any] | None] = mapped_column(JSON)  # [[x, y], ...] on the site plan
    area_m2: Mapped[float | None] = mapped_column(Float)
    per_capita_m2: Mapped[float | None] = mapped_column(Float)
    capacity_override: Mapped[int | None] = mapped_column(Integer)

    @property
    def capacity(self) -> int | None:
        if self.capacity_override is not None:
            return self.capacity_override
        if self.area_m2 and self.per_capita_m2:
            return int(self.area_m2 / self.per_capita_m2)
        return None


#: ``Channel.status`` values in which the camera delivers video: ``online`` (a normal picture, counted
#: by the normal rate 正常率) and ``fault`` (a picture fault found); both count for the online rate
ONLINE_STATUSES = ("online", "fault")


class Channel(Timestamped, Base):
    """A camera stream, addressed by its 20-digit GB/T 28181 code."""

    __tablename__ = "channels"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"), index=True)
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id", ondelete="SET NULL"), index=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    main_url: Mapped[str | None] = mapped_column(Text)
    sub_url: Mapped[str | None] = mapped_column(Text)
    longitude: Mapped[float | None] = mapped_column(Float)
    latitude: Mapped[float | None] = mapped_column(Float)
    resource_class: Mapped[int] = mapped_column(Integer, default=3, index=True)
    key_area: Mapped[bool] = mapped_column(Boolean, default=False)
    retention_days: Mapped[int] = mapped_column(Integer, default=90)
    status: Mapped[str] = mapped_column(String(16), default="unknown", index=True)
    status_reason: Mapped[str | None] = mapped_column(String(255))
    status_changed_at: Mapped[datetime | None] = mapped_column()
    analysis_fps: Mapped[float] = mapped_column(Float, default=5.0)
    analyzers: Mapped[list[Any] | None] = mapped_column(JSON)  # e.g. ["count", "vqd"]
    plan_x: Mapped[float | None] = mapped_column(Float)  # position on the site plan
    plan_y: Mapped[float | None] = mapped_column(Float)
    calibration: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # 4 image points ↔ 4 ground points (m)

    site: Mapped[Site] = relationship()
    device: Mapped[Device | None] = relationship()
    zone: Mapped[Zone | None] = relationship()


class CountingLine(Timestamped, Base):
    """A line on a channel's image; crossings from the "out" side to the "in" side are entries."""

    __tablename__ = "counting_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    # which side of the directed line P1→P2 is inside: "left" (s > 0) or "right" (s < 0)
    in_side: Mapped[str] = mapped_column(String(8), default="left")
    margin_px: Mapped[float] = mapped_column(Float, default=10.0)
    is_entrance: Mapped[bool] = mapped_column(Boolean, default=True)  # counts toward site occupancy
