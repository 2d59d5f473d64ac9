"""Federation tables: GB/T 28181 registrations, online/offline events, catalog items, admission alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lookout.store.base import Base, utcnow


class GbRegistration(Base):
    """The current registration of one device (an NVR, or an IPC registering directly)."""

    __tablename__ = "gb_registrations"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    transport: Mapped[str] = mapped_column(String(8), default="UDP")
    remote_host: Mapped[str] = mapped_column(String(64))
    remote_port: Mapped[int] = mapped_column(Integer)
    contact: Mapped[str | None] = mapped_column(Text)
    user_agent: Mapped[str | None] = mapped_column(String(128))
    expires_s: Mapped[int] = mapped_column(Integer, default=3600)
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    last_keepalive_at: Mapped[datetime | None] = mapped_column()
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    status_reason: Mapped[str | None] = mapped_column(String(255))
    status_changed_at: Mapped[datetime | None] = mapped_column()
    catalog_sum: Mapped[int | None] = mapped_column(Integer)  # SumNum of the last catalog answer
    catalog_received: Mapped[int | None] = mapped_column(Integer)
    catalog_at: Mapped[datetime | None] = mapped_column()


class GbStatusEvent(Base):
    """An online/offline change of a device, or a channel status from the device's catalog."""

    __tablename__ = "gb_status_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # online / offline / fault
    reason: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(index=True)


class GbCatalogItem(Base):
    """The last catalog entry a device reported for one code (channels, groups, alarm inputs …)."""

    __tablename__ = "gb_catalog_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    parent_code: Mapped[str] = mapped_column(String(20), index=True)  # the device that reported it
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"), index=True)
    name: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str | None] = mapped_column(String(16))
    last_event: Mapped[str | None] = mapped_column(String(16))
    longitude: Mapped[float | None] = mapped_column(Float)
    latitude: Mapped[float | None] = mapped_column(Float)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class GbAdmissionAlert(Base):
    """A device that tried to register but is not in the registry (seed 003: 非法私接需及时告警)."""

    __tablename__ = "gb_admission_alerts"
    __table_args__ = (UniqueConstraint("code", "remote_host"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64))  # as presented, possibly malformed
    remote_host: Mapped[str] = mapped_column(String(64))
    remote_port: Mapped[int] = mapped_column(Integer)
    transport: Mapped[str] = mapped_column(String(8), default="UDP")
    reason: Mapped[str] = mapped_column(String(255))
    user_agent: Mapped[str | None] = mapped_column(String(128))
    first_seen: Mapped[datetime] = mapped_column(index=True)
    last_seen: Mapped[datetime] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    acknowledged: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
