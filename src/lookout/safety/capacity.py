"""Carrying capacity by LB/T 034-2014 (pure arithmetic).

C1 (instantaneous) = Σ Xi / Yi — Xi the effective visitable area of spot i (m²), Yi the
per-capita space there (m²/person).
C2 (daily) = C1 × Int(T / t) — T the daily effective opening time, t the average visit time.
An approved figure set by the competent department overrides the computed one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class CapacityError(ValueError):
    pass


@dataclass(frozen=True)
class Spot:
    name: str
    area_m2: float
    per_capita_m2: float

    def capacity(self) -> int:
        if self.area_m2 is None or self.area_m2 < 0:
            raise CapacityError(f"spot {self.name!r}: area_m2 must be ≥ 0, got {self.area_m2!r}")
        if not self.per_capita_m2 or self.per_capita_m2 <= 0:
            raise CapacityError(f"spot {self.name!r}: per_capita_m2 must be > 0, got {self.per_capita_m2!r}")
        return int(self.area_m2 / self.per_capita_m2)


def hhmm_to_minutes(value: str) -> int:
    try:
        h, m = value.split(":")
        hi, mi = int(h), int(m)
    except (ValueError, AttributeError) as exc:
        raise CapacityError(f"time {value!r}: expected HH:MM") from exc
    if not (0 <= hi <= 24 and 0 <= mi < 60) or hi * 60 + mi > 24 * 60:
        raise CapacityError(f"time {value!r}: out of range")
    return hi * 60 + mi


def opening_minutes(opening: str, closing: str) -> int:
    """Daily effective opening time T in minutes (closing past midnight wraps)."""
    o, c = hhmm_to_minutes(opening), hhmm_to_minutes(closing)
    return c - o if c > o else c + 24 * 60 - o


def instantaneous(spots: Iterable[Spot]) -> int:
    """C1 = Σ Xi / Yi (each term rounded down to whole people)."""
    return sum(s.capacity() for s in spots)


def turnover(opening_min: int, avg_visit_min: int) -> int:
    """Z = Int(T / t): how many times the site fills in a day (at least 1)."""
    if avg_visit_min <= 0:
        raise CapacityError(f"average visit time must be > 0 minutes, got {avg_visit_min}")
    if opening_min <= 0:
        raise CapacityError(f"opening time must be > 0 minutes, got {opening_min}")
    return max(1, int(opening_min // avg_visit_min))


def daily(c1: int, opening_min: int, avg_visit_min: int) -> int:
    """C2 = C1 × Int(T / t)."""
    return c1 * turnover(opening_min, avg_visit_min)


@dataclass(frozen=True)
class SiteCapacity:
    c1_computed: int | None
    c2_computed: int | None
    instant_max: int | None  # what the engine uses: approved, else computed
    daily_max: int | None
    instant_source: str  # "approved", "computed" or "unset"
    daily_source: str
    zones: dict[str, int]  # zone name -> capacity
    turnover: int | None


def site_capacity(
    spots: Iterable[Spot],
    *,
    opening: str,
    closing: str,
    avg_visit_min: int,
    approved_instant: int | None = None,
    approved_daily: int | None = None,
    zone_overrides: dict[str, int] | None = None,
) -> SiteCapacity:
    """Site figures: computed C1/C2 from its zones, overridden by approved maxima."""
    spots = list(spots)
    zones = {s.name: s.capacity() for s in spots}
    zones.update(zone_overrides or {})
    c1 = sum(zones.values()) if zones else None
    z = turnover(opening_minutes(opening, closing), avg_visit_min)
    c2 = c1 * z if c1 is not None else None
    for name, v in (("approved instantaneous maximum", approved_instant), ("approved daily maximum", approved_daily)):
        if v is not None and v <= 0:
            raise CapacityError(f"{name} must be > 0, got {v}")
    return SiteCapacity(
        c1_computed=c1,
        c2_computed=c2,
        instant_max=approved_instant if approved_instant is not None else c1,
        daily_max=approved_daily if approved_daily is not None else c2,
        instant_source="approved" if approved_instant is not None else ("computed" if c1 is not None else "unset"),
        daily_source="approved" if approved_daily is not None else ("computed" if c2 is not None else "unset"),
        zones=zones,
        turnover=z,
    )
