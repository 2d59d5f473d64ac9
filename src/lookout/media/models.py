"""Recording tables: the segments index, per-channel recording policy, export audit, disk alerts.

The recorder supervisor is the one writer of ``recording_segments``; a segment row exists
only for a closed file on disk (see ``lookout.media.recorder.reconcile``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lookout.store.base import Base, utcnow


class RecordingSegment(Base):
    """One closed, time-named recording file of a channel (copied, never re-encoded)."""

    __tablename__ = "recording_segments"
    __table_args__ = (Index("ix_recording_segments_channel_start", "channel_id", "start"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    start: Mapped[datetime] = mapped_column()
    end: Mapped[datetime] = mapped_column(index=True)
    duration_s: Mapped[float] = mapped_column(Float)
    bytes: Mapped[int] = mapped_column(BigInteger)
    path: Mapped[str] = mapped_column(String(1024), unique=True)
    codec: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecordingPolicy(Base):
    """How a channel is recorded and what may be deleted; ``channel_id`` NULL is the global default.

    ``retention_days`` on the channel is the *required* minimum. ``keep_days`` (>= required)
    keeps footage longer while space allows. ``disk_guard_may_delete`` lets the disk guard
    remove footage older than the required days when free space runs low (None: inherit the
    global row; no row: not allowed).
    """

    __tablename__ = "recording_policies"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), unique=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    stream: Mapped[str] = mapped_column(String(8), default="main")  # main | sub
    segment_seconds: Mapped[int] = mapped_column(Integer, default=60)
    keep_days: Mapped[int | None] = mapped_column(Integer)
    disk_guard_may_delete: Mapped[bool | None] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class VideoExport(Base):
    """Who exported which footage, when, and where the file went (with an audit record)."""

    __tablename__ = "video_exports"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    start: Mapped[datetime] = mapped_column()
    end: Mapped[datetime] = mapped_column()
    watermark: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="done")  # done | failed
    path: Mapped[str | None] = mapped_column(String(1024))
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    duration_s: Mapped[float | None] = mapped_column(Float)
    codec: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class DiskAlert(Base):
    """Free space below the threshold on a recording volume; cleared when space returns."""

    __tablename__ = "disk_alerts"
    id: Mapped[int] = mapped_column(primary_key=True)
    volume: Mapped[str] = mapped_column(String(1024), index=True)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    cleared_at: Mapped[datetime | None] = mapped_column()
    free_bytes: Mapped[int] = mapped_column(BigInteger)
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    threshold_percent: Mapped[float] = mapped_column(Float)
    deleted_segments: Mapped[int] = mapped_column(Integer, default=0)
    deleted_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    shortfall_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    message: Mapped[str] = mapped_column(Text)
