"""Daily inputs a site gives its forecast: weather and events.

A scenic area knows what its counts cannot show: tomorrow's rain forecast, a temple fair or a
concert next Saturday. Each input is one value per site and local day, recorded for past days
(so the model can learn what it does) and given for the days ahead (so it can use it):

- ``rain_mm``: the day's rainfall in millimetres (0–500);
- ``temp_max_c``: the day's top temperature in °C (−50–60);
- ``event``: an event or festival on the site that day, as its expected size (0 none, 1 an
  ordinary one; larger for a bigger one, at most 10); days without a value have none.

An input enters a site's model only when it can teach something and be used: a measured
input (rain, temperature) needs values on at least ``MIN_PAST_DAYS`` days of the training
history and on every day of the forecast; an event needs at least ``MIN_PAST_EVENTS`` past event
days (the forecast days default to no event). Validation names the row and field that is
wrong; a batch is stored whole or not at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lookout.safety.models import ForecastInput


@dataclass(frozen=True)
class InputKind:
    low: float
    high: float
    default: float | None  # the value of a day without one (None: unknown)
    label_zh: str
    label_en: str


INPUTS: dict[str, InputKind] = {
    "rain_mm": InputKind(0.0, 500.0, None, "日降水量（毫米）", "rainfall (mm)"),
    "temp_max_c": InputKind(-50.0, 60.0, None, "日最高气温（℃）", "top temperature (°C)"),
    "event": InputKind(0.0, 10.0, 0.0, "活动/节庆规模（0 无，1 一般）", "event size (0 none, 1 ordinary)"),
}
MIN_PAST_DAYS = 28
MIN_PAST_EVENTS = 2
MAX_ROWS = 1000  # per request


class ForecastInputError(ValueError):
    """A forecast input that cannot be stored; the message names the row and the field."""


def validate(rows: Iterable[dict[str, Any]]) -> list[tuple[date, str, float]]:
    """Check rows ``{"day": "YYYY-MM-DD", "name": …, "value": …}``; raise on the first bad one."""
    out: list[tuple[date, str, float]] = []
    seen: set[tuple[date, str]] = set()
    for i, row in enumerate(rows, start=1):
        if i > MAX_ROWS:
            raise ForecastInputError(f"more than {MAX_ROWS} rows in one request")
        if not isinstance(row, dict):
            raise ForecastInputError(f"row {i}: expected an object with day, name and value")
        try:
            day = date.fromisoformat(str(row.get("day")))
        except ValueError:
            raise ForecastInputError(f"row {i}: day {row.get('day')!r} is not a date (YYYY-MM-DD)") from None
        name = row.get("name")
        kind = INPUTS.get(name) if isinstance(name, str) else None
        if kind is None:
            raise ForecastInputError(f"row {i}: name {name!r} is not a forecast input (one of {', '.join(INPUTS)})")
        value = row.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ForecastInputError(f"row {i}: value {value!r} of {name} is not a number")
        if not kind.low <= value <= kind.high:
            raise ForecastInputError(f"row {i}: value {value} of {name} is outside {kind.low:g}…{kind.high:g}")
        if (day, name) in seen:
            raise ForecastInputError(f"row {i}: {name} of {day} is given twice")
        seen.add((day, name))
        out.append((day, name, float(value)))
    return out


def store(session: Session, site_id: int, rows: list[tuple[date, str, float]], actor: str, now: datetime) -> int:
    """Insert or replace validated rows (audited, one record per request); returns rows changed."""
    from lookout.security import audit

    existing = {(r.day, r.name): r for r in session.scalars(select(ForecastInput).where(
        ForecastInput.site_id == site_id, ForecastInput.day.in_({d for d, _, _ in rows})))}
    changed = []
    for day, name, value in rows:
        r = existing.get((day, name))
        if r is None:
            session.add(ForecastInput(site_id=site_id, day=day, name=name, value=value, set_by=actor, set_at=now))
        elif r.value != value:
            r.value, r.set_by, r.set_at = value, actor, now
        else:
            continue
        changed.append({"day": day.isoformat(), "name": name, "value": value})
    if changed:
        session.flush()
        audit.record(session, actor, "set_forecast_inputs", "site", site_id, None, {"rows": changed}, now=now)
    return len(changed)


def load(session: Session, site_ids: Iterable[int], start: date | None = None, end: date | None = None,
         limit: int | None = None) -> list[ForecastInput]:
    """The inputs of these sites between ``start`` and ``end``, by day, site and name."""
    stmt = select(ForecastInput).where(ForecastInput.site_id.in_(list(site_ids)))
    if start is not None:
        stmt = stmt.where(ForecastInput.day >= start)
    if end is not None:
        stmt = stmt.where(ForecastInput.day <= end)
    stmt = stmt.order_by(ForecastInput.day, ForecastInput.site_id, ForecastInput.name)
    return list(session.scalars(stmt if limit is None else stmt.limit(limit)))


def usable(values: dict[str, dict[date, float]], train_until: date, days_ahead: Iterable[date]
           ) -> dict[str, Callable[[datetime], float]]:
    """The inputs that enter a model trained on days before ``train_until`` and used on
    ``days_ahead``, as functions of a local hour (the value of its day; NaN when unknown)."""
    ahead = list(days_ahead)
    out: dict[str, Callable[[datetime], float]] = {}
    for name in sorted(values):
        kind = INPUTS.get(name)
        if kind is None:
            continue
        by_day = values[name]
        past = [v for d, v in by_day.items() if d < train_until]
        if kind.default is None:
            if len(past) < MIN_PAST_DAYS or any(d not in by_day for d in ahead):
                continue
        elif sum(v != kind.default for v in past) < MIN_PAST_EVENTS:
            continue
        fill = math.nan if kind.default is None else kind.default
        out[name] = lambda ts, m=by_day, f=fill: m.get(ts.date(), f)
    return out


def site_exog(session: Session, site_id: int, train_until: date, first_day: date, last_day: date
              ) -> dict[str, Callable[[datetime], float]]:
    """``usable`` inputs of a site for a model of ``train_until`` forecasting ``first_day``…``last_day``."""
    values: dict[str, dict[date, float]] = {}
    for r in load(session, [site_id]):
        values.setdefault(r.name, {})[r.day] = r.value
    n = (last_day - first_day).days + 1
    return usable(values, train_until, [first_day + timedelta(days=k) for k in range(n)])
