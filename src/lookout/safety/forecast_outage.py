"""Sensor outages in hourly counts (a people counter or turnstile feed that dies or reads near
zero for hours or weeks), found from data available at forecast time only.

A day (local midnight to midnight) is *collapsed* when the total of its observed hours is below
``day_frac`` × the median total over the same hours of the same weekday in the ``ref_weeks``
weeks before it, leaving out days already judged collapsed. With fewer than ``min_ref_days``
such reference days the day is accepted: a drop that lasts that long is taken as the new level.
Public holidays are never collapsed (a low holiday is real). With ``zero_run`` set, hours in a
run of at least that many zeros where the reference median for the hour is ``min_expected`` or
more are collapsed too (a counter that dies in the afternoon).

Collapsed hours can be left out as training targets and, in the lag and level features, either
treated as missing (LightGBM learns where missing values go) or replaced by the same hour one
to eight weeks earlier that was not collapsed. Everything here is pure: values in, mask out.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

WEEK = 168
FILL_WEEKS = 8
LAG_MODES = ("raw", "nan", "fill")


@dataclass(frozen=True)
class OutageRule:
    day_frac: float = 0.2
    zero_run: int = 0
    min_expected: float = 20.0
    ref_weeks: int = 8
    min_ref_days: int = 2
    drop_targets: bool = True
    lags: str = "nan"  # raw: features see collapsed values as they are; nan: as missing; fill: an earlier value

    def __post_init__(self) -> None:
        if self.lags not in LAG_MODES:
            raise ValueError(f"outage lag mode must be one of {', '.join(LAG_MODES)} (got {self.lags!r})")

    @property
    def active(self) -> bool:
        return self.drop_targets or self.lags != "raw"

    @classmethod
    def parse(cls, spec: str) -> OutageRule:
        """``off``; ``drop@0.2`` (targets only); ``nan@0.2`` or ``fill@0.2`` (targets and lags);
        ``+z4`` appended adds the zero-run rule (4 hours)."""
        spec = spec.strip()
        if spec == "off":
            return OFF
        head, _, run = spec.partition("+z")
        mode, _, frac = head.partition("@")
        if mode not in ("drop", "nan", "fill"):
            raise ValueError(f"outage setting {spec!r}: expected off, drop@F, nan@F or fill@F, optionally +zN")
        return cls(day_frac=float(frac or cls.day_frac), zero_run=int(run or 0), drop_targets=True,
                   lags="raw" if mode == "drop" else mode)

    def label(self) -> str:
        if not self.active:
            return "off"
        mode = "drop" if self.lags == "raw" else self.lags
        return f"{mode}@{self.day_frac:g}" + (f"+z{self.zero_run}" if self.zero_run else "")


OFF = OutageRule(drop_targets=False, lags="raw")


def _runs_at_least(flags: np.ndarray, n: int) -> np.ndarray:
    """Positions of ``flags`` that lie in a run of at least ``n`` consecutive True values."""
    out = np.zeros_like(flags)
    i = 0
    while i < len(flags):
        if flags[i]:
            j = i
            while j < len(flags) and flags[j]:
                j += 1
            if j - i >= n:
                out[i:j] = True
            i = j
        else:
            i += 1
    return out


def collapsed_hours(values: np.ndarray, first_hour: int, rule: OutageRule, holidays: np.ndarray | None = None) -> np.ndarray:
    """Mask (same length as ``values``) of collapsed hours. ``values`` are hourly from local hour
    ``first_hour`` of its first day, NaN where missing; ``holidays[k]`` is True when day ``k`` is a
    public holiday. Each day is judged from itself and earlier days only; a day at the end that
    is only partly known is judged on the hours it has."""
    v = np.asarray(values, dtype=float)
    n_days = (first_hour + len(v) + 23) // 24
    days = np.full(n_days * 24, np.nan)
    days[first_hour:first_hour + len(v)] = v
    days = days.reshape(n_days, 24)
    seen = ~np.isnan(days)
    collapsed = np.zeros(n_days, dtype=bool)
    hours = np.zeros((n_days, 24), dtype=bool)
    for k in range(n_days):
        if not seen[k].any() or (holidays is not None and k < len(holidays) and holidays[k]):
            continue
        refs = [k - 7 * j for j in range(1, rule.ref_weeks + 1) if k - 7 * j >= 0 and not collapsed[k - 7 * j]]
        if len(refs) < rule.min_ref_days:
            continue
        ref = days[refs]
        expected = float(np.median(np.nansum(ref[:, seen[k]], axis=1)))
        if expected >= rule.min_expected and np.nansum(days[k, seen[k]]) < rule.day_frac * expected:
            collapsed[k] = True
            hours[k] = True
        elif rule.zero_run:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an hour missing on every reference day
                profile = np.nan_to_num(np.nanmedian(ref, axis=0), nan=0.0)
            hours[k] = _runs_at_least((days[k] == 0) & (profile >= rule.min_expected), rule.zero_run)
    return hours.reshape(-1)[first_hour:first_hour + len(v)]


def feature_values(values: np.ndarray, mask: np.ndarray, lags: str) -> np.ndarray:
    """The values the lag and level features read: collapsed hours as they are (``raw``), as
    missing (``nan``), or replaced by the same hour 1–8 weeks earlier that was neither collapsed
    nor missing (``fill``; missing when there is none)."""
    v = np.asarray(values, dtype=float)
    if lags == "raw" or not mask.any():
        return v
    out = v.copy()
    out[mask] = np.nan
    if lags == "fill":
        todo = np.flatnonzero(mask)
        for k in range(1, FILL_WEEKS + 1):
            src = todo - k * WEEK
            ok = src >= 0
            ok[ok] = ~mask[src[ok]] & ~np.isnan(v[src[ok]])
            out[todo[ok]] = v[src[ok]]
            todo = todo[~ok]
            if not len(todo):
                break
    return out
