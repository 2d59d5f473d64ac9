"""Append-only, hash-chained audit log.

Each record's hash covers its own content and the previous record's hash, so altering or
deleting a record breaks the chain from that point on; `lookout audit verify` finds the
first broken record.

Deleting the newest records leaves a shorter chain that is still whole. Against that, the
chain's head (id and hash) is anchored outside the database: `lookout audit anchor` prints it
and appends it to an anchors file (ship that line off the machine: syslog, a ticket, another
host); `lookout audit verify --anchors FILE` then also checks that every anchored record is
still there with the same hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from lookout.security.models import AuditRecord
from lookout.store.base import utcnow

GENESIS = "0" * 64


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    return json.loads(json.dumps(value, ensure_ascii=False, sort_keys=True, default=str))


def _digest(prev: str, ts: datetime, actor: str, action: str, entity: str, entity_id: str | None,
            before: Any, after: Any) -> str:
    body = json.dumps(
        [prev, ts.isoformat(timespec="microseconds"), actor, action, entity, entity_id, before, after],
        ensure_ascii=False, sort_keys=True, separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _lock_chain(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7011)"))


def record(session: Session, actor: str, action: str, entity: str, entity_id: Any = None,
           before: Any = None, after: Any = None, now: datetime | None = None) -> AuditRecord:
    """Append one record in the caller's transaction (it commits or rolls back with the change)."""
    _lock_chain(session)
    session.flush()
    last = session.execute(select(AuditRecord.hash).order_by(AuditRecord.id.desc()).limit(1)).scalar()
    prev = last or GENESIS
    ts = now or utcnow()
    eid = None if entity_id is None else str(entity_id)
    b, a = _jsonable(before), _jsonable(after)
    rec = AuditRecord(ts=ts, actor=actor, action=action, entity=entity, entity_id=eid, before=b, after=a,
                      prev_hash=prev, hash=_digest(prev, ts, actor, action, entity, eid, b, a))
    session.add(rec)
    session.flush()
    return rec


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str = ""


def verify(session: Session) -> VerifyResult:
    prev = GENESIS
    n = 0
    for rec in session.execute(select(AuditRecord).order_by(AuditRecord.id)).scalars():
        n += 1
        if rec.prev_hash != prev:
            return VerifyResult(False, n, rec.id, "the previous record was altered or deleted (chain link broken)")
        expect = _digest(prev, rec.ts, rec.actor, rec.action, rec.entity, rec.entity_id,
                         _jsonable(rec.before), _jsonable(rec.after))
        if expect != rec.hash:
            return VerifyResult(False, n, rec.id, "record content does not match its hash (altered)")
        prev = rec.hash
    return VerifyResult(True, n)


@dataclass(frozen=True)
class Anchor:
    """The chain's head at one moment: the newest record's id and hash."""

    record_id: int
    hash: str
    at: datetime

    def line(self) -> str:
        return f"{self.at.isoformat(timespec='seconds')} {self.record_id} {self.hash}"

    @classmethod
    def parse(cls, line: str) -> Anchor:
        """One line of an anchors file; ValueError naming what is wrong."""
        parts = line.split()
        if len(parts) != 3:
            raise ValueError(f"an anchor is 'time id hash', got {line.strip()!r}")
        ts, rid, digest = parts
        if not rid.isdigit():
            raise ValueError(f"anchor record id {rid!r} is not a number")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"anchor hash {digest!r} is not a SHA-256 hex digest")
        return cls(int(rid), digest, datetime.fromisoformat(ts))


def head(session: Session, now: datetime | None = None) -> Anchor | None:
    """The chain's newest record as an anchor (None for an empty log)."""
    rec = session.execute(select(AuditRecord).order_by(AuditRecord.id.desc()).limit(1)).scalar_one_or_none()
    return None if rec is None else Anchor(rec.id, rec.hash, now or utcnow())


def check_anchors(session: Session, anchors: list[Anchor]) -> VerifyResult:
    """Every anchored record must still exist with its anchored hash: together with ``verify``
    (an intact chain) this shows that nothing up to the newest anchor was deleted or altered."""
    for a in sorted(anchors, key=lambda x: x.record_id):
        got = session.execute(select(AuditRecord.hash).where(AuditRecord.id == a.record_id)).scalar_one_or_none()
        if got is None:
            return VerifyResult(False, len(anchors), a.record_id,
                                f"record {a.record_id}, anchored at {a.at.isoformat(timespec='seconds')}, is gone "
                                "(the newest records were deleted)")
        if got != a.hash:
            return VerifyResult(False, len(anchors), a.record_id,
                                f"record {a.record_id} no longer has the hash anchored at "
                                f"{a.at.isoformat(timespec='seconds')} (the chain was rewritten)")
    return VerifyResult(True, len(anchors))


def snapshot(obj: Any, exclude: tuple[str, ...] = ("password_hash", "password_enc", "key_hash")) -> dict[str, Any]:
    """A model row as a plain dict for before/after, without secrets."""
    out = {}
    for col in obj.__table__.columns:
        if col.key in exclude:
            continue
        out[col.key] = getattr(obj, col.key)
    return _jsonable(out)


def record_many(session: Session, actor: str, entries: list[tuple[str, str, Any, Any, Any]],
                now: datetime | None = None) -> int:
    """Append many records at once: entries are (action, entity, entity_id, before, after)."""
    if not entries:
        return 0
    _lock_chain(session)
    session.flush()
    prev = session.execute(select(AuditRecord.hash).order_by(AuditRecord.id.desc()).limit(1)).scalar() or GENESIS
    ts = now or utcnow()
    rows = []
    for action, entity, entity_id, before, after in entries:
        eid = None if entity_id is None else str(entity_id)
        b, a = _jsonable(before), _jsonable(after)
        h = _digest(prev, ts, actor, action, entity, eid, b, a)
        rows.append(AuditRecord(ts=ts, actor=actor, action=action, entity=entity, entity_id=eid,
                                before=b, after=a, prev_hash=prev, hash=h))
        prev = h
    session.add_all(rows)
    session.flush()
    return len(rows)
