"""Counting tables: count sources (turnstiles, ticketing, laser/infrared counters, WiFi/LBS
estimates, video lines and zones) and their samples, each ``(source, epoch, seq)`` stored
once (``epoch``: how many times the sender's seq restarted)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lookout.store.base import Base, utcnow

SOURCE_KINDS = ("flow", "presence")  # flow: in/out since the previous sample; presence: people inside now
SOURCE_CATEGORIES = ("turnstile", "ticketing", "laser", "infrared", "wifi", "lbs", "video_line", "video_zone", "other")

_BigId = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER primary keys only


class CountSource(Base):
    __tablename__ = "count_sources"
    __table_args__ = (UniqueConstraint("site_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # SOURCE_KINDS
    category: Mapped[str] = mapped_column(String(16), default="other")
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id", ondelete="SET NULL"), index=True)
    is_entrance: Mapped[bool] = mapped_column(Boolean, default=True)  # a flow source at the site's boundary
    covers_site: Mapped[bool] = mapped_column(Boolean, default=False)  # a presence estimate of the whole site
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CountSample(Base):
    __tablename__ = "count_samples"
    __table_args__ = (
        UniqueConstraint("source_id", "epoch", "seq"),
        Index("ix_count_samples_source_ts", "source_id", "ts"),
    )
    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("count_sources.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    # restarts of the sender's seq: 0, then +1 each time its seq began again (see sources.py)
    epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ts: Mapped[datetime] = mapped_column(index=True)
    n_in: Mapped[int | None] = mapped_column(Integer)
    n_out: Mapped[int | None] = mapped_column(Integer)
    present: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

    source: Mapped[CountSource] = relationship()
