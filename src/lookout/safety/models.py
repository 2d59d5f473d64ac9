"""Crowd-safety tables: engine state, incidents and their timelines, response checklists,
the notification outbox, duty rosters and alerts, per-site action endpoints, gates with
queues, hourly history for forecasts and the daily inputs a site gives them (weather, events)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lookout.store.base import Base, utcnow

LEVELS = ("none", "yellow", "orange", "red")


class SafetyState(Base):
    """The warning engine's state per site (so a restart resumes timers and levels)."""

    __tablename__ = "safety_states"
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    level: Mapped[str] = mapped_column(String(8), default="none")
    state: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # engine.EngineState.to_dict()
    last_occupancy: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SafetySiteConfig(Base):
    """Where a site's automatic actions go, and its duty timeout."""

    __tablename__ = "safety_site_configs"
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    ticketing_url: Mapped[str | None] = mapped_column(Text)  # POST {"action": "stop_sales"|"resume_sales"}
    screen_url: Mapped[str | None] = mapped_column(Text)  # LED / information-screen controller
    broadcast_url: Mapped[str | None] = mapped_column(Text)  # broadcast system (text + wav path)
    upward_url: Mapped[str | None] = mapped_column(Text)  # the district platform's report endpoint
    ack_timeout_s: Mapped[int] = mapped_column(Integer, default=180)
    per_capita_m2: Mapped[float | None] = mapped_column(Float)  # default per-capita space for C1


class Incident(Base):
    __tablename__ = "safety_incidents"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(8), default="open", index=True)  # open, closed
    level: Mapped[str] = mapped_column(String(8))
    peak_level: Mapped[str] = mapped_column(String(8))
    opened_at: Mapped[datetime] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    peak_present: Mapped[int] = mapped_column(Integer, default=0)
    peak_daily: Mapped[int] = mapped_column(Integer, default=0)
    peak_ratio: Mapped[float] = mapped_column(Float, default=0.0)
    zones: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # zone name -> peak count
    scope: Mapped[str | None] = mapped_column(Text)  # scope of impact, free text
    drill: Mapped[bool] = mapped_column(Boolean, default=False)


class IncidentEvent(Base):
    """One line of an incident's timeline."""

    __tablename__ = "safety_incident_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("safety_incidents.id", ondelete="CASCADE"), index=True)
    ts: Mapped[datetime] = mapped_column()
    kind: Mapped[str] = mapped_column(String(16))  # level, action, ack, escalation, report, note
    level: Mapped[str | None] = mapped_column(String(8))
    measure: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    actor: Mapped[str | None] = mapped_column(String(64))


class PlanItem(Base):
    """A checklist item of the response plan, marked done by whom and when."""

    __tablename__ = "safety_plan_items"
    __table_args__ = (UniqueConstraint("incident_id", "level", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("safety_incidents.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(String(48))
    text_zh: Mapped[str] = mapped_column(Text)
    text_en: Mapped[str] = mapped_column(Text)
    commander: Mapped[str] = mapped_column(String(32))
    auto: Mapped[bool] = mapped_column(Boolean, default=False)
    done_at: Mapped[datetime | None] = mapped_column()
    done_by: Mapped[str | None] = mapped_column(String(64))


class OutboxMessage(Base):
    """A message to deliver; retried with backoff until delivered (never lost, sent once)."""

    __tablename__ = "safety_outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)  # idempotency key, also sent to the receiver
    channel: Mapped[str] = mapped_column(String(16), index=True)  # webhook, email, sms, ticketing, screen, broadcast
    target: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)  # pending, sending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    lease_until: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("safety_incidents.id", ondelete="SET NULL"), index=True)


class DutyMember(Base):
    """A person on a duty roster of a site (tier "site") or an org unit (district, city)."""

    __tablename__ = "safety_duty_members"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    username: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(32))
    webhook_url: Mapped[str | None] = mapped_column(Text)
    # shift as local times "HH:MM"; None means always on duty
    shift_start: Mapped[str | None] = mapped_column(String(5))
    shift_end: Mapped[str | None] = mapped_column(String(5))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Alert(Base):
    """An alert addressed to one tier's roster; acknowledged in time or escalated."""

    __tablename__ = "safety_alerts"
    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("safety_incidents.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(String(8))
    tier: Mapped[str] = mapped_column(String(16))  # site, district, city
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)  # open, acked, escalated, expired
    created_at: Mapped[datetime] = mapped_column()
    deadline_at: Mapped[datetime] = mapped_column(index=True)
    acked_at: Mapped[datetime | None] = mapped_column()
    acked_by: Mapped[str | None] = mapped_column(String(64))
    ack_seconds: Mapped[float | None] = mapped_column(Float)
    escalated_at: Mapped[datetime | None] = mapped_column()
    parent_alert_id: Mapped[int | None] = mapped_column(ForeignKey("safety_alerts.id", ondelete="SET NULL"))
    message: Mapped[str | None] = mapped_column(Text)


class Gate(Base):
    """An entrance gate with a queue: wait = queue length (a zone's count) / service rate."""

    __tablename__ = "safety_gates"
    __table_args__ = (UniqueConstraint("site_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    queue_zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id", ondelete="SET NULL"))
    service_rate_per_min: Mapped[float] = mapped_column(Float, default=20.0)


class HourlyHistory(Base):
    """Arrivals and peak occupancy per site and hour, kept by the live path for forecasts."""

    __tablename__ = "safety_hourly"
    __table_args__ = (UniqueConstraint("site_id", "hour_start"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    hour_start: Mapped[datetime] = mapped_column(index=True)
    arrivals: Mapped[int] = mapped_column(Integer, default=0)
    peak_present: Mapped[int] = mapped_column(Integer, default=0)


class ForecastInput(Base):
    """A daily input to a site's forecast (``lookout.safety.forecast_inputs.INPUTS``): the day's
    rainfall or top temperature, or an event, as recorded for past days and forecast or planned
    for the next ones."""

    __tablename__ = "safety_forecast_inputs"
    __table_args__ = (UniqueConstraint("site_id", "day", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)  # the site's local day
    name: Mapped[str] = mapped_column(String(32))
    value: Mapped[float] = mapped_column(Float)
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)

