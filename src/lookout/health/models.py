"""Camera-health tables: status changes, daily online history, patrol diagnoses, reference pictures, work orders.

What the O&M and compliance pages read:

- ``channel_status_changes`` (:class:`ChannelStatusChange`) — every change of a channel's state
  (``online`` / ``offline`` / ``fault``) with the time, the reason and the source (``probe``: a patrol
  opened the stream or failed to; ``patrol``: the picture was diagnosed; ``manual``). Changes reported by
  GB/T 28181 keepalives live in ``gb_status_events`` (federation) and are merged in as source ``gb28181``.
- ``channel_daily_online`` (:class:`ChannelDailyOnline`) — one row per channel and local day: seconds
  online, offline and unobserved, and the online fraction (online / observed); refreshed by the patrol
  service from the changes (:func:`lookout.health.rates.daily_online`).
- ``health_diagnoses`` (:class:`DiagnosisRecord`) — one row per patrolled channel and patrol: whether a
  picture was obtained, the faults, the 0–100 scores, an optional snapshot path (under the data folder).
- ``channel_references`` (:class:`ChannelReference`) — the reference pictures of a channel, taken when an
  operator marks the view as correct (JPEGs under ``<data_dir>/health/references/``): one for a fixed
  view, or one per PTZ preset.
- ``site_vqd_thresholds`` (:class:`SiteThresholds`) and ``channel_vqd_thresholds`` (:class:`ChannelThresholds`)
  — a site's and a channel's own fault thresholds (0–100), where the deployment's do not suit its views (a
  mountain area's morning mist, a dusty tunnel's noise); set by O&M. A channel's own win over its site's,
  which win over the deployment's (``LOOKOUT_PATROL_VQD_THRESHOLDS``).
- ``work_orders`` (:class:`WorkOrder`) — a fault seen in two patrols in a row; ``status`` is ``open``,
  ``rechecking`` (closed by the engineer, waiting for the re-check patrol) or ``closed`` (re-check passed).
  ``work_order_events`` keeps the order's story (opened, close requested, re-check passed/failed,
  re-opened, escalated) and ``work_order_escalations`` the escalation records of overdue orders.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lookout.store.base import Base, utcnow

STATUS_SOURCES = ("probe", "patrol", "gb28181", "manual")
ORDER_STATUSES = ("open", "rechecking", "closed")
OFFLINE_FAULT = "offline"  # the work-order fault of a channel whose stream cannot be opened


class ChannelStatusChange(Base):
    """A channel's state changed (to online, offline or fault) at ``at`` for ``reason``, seen by ``source``."""

    __tablename__ = "channel_status_changes"
    __table_args__ = (Index("ix_channel_status_changes_channel_at", "channel_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16))
    previous: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(255), default="")
    source: Mapped[str] = mapped_column(String(16), default="probe")


class ChannelDailyOnline(Base):
    """Online history: seconds online / offline / unobserved of one channel on one local day (and of the
    online seconds, those with a faulty picture)."""

    __tablename__ = "channel_daily_online"
    __table_args__ = (UniqueConstraint("channel_id", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    online_s: Mapped[float] = mapped_column(Float, default=0.0)
    offline_s: Mapped[float] = mapped_column(Float, default=0.0)
    unknown_s: Mapped[float] = mapped_column(Float, default=0.0)
    # of the online seconds, those with a faulty picture; None: stored before it was kept (computed again)
    fault_s: Mapped[float | None] = mapped_column(Float)
    fraction: Mapped[float | None] = mapped_column(Float)  # online / (online + offline); None: never observed
    complete: Mapped[bool] = mapped_column(Boolean, default=False)  # the day had ended when computed
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class PatrolRun(Base):
    """One patrol pass over a set of channels (scheduled, a re-check or by hand)."""

    __tablename__ = "patrol_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16), default="schedule")  # schedule / recheck / manual
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None] = mapped_column()
    channels: Mapped[int] = mapped_column(Integer, default=0)
    online: Mapped[int] = mapped_column(Integer, default=0)
    faulty: Mapped[int] = mapped_column(Integer, default=0)
    cpu_s: Mapped[float | None] = mapped_column(Float)


class DiagnosisRecord(Base):
    """The diagnosis of one channel by one patrol."""

    __tablename__ = "health_diagnoses"
    __table_args__ = (Index("ix_health_diagnoses_channel_at", "channel_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("patrol_runs.id", ondelete="SET NULL"), index=True)
    at: Mapped[datetime] = mapped_column(index=True)
    online: Mapped[bool] = mapped_column(Boolean)  # a picture was obtained
    error: Mapped[str | None] = mapped_column(String(255))  # why not
    faults: Mapped[list[Any]] = mapped_column(JSON, default=list)  # picture faults, or ["offline"]
    scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    frames: Mapped[int] = mapped_column(Integer, default=0)
    used_reference: Mapped[bool] = mapped_column(Boolean, default=False)
    # the PTZ preset whose reference picture it was judged against ("" the fixed view; None: no reference)
    reference_preset: Mapped[str | None] = mapped_column(String(32))
    snapshot_path: Mapped[str | None] = mapped_column(String(255))  # relative to the data folder
    trigger: Mapped[str] = mapped_column(String(16), default="schedule")
    elapsed_s: Mapped[float | None] = mapped_column(Float)


class ChannelReference(Base):
    """A picture an operator marked as the channel's correct view: one per channel, or one per
    PTZ preset of a camera that tours its presets (``preset`` "" is the fixed view)."""

    __tablename__ = "channel_references"
    __table_args__ = (UniqueConstraint("channel_id", "preset"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    preset: Mapped[str] = mapped_column(String(32), default="", server_default="")
    path: Mapped[str] = mapped_column(String(255))  # relative to the data folder
    taken_at: Mapped[datetime] = mapped_column()
    taken_by: Mapped[str] = mapped_column(String(64))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)


class _OwnThresholds:
    """Fault thresholds (``{"blur": 70, …}``, 0–100) of their own, and who set them when."""

    thresholds: Mapped[dict[str, Any]] = mapped_column(JSON)
    set_at: Mapped[datetime] = mapped_column()
    set_by: Mapped[str] = mapped_column(String(64))


class SiteThresholds(_OwnThresholds, Base):
    """A site's own fault thresholds for all its channels, over the deployment's."""

    __tablename__ = "site_vqd_thresholds"
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)


class ChannelThresholds(_OwnThresholds, Base):
    """A channel's own fault thresholds, over its site's and the deployment's."""

    __tablename__ = "channel_vqd_thresholds"
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True)


class WorkOrder(Base):
    """A repair order for one fault of one channel; at most one not-closed order per channel and fault."""

    __tablename__ = "work_orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    fault: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    # "<channel_id>:<fault>" while not closed, NULL once closed: the unique index keeps one live order
    open_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    assignee: Mapped[str | None] = mapped_column(String(64), index=True)
    key_area: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[datetime] = mapped_column(index=True)
    deadline_at: Mapped[datetime] = mapped_column(index=True)
    opened_by_diagnosis_id: Mapped[int | None] = mapped_column(ForeignKey("health_diagnoses.id", ondelete="SET NULL"))
    close_requested_at: Mapped[datetime | None] = mapped_column()
    close_requested_by: Mapped[str | None] = mapped_column(String(64))
    close_note: Mapped[str | None] = mapped_column(Text)
    recheck_at: Mapped[datetime | None] = mapped_column()
    recheck_passed: Mapped[bool | None] = mapped_column(Boolean)
    recheck_diagnosis_id: Mapped[int | None] = mapped_column(ForeignKey("health_diagnoses.id", ondelete="SET NULL"))
    recheck_note: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(index=True)  # re-check passed: the repair is done
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column()
    vendor: Mapped[str | None] = mapped_column(String(64))  # the device's vendor when the order opened

    events: Mapped[list[WorkOrderEvent]] = relationship(order_by="WorkOrderEvent.id", cascade="all, delete-orphan",
                                                        back_populates="order")

    def is_overdue(self, now: datetime) -> bool:
        return self.status != "closed" and now > self.deadline_at

    @property
    def repair_hours(self) -> float | None:
        if self.closed_at is None:
            return None
        return (self.closed_at - self.opened_at).total_seconds() / 3600.0


class WorkOrderEvent(Base):
    """A step in a work order's story: opened, close_requested, recheck_passed, recheck_failed, escalated …"""

    __tablename__ = "work_order_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column()
    kind: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    diagnosis_id: Mapped[int | None] = mapped_column(ForeignKey("health_diagnoses.id", ondelete="SET NULL"))

    order: Mapped[WorkOrder] = relationship(back_populates="events")


class WorkOrderEscalation(Base):
    """An overdue order escalated (level 1 at the deadline, level 2 when overdue by as long again)."""

    __tablename__ = "work_order_escalations"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(index=True)
    level: Mapped[int] = mapped_column(Integer, default=1)
    overdue_s: Mapped[float] = mapped_column(Float)
    assignee: Mapped[str | None] = mapped_column(String(64))
    # who was told (the duty roster of the tier reached: "site: 张三、李四"); None: nobody on duty or not sent
    notified: Mapped[str | None] = mapped_column(String(255))
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
