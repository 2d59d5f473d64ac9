"""Online status of channels from stream probes, and their state-change history.

A patrol opens each channel's stream: when that fails the channel is ``offline`` (the reason names
why: refused, 401, 404, timed out …); when a picture comes but the diagnosis finds faults that count
(``workorders.trusted_faults``: without a reference picture only those reliable without one) it is
``fault`` (the reason lists them); otherwise ``online``. ``online`` and ``fault`` both count as online
for the online rate (the camera delivers video; a bad picture is a work order, not an outage).

Coexistence with GB/T 28181: the SIP server (federation) writes ``Channel.status`` from keepalives
and catalog events and keeps its own ``gb_status_events``. This module writes probe results to the
same ``Channel.status``/``status_reason``/``status_changed_at`` and to ``channel_status_changes``;
:func:`load_history` merges both tables (source ``probe``/``patrol``/``manual`` or ``gb28181``), and
the latest change from either source is the channel's state at any moment.

Pure: :func:`status_from_patrol`, :func:`is_online`. Adapters: :func:`apply_status` (writes the channel,
a change row and an audit record in the caller's transaction and returns the bus event to publish
after commit), :func:`publish`, :func:`load_history`.

Bus topic: ``channel.<id>.status`` with ``{"channel_id", "code", "status", "previous", "reason", "at",
"source"}`` (the same shape as the GB/T 28181 server's, plus ``previous``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lookout.health.models import ChannelStatusChange
from lookout.registry.models import ONLINE_STATUSES, Channel

log = logging.getLogger(__name__)

ONLINE_STATES = ONLINE_STATUSES
FAULT_STATE = "fault"  # one of ONLINE_STATES: online, with a picture fault
Publish = tuple[str, dict[str, Any]]


def is_online(status: str | None) -> bool | None:
    """True for online/fault, False for offline, None for unknown."""
    if status in ONLINE_STATES:
        return True
    if status == "offline":
        return False
    return None


def status_from_patrol(online: bool, error: str | None, faults: Sequence[str]) -> tuple[str, str]:
    """The channel state and reason a patrol result stands for."""
    if not online:
        return "offline", f"stream probe failed: {error or 'no picture'}"[:255]
    if faults:
        return FAULT_STATE, f"picture faults: {', '.join(faults)}"[:255]
    return "online", "stream probe: picture received"


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    status: str
    reason: str
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "status": self.status, "reason": self.reason, "source": self.source}


def apply_status(session: Session, channel: Channel, status: str, reason: str, source: str, now: datetime,
                 audits: list | None = None) -> Publish | None:
    """Set the channel's state; a change of state adds a history row. Returns the event to publish, or None.

    Audit entries (action ``status``) are appended to ``audits`` when given (write them with
    ``audit.record_many``), else recorded at once.
    """
    reason = (reason or "")[:255]
    if channel.status == status and channel.status_reason == reason:
        return None
    before = {"status": channel.status, "status_reason": channel.status_reason}
    previous = channel.status
    changed = previous != status
    channel.status, channel.status_reason = status, reason
    entry = ("status", "channel", channel.id, before, {"status": status, "status_reason": reason, "source": source})
    if audits is not None:
        audits.append(entry)
    else:
        from lookout.security import audit

        audit.record(session, source, *entry, now=now)
    if not changed:
        return None
    channel.status_changed_at = now
    session.add(ChannelStatusChange(channel_id=channel.id, at=now, status=status, previous=previous, reason=reason,
                                    source=source))
    return (f"channel.{channel.id}.status", {"channel_id": channel.id, "code": channel.code, "status": status,
                                              "previous": previous, "reason": reason, "at": now.isoformat(),
                                              "source": source})


def publish(events: Iterable[Publish]) -> int:
    """Publish events on the live bus (after the transaction that wrote them committed)."""
    from lookout.runtime.bus import bus

    n = 0
    for topic, payload in events:
        try:
            bus.publish(topic, payload)
            n += 1
        except Exception:  # a subscriber's trouble must not undo a stored change
            log.exception("could not publish %s", topic)
    return n


def _gb_events():
    try:
        from lookout.federation.models import GbStatusEvent
    except ImportError:  # federation not installed
        return None
    return GbStatusEvent


def load_history(session: Session, channel_ids: Sequence[int] | None, start: datetime, end: datetime,
                 with_initial: bool = True) -> dict[int, list[HistoryEntry]]:
    """State changes of the channels in [start, end), both sources merged, oldest first.

    With ``with_initial`` each channel's list starts with its last change before ``start`` (the state
    the window opens in). ``channel_ids`` None means all channels.
    """
    out: dict[int, list[HistoryEntry]] = {}
    tables = [(ChannelStatusChange, ChannelStatusChange.reason, ChannelStatusChange.source)]
    gb = _gb_events()
    if gb is not None:
        tables.append((gb, gb.reason, None))
    for table, reason_col, source_col in tables:
        cols = [table.channel_id, table.at, table.status, reason_col]
        if source_col is not None:
            cols.append(source_col)

        def where(stmt, table=table):
            stmt = stmt.where(table.channel_id.is_not(None))
            if channel_ids is not None:
                stmt = stmt.where(table.channel_id.in_(list(channel_ids)))
            return stmt

        rows = list(session.execute(where(select(*cols)).where(table.at >= start, table.at < end)))
        if with_initial:
            last = where(select(table.channel_id, func.max(table.at).label("at")).where(table.at < start)
                         ).group_by(table.channel_id).subquery()
            rows += list(session.execute(select(*cols).join(last, (table.channel_id == last.c.channel_id)
                                                            & (table.at == last.c.at))))
        for r in rows:
            source = r[4] if source_col is not None else "gb28181"
            out.setdefault(r[0], []).append(HistoryEntry(r[1], r[2], r[3] or "", source))
    for cid, entries in out.items():
        entries.sort(key=lambda e: e.at)
        if with_initial:
            before = [e for e in entries if e.at < start]
            if len(before) > 1:  # one table's initial state is older than the other's
                keep = before[-1]
                out[cid] = [keep] + [e for e in entries if e.at >= start]
    return out
