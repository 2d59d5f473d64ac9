"""Replay a count trace through the live path on a simulated clock (``lookout replay``,
drills). Each row becomes a count sample; occupancy is fused from the samples and handed
to ``SafetyService.on_occupancy`` exactly as live counts are; between rows the clock
ticks to every pending de-escalation deadline, so steps down land on the right minute.

Trace format (CSV, header ``ts,source,in,out``): ISO-8601 time with offset, a source
name, people in and out since that source's previous row.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lookout.safety.engine import Occupancy, Transition
from lookout.safety.live import SafetyService

HEADER = ["ts", "source", "in", "out"]


class TraceError(ValueError):
    pass


@dataclass(frozen=True)
class TraceRow:
    line: int
    ts: datetime
    source: str
    inc: int
    out: int


def parse_trace(text: str | Iterable[str]) -> list[TraceRow]:
    """Parse and check the whole trace first (a bad row rejects the trace, naming the line)."""
    reader = csv.reader(io.StringIO(text) if isinstance(text, str) else text)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise TraceError("trace is empty (expected header ts,source,in,out)") from None
    if header != HEADER:
        raise TraceError(f"line 1: header must be {','.join(HEADER)}, got {','.join(header)}")
    rows: list[TraceRow] = []
    for n, rec in enumerate(reader, start=2):
        if not rec or all(not c.strip() for c in rec):
            continue
        if len(rec) != 4:
            raise TraceError(f"line {n}: expected 4 fields, got {len(rec)}")
        ts_s, source, in_s, out_s = (c.strip() for c in rec)
        try:
            ts = datetime.fromisoformat(ts_s.replace("Z", "+00:00"))
        except ValueError:
            raise TraceError(f"line {n}: ts {ts_s!r} is not an ISO-8601 time") from None
        if ts.tzinfo is None:
            raise TraceError(f"line {n}: ts {ts_s!r} has no UTC offset")
        if not source:
            raise TraceError(f"line {n}: source is empty")
        try:
            i, o = int(in_s), int(out_s)
        except ValueError:
            raise TraceError(f"line {n}: in/out must be whole numbers, got {in_s!r}, {out_s!r}") from None
        if i < 0 or o < 0:
            raise TraceError(f"line {n}: in/out must be ≥ 0, got {i}, {o}")
        rows.append(TraceRow(n, ts, source, i, o))
    rows.sort(key=lambda r: (r.ts, r.line))
    return rows


@dataclass
class CountAccumulator:
    """Fuses per-source in/out deltas into site occupancy (present, the day's entries)."""

    opening: str = "00:00"
    present: int = 0
    day: str | None = None
    entered_today: int = 0
    seen: dict[str, int] = field(default_factory=dict)

    def business_day(self, ts: datetime) -> str:
        h, m = (int(x) for x in self.opening.split(":"))
        return (ts - timedelta(hours=h, minutes=m)).date().isoformat()

    def add(self, row: TraceRow) -> Occupancy:
        day = self.business_day(row.ts)
        if day != self.day:
            self.day, self.entered_today = day, 0
        self.entered_today += row.inc
        self.present = max(0, self.present + row.inc - row.out)
        self.seen[row.source] = self.seen.get(row.source, 0) + 1
        return Occupancy(present=self.present, entered_today=self.entered_today, day=day)


def tz_name_for(offset: timedelta | None) -> str:
    """A zone name for a fixed UTC offset (the registry stores names, traces carry offsets)."""
    if offset is None or offset == timedelta(0):
        return "UTC"
    if offset == timedelta(hours=8):
        return "Asia/Shanghai"
    hours = offset.total_seconds() / 3600
    if hours.is_integer() and -12 <= hours <= 14:
        return f"Etc/GMT{-int(hours):+d}"  # POSIX sign: Etc/GMT-8 is UTC+8
    return "UTC"


def _setup_site(url: str, daily_max: int | None, instant_max: int | None, opening: str, tz: str = "Asia/Shanghai") -> int:
    from lookout.registry.models import OrgUnit, Site
    from lookout.store.db import session_scope

    with session_scope(url) as s:
        city = OrgUnit(tier="city", name="重庆市", division_code="500000", path="/")
        s.add(city)
        s.flush()
        city.path = f"/{city.id}/"
        district = OrgUnit(tier="district", parent_id=city.id, name="演练区", division_code="500100", path="/")
        s.add(district)
        s.flush()
        district.path = f"{city.path}{district.id}/"
        site = Site(org_unit_id=district.id, name="回放景区", opening_time=opening, daily_max=daily_max,
                    instant_max=instant_max, timezone=tz)
        s.add(site)
        s.flush()
        return site.id


class CountingFeeder:
    """Each row becomes a count sample in the counting store (``ingest_samples``, one
    sequence number per source) and the occupancy is fused from the store
    (``site_occupancy``): the same path as ``POST /api/v1/counts``."""

    def __init__(self, url: str, site_id: int) -> None:
        self.url, self.site_id = url, site_id
        self.seq: dict[str, int] = {}

    def __call__(self, row: TraceRow) -> Occupancy:
        from lookout.counting.fusion import site_occupancy
        from lookout.counting.sources import ingest_samples
        from lookout.safety.live import occupancy_from_payload
        from lookout.store.db import session_scope

        self.seq[row.source] = self.seq.get(row.source, 0) + 1
        sample = {"source": row.source, "seq": self.seq[row.source], "ts": row.ts, "in": row.inc, "out": row.out}
        with session_scope(self.url) as s:
            res = ingest_samples(s, self.site_id, [sample], row.ts)
            if res.rejected:
                raise TraceError(f"line {row.line}: {res.rejected[0]['error']}")
            s.flush()
            snap = site_occupancy(s, self.site_id, row.ts)
        return occupancy_from_payload(snap.to_dict())


@dataclass
class ReplayResult:
    transitions: list[Transition]
    peak_present: int
    peak_daily: int
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "transitions": [{"ts": t.ts.isoformat(), "level": t.level, "measure": t.measure} for t in self.transitions],
            "peak": {"present": self.peak_present, "daily": self.peak_daily},
        }


