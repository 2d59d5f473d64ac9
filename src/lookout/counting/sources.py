"""External count sources and the sample store.

Stable entry point (used by ``POST /api/v1/counts``, the video pipeline and ``lookout replay``)::

    ingest_samples(session, site_id, samples, now) -> IngestResult

``samples`` are ``Sample`` objects or dicts ``{source, seq, ts, in, out}`` (a flow counter:
turnstile, ticketing, laser/infrared, a video line — people in and out since the source's
previous sample) or ``{source, seq, ts, present}`` (a presence estimate: WiFi probes, LBS,
a video zone — people inside now). Rules:

- each ``(source, seq)`` is stored once: a retried batch stores nothing twice (a unique
  constraint and an insert-or-ignore that works on SQLite and PostgreSQL);
- samples may arrive late and out of order: anything with ``ts`` inside ``[now − late_window,
  now + future_slack]`` is accepted; outside it the sample is rejected and reported;
- a malformed sample (missing field, negative count, naive time) rejects the whole batch with
  a ``SampleError`` naming the sample index and field — nothing is written;
- gaps in a source's ``seq`` (over the late window) are reported with every answer, so a
  sender can resend what was lost;
- a sender whose ``seq`` starts again (a rebooted counter) is not mistaken for a retry: a
  sample whose ``seq`` is at most half the source's last one while its ``ts`` is newer than
  that last sample's begins a new *epoch* of the source, stored beside the old samples
  (a retry carries its original, older ``ts``). A sample is put in the epoch that was current
  at its ``ts``, so late retries of the old run still find their stored copy.

A source unknown to the site is registered on its first sample: ``kind`` from the sample's
fields, ``covers_site`` for a presence source without a zone (a site-wide estimate).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lookout.counting.models import SOURCE_CATEGORIES, CountSample, CountSource

log = logging.getLogger(__name__)

LATE_WINDOW = timedelta(hours=6)
FUTURE_SLACK = timedelta(minutes=5)
MAX_BATCH = 5000
_CHUNK = 500


class SampleError(ValueError):
    """A malformed sample; the whole batch is refused."""

    def __init__(self, index: int, field_name: str, message: str) -> None:
        super().__init__(f"sample {index}: {field_name}: {message}")
        self.index, self.field, self.message = index, field_name, message


@dataclass(frozen=True)
class Sample:
    source: str
    seq: int
    ts: datetime
    n_in: int | None = None
    n_out: int | None = None
    present: int | None = None
    zone_id: int | None = None  # binds a new presence source to a zone

    @property
    def kind(self) -> str:
        return "presence" if self.present is not None else "flow"


def _int(d: Mapping[str, Any], key: str, index: int, required: bool = False) -> int | None:
    v = d.get(key)
    if v is None:
        if required:
            raise SampleError(index, key, "is required")
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise SampleError(index, key, f"must be a whole number, got {v!r}")
    if v < 0:
        raise SampleError(index, key, f"must be ≥ 0, got {v}")
    return v


def parse_sample(d: Mapping[str, Any] | Sample, index: int = 0) -> Sample:
    """Check one sample (a dict as received, or a Sample) and return it as a Sample."""
    if isinstance(d, Sample):
        d = {"source": d.source, "seq": d.seq, "ts": d.ts, "in": d.n_in, "out": d.n_out, "present": d.present,
             "zone": d.zone_id}
    if not isinstance(d, Mapping):
        raise SampleError(index, "sample", f"must be an object, got {type(d).__name__}")
    source = d.get("source")
    if not isinstance(source, str) or not source.strip() or len(source) > 64:
        raise SampleError(index, "source", "must be a non-empty name of at most 64 characters")
    seq = _int(d, "seq", index, required=True)
    ts = d.get("ts")
    if isinstance(ts, str):
        try:
            ts = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        except ValueError:
            raise SampleError(index, "ts", f"is not an ISO-8601 time: {ts!r}") from None
    if not isinstance(ts, datetime):
        raise SampleError(index, "ts", "is required (ISO-8601 time with a UTC offset)")
    if ts.tzinfo is None:
        raise SampleError(index, "ts", "has no UTC offset")
    n_in, n_out, present = _int(d, "in", index), _int(d, "out", index), _int(d, "present", index)
    if present is not None and (n_in is not None or n_out is not None):
        raise SampleError(index, "present", "give either in/out or present, not both")
    if present is None and (n_in is None or n_out is None):
        raise SampleError(index, "in/out", "a flow sample needs both in and out (or give present)")
    zone = _int(d, "zone", index)
    return Sample(source.strip(), seq, ts, n_in, n_out, present, zone)  # type: ignore[arg-type]


@dataclass
class IngestResult:
    accepted: int = 0  # newly stored
    duplicates: int = 0  # already stored (a retry)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # {index, source, seq, error}
    gaps: dict[str, list[list[int]]] = field(default_factory=dict)  # source -> [[first_missing, last_missing], ...]
    restarts: dict[str, int] = field(default_factory=dict)  # source -> seq restarts seen in this batch

    def to_dict(self) -> dict[str, Any]:
        out = {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected, "gaps": self.gaps}
        if self.restarts:
            out["restarts"] = self.restarts
        return out


def ensure_source(session: Session, site_id: int, name: str, kind: str, *, category: str | None = None,
                  zone_id: int | None = None, is_entrance: bool = True, covers_site: bool | None = None,
                  channel_id: int | None = None) -> CountSource:
    """The site's source of that name, registered now if new (attributes apply only then)."""
    src = session.execute(
        select(CountSource).where(CountSource.site_id == site_id, CountSource.name == name)
    ).scalar_one_or_none()
    if src is not None:
        return src
    if category is not None and category not in SOURCE_CATEGORIES:
        raise ValueError(f"unknown source category {category!r}")
    if covers_site is None:
        covers_site = kind == "presence" and zone_id is None
    src = CountSource(site_id=site_id, name=name, kind=kind, category=category or "other", zone_id=zone_id,
                      is_entrance=is_entrance, covers_site=covers_site, channel_id=channel_id)
    # another writer may register the same name at the same time: a savepoint keeps our transaction
    try:
        with session.begin_nested():
            session.add(src)
            session.flush()
    except IntegrityError:  # the (site, name) constraint: registered meanwhile by another writer
        existing = session.execute(
            select(CountSource).where(CountSource.site_id == site_id, CountSource.name == name)
        ).scalar_one_or_none()
        if existing is None:
            raise
        src = existing
    return src


