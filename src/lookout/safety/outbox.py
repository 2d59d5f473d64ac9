"""Durable outbox: messages are written in the same transaction as the change that causes
them, then delivered by a worker with retries and exponential backoff.

Nothing is lost: a message stays ``pending`` until a sender accepts it; retryable failures
(connection refused, timeouts, 5xx, 408, 429) are retried forever with capped backoff;
permanent failures (other 4xx, bad address) are kept as ``failed`` with the error, for an
operator to see and re-queue.

Delivered once: each message carries a unique key, sent to the receiver as the
``Idempotency-Key`` header; a row is claimed with a lease before sending, so two workers
never send the same row, and a row whose sender crashed mid-way is retried only after its
lease ends (the receiver can drop the repeat by its key).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from lookout.safety.models import OutboxMessage
from lookout.store.db import session_scope

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


Sender = Callable[[OutboxMessage], None]


@dataclass(frozen=True)
class Backoff:
    base: timedelta = timedelta(seconds=2)
    factor: float = 2.0
    cap: timedelta = timedelta(seconds=60)

    def delay(self, attempts: int) -> timedelta:
        """Wait after the ``attempts``-th failed try (1-based): base × factor^(attempts-1), capped."""
        secs = self.base.total_seconds() * (self.factor ** max(attempts - 1, 0))
        return timedelta(seconds=min(secs, self.cap.total_seconds()))


def enqueue(
    session: Session,
    *,
    key: str,
    channel: str,
    target: str,
    payload: dict[str, Any],
    now: datetime,
    incident_id: int | None = None,
) -> OutboxMessage:
    """Add a message in the caller's transaction; the same key twice gives the first row."""
    existing = session.execute(select(OutboxMessage).where(OutboxMessage.key == key)).scalar_one_or_none()
    if existing is not None:
        return existing
    msg = OutboxMessage(
        key=key,
        channel=channel,
        target=target,
        payload=payload,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        incident_id=incident_id,
    )
    session.add(msg)
    session.flush()
    return msg


@dataclass
class DeliveryStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def _claim(url: str, now: datetime, limit: int, lease: timedelta) -> list[OutboxMessage]:
    """Mark due rows ``sending`` with a lease; returns the rows this caller owns."""
    claimed: list[OutboxMessage] = []
    with session_scope(url) as s:
        due = s.execute(
            select(OutboxMessage.id)
            .where(
                or_(
                    (OutboxMessage.status == "pending") & (OutboxMessage.next_attempt_at <= now),
                    (OutboxMessage.status == "sending") & (OutboxMessage.lease_until <= now),
                )
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        ).scalars().all()
        for mid in due:
            res = s.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == mid,
                    or_(
                        OutboxMessage.status == "pending",
                        (OutboxMessage.status == "sending") & (OutboxMessage.lease_until <= now),
                    ),
                )
                .values(status="sending", lease_until=now + lease)
            )
            if res.rowcount == 1:
                claimed.append(s.get(OutboxMessage, mid))
    return claimed


def deliver_due(
    url: str,
    senders: dict[str, Sender],
    now: datetime,
    *,
    backoff: Backoff = Backoff(),
    limit: int = 100,
    lease: timedelta = timedelta(seconds=60),
) -> DeliveryStats:
    """Try every due message once; record the outcome of each in its own transaction."""
    stats = DeliveryStats()
    for msg in _claim(url, now, limit, lease):
        sender = senders.get(msg.channel)
        error: DeliveryError | None = None
        if sender is None:
            error = DeliveryError(f"no sender configured for channel {msg.channel!r}", retryable=True)
        else:
            try:
                sender(msg)
            except DeliveryError as exc:
                error = exc
            except Exception as exc:  # an adapter bug must not stop the worker
                error = DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True)
        with session_scope(url) as s:
            row = s.get(OutboxMessage, msg.id)
            row.attempts += 1
            row.lease_until = None
            if error is None:
                row.status, row.sent_at, row.last_error = "sent", now, None
                stats.sent += 1
            elif error.retryable:
                row.status = "pending"
                row.next_attempt_at = now + backoff.delay(row.attempts)
                row.last_error = str(error)[:2000]
                stats.retried += 1
                stats.errors.append(f"{msg.key}: {error}")
            else:
                row.status, row.last_error = "failed", str(error)[:2000]
                stats.failed += 1
                stats.errors.append(f"{msg.key}: {error}")
                log.error("outbox message %s failed permanently: %s", msg.key, error)
        if error is not None and error.retryable:
            log.warning("outbox message %s not delivered (attempt %d): %s", msg.key, msg.attempts + 1, error)
    return stats


def requeue(session: Session, message_id: int, now: datetime) -> None:
    """Put a failed message back in line (after its target was fixed)."""
    row = session.get(OutboxMessage, message_id)
    if row is None:
        raise LookupError(f"outbox message {message_id} not found")
    row.status, row.next_attempt_at = "pending", now


class OutboxWorker:
    """Background thread: delivers due messages every ``interval`` seconds of wall time,
    reading the time from ``clock`` (so drills and tests can drive it)."""

    def __init__(
        self,
        url: str,
        senders: dict[str, Sender],
        clock: Callable[[], datetime],
        *,
        interval: float = 0.5,
        backoff: Backoff = Backoff(),
    ) -> None:
        self.url, self.senders, self.clock, self.interval, self.backoff = url, senders, clock, interval, backoff
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> DeliveryStats:
        return deliver_due(self.url, self.senders, self.clock(), backoff=self.backoff)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # the database may be briefly unavailable; keep going
                log.exception("outbox delivery round failed")
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="safety-outbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