def replay_rows(
    service: SafetyService,
    site_id: int,
    rows: list[TraceRow],
    *,
    feed: Any = None,
    opening: str = "00:00",
    on_step: Any = None,
) -> ReplayResult:
    """Feed rows through ``service`` with the clock at each row's time (and each deadline).
    ``feed(row) -> Occupancy`` turns a row into occupancy (default: an in-memory accumulator)."""
    feed = feed or CountAccumulator(opening=opening).add
    transitions: list[Transition] = []
    peak_present = peak_daily = 0
    for row in rows:
        while (due := service.next_deadline()) is not None and due <= row.ts:
            transitions += service.tick(due.astimezone(row.ts.tzinfo))
        occ = feed(row)
        peak_present, peak_daily = max(peak_present, occ.present), max(peak_daily, occ.entered_today)
        transitions += service.on_occupancy(site_id, occ, row.ts)
        if on_step is not None:
            on_step(row.ts)
    return ReplayResult(transitions, peak_present, peak_daily, len(rows))


def run_replay(
    rows: list[TraceRow],
    *,
    daily_max: int | None,
    instant_max: int | None = None,
    opening: str = "00:00",
    workdir: Path | None = None,
) -> ReplayResult:
    """Replay on a temporary database (migrated like a real one)."""
    from lookout.store.db import dispose_all
    from lookout.store.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="lookout-replay-", dir=workdir) as tmp:
        url = f"sqlite:///{Path(tmp) / 'replay.db'}"
        upgrade(url)
        try:
            tz = tz_name_for(rows[0].ts.utcoffset() if rows else None)
            site_id = _setup_site(url, daily_max, instant_max, opening, tz)
            service = SafetyService(url, publish=lambda topic, payload: None, drill=True)
            return replay_rows(service, site_id, rows, feed=CountingFeeder(url, site_id), opening=opening)
        finally:
            dispose_all()