def _insert_ignore(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert rows, skipping any whose (source_id, seq) is stored; returns how many were new."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - other backends are not supported
        raise RuntimeError(f"unsupported database {dialect!r}")
    new = 0
    for i in range(0, len(rows), _CHUNK):
        stmt = insert(CountSample).values(rows[i:i + _CHUNK]).on_conflict_do_nothing(
            index_elements=["source_id", "epoch", "seq"]).returning(CountSample.id)
        new += len(session.execute(stmt).all())  # rowcount is not reliable across drivers
    return new


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=timezone.utc)


class _Epochs:
    """A source's seq epochs: when each began, and the last sample of the current one."""

    def __init__(self, session: Session, source_id: int) -> None:
        rows = session.execute(select(CountSample.epoch, func.min(CountSample.ts)).where(
            CountSample.source_id == source_id).group_by(CountSample.epoch).order_by(CountSample.epoch)).all()
        self.starts = [(int(e), _aware(t)) for e, t in rows]
        self.last: tuple[int, datetime] | None = None  # (seq, ts) of the current epoch's highest seq
        if self.starts:
            row = session.execute(select(CountSample.seq, CountSample.ts).where(
                CountSample.source_id == source_id, CountSample.epoch == self.starts[-1][0]
            ).order_by(CountSample.seq.desc()).limit(1)).one()
            self.last = (int(row[0]), _aware(row[1]))

    def place(self, seq: int, ts: datetime) -> tuple[int, bool]:
        """The epoch of a sample, and whether it began a new one."""
        if not self.starts:
            self.starts, self.last = [(0, ts)], (seq, ts)
            return 0, False
        current = self.starts[-1][0]
        assert self.last is not None
        if seq <= self.last[0] // 2 and ts > self.last[1]:  # the sender's seq began again
            self.starts.append((current + 1, ts))
            self.last = (seq, ts)
            return current + 1, True
        epoch = next((e for e, start in reversed(self.starts) if start <= ts), self.starts[0][0])
        if epoch == current and seq >= self.last[0]:
            self.last = (seq, max(ts, self.last[1]) if seq == self.last[0] else ts)
        return epoch, False


