"""Drills (演练, seed 001): replay a recorded or synthetic day through the live path with a
simulated clock. A synthetic holiday day rises in the morning, peaks around midday past the
red threshold and drains in the afternoon; ``run_drill`` grades it exactly as live counts
(counting store, fusion, engine, incidents, checklists) on a temporary database."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone

from lookout.safety.replay import ReplayResult, TraceRow, run_replay


def synthetic_holiday_day(
    day: date,
    *,
    instant_max: int,
    peak_ratio: float = 0.97,
    opening: str = "08:00",
    closing: str = "18:00",
    gates: int = 2,
    step_minutes: int = 1,
    avg_visit_minutes: int = 150,
    utc_offset_hours: int = 8,
) -> list[TraceRow]:
    """Per-gate in/out rows for one day whose occupancy follows a bell curve peaking at
    ``peak_ratio`` × ``instant_max`` at midday; people leave after about ``avg_visit_minutes``."""
    tz = timezone(timedelta(hours=utc_offset_hours))
    oh, om = (int(x) for x in opening.split(":"))
    ch, cm = (int(x) for x in closing.split(":"))
    start = datetime(day.year, day.month, day.day, oh, om, tzinfo=tz)
    end = datetime(day.year, day.month, day.day, ch, cm, tzinfo=tz)
    minutes = int((end - start).total_seconds() // 60)
    mid, width = minutes / 2, minutes / 5
    target = [peak_ratio * instant_max * math.exp(-((m - mid) ** 2) / (2 * width**2)) for m in range(minutes + 1)]
    rows: list[TraceRow] = []
    present = 0
    line = 2
    for m in range(0, minutes + 1, step_minutes):
        want = int(round(target[m]))
        leaving = int(round(present * step_minutes / avg_visit_minutes))
        entering = max(0, want - present + leaving)
        leaving = max(0, present + entering - want)
        present = present + entering - leaving
        ts = start + timedelta(minutes=m)
        for g in range(gates):
            share_in = entering // gates + (1 if g < entering % gates else 0)
            share_out = leaving // gates + (1 if g < leaving % gates else 0)
            rows.append(TraceRow(line, ts, f"gate-{g + 1}", share_in, share_out))
            line += 1
    return rows


def run_drill(rows: list[TraceRow], *, daily_max: int, instant_max: int | None = None, opening: str = "00:00") -> ReplayResult:
    """Grade a drill day through the live path (incidents are marked as drills)."""
    return run_replay(rows, daily_max=daily_max, instant_max=instant_max, opening=opening)