def seq_gaps(session: Session, source_id: int, since: datetime, limit: int = 20) -> list[list[int]]:
    """Missing seq ranges between the stored samples of a source since ``since`` (within
    each epoch of the source's seq)."""
    prev = func.lag(CountSample.seq).over(partition_by=CountSample.epoch, order_by=CountSample.seq).label("prev")
    sub = select(CountSample.seq.label("seq"), prev).where(
        CountSample.source_id == source_id, CountSample.ts >= since).subquery()
    rows = session.execute(
        select(sub.c.prev, sub.c.seq).where(sub.c.seq - sub.c.prev > 1).order_by(sub.c.seq.desc()).limit(limit)
    ).all()
    return [[int(p) + 1, int(s) - 1] for p, s in reversed(rows)]


def ingest_samples(session: Session, site_id: int, samples: Iterable[Mapping[str, Any] | Sample], now: datetime, *,
                   late_window: timedelta = LATE_WINDOW, future_slack: timedelta = FUTURE_SLACK,
                   source_defaults: Mapping[str, Mapping[str, Any]] | None = None) -> IngestResult:
    """Store a batch of samples for one site (see the module docstring). Runs in the caller's
    transaction; raises ``SampleError`` (nothing written) for a malformed sample."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    parsed = [parse_sample(d, i) for i, d in enumerate(samples)]
    if len(parsed) > MAX_BATCH:
        raise SampleError(MAX_BATCH, "samples", f"at most {MAX_BATCH} samples per batch, got {len(parsed)}")
    result = IngestResult()
    sources: dict[str, CountSource] = {}
    rows: list[dict[str, Any]] = []
    earliest, latest = now - late_window, now + future_slack
    epochs: dict[int, _Epochs] = {}
    # samples in time order, so that a restarted sender's first samples open its new epoch
    # even when they arrive in a different order
    for i in sorted(range(len(parsed)), key=lambda k: parsed[k].ts):
        s = parsed[i]
        if not earliest <= s.ts <= latest:
            why = "too late" if s.ts < earliest else "in the future"
            result.rejected.append({"index": i, "source": s.source, "seq": s.seq,
                                    "error": f"ts {s.ts.isoformat()} is {why} (accepted: {earliest.isoformat()} "
                                             f"to {latest.isoformat()})"})
            continue
        src = sources.get(s.source)
        if src is None:
            extra = dict((source_defaults or {}).get(s.source, {}))
            extra.setdefault("zone_id", s.zone_id)
            src = sources[s.source] = ensure_source(session, site_id, s.source, s.kind, **extra)
        if src.kind != s.kind:
            result.rejected.append({"index": i, "source": s.source, "seq": s.seq,
                                    "error": f"source {s.source!r} sends {src.kind} samples, this one is {s.kind}"})
            continue
        ep = epochs.get(src.id)
        if ep is None:
            ep = epochs[src.id] = _Epochs(session, src.id)
        epoch, restarted = ep.place(s.seq, s.ts)
        if restarted:
            result.restarts[s.source] = result.restarts.get(s.source, 0) + 1
            log.info("site %s: source %s restarted its seq at %d (%s)", site_id, s.source, s.seq, s.ts.isoformat())
        rows.append({"source_id": src.id, "seq": s.seq, "epoch": epoch, "ts": s.ts, "n_in": s.n_in,
                     "n_out": s.n_out, "present": s.present, "received_at": now})
    if rows:
        result.accepted = _insert_ignore(session, rows)
        result.duplicates = len(rows) - result.accepted
    for name, src in sources.items():
        gaps = seq_gaps(session, src.id, earliest)
        if gaps:
            result.gaps[name] = gaps
    if result.rejected:
        result.rejected.sort(key=lambda r: r["index"])
        log.warning("site %s: %d count samples rejected, first: %s", site_id, len(result.rejected), result.rejected[0])
    return result
