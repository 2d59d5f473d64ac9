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
    #: Two more features from the raw counts, so the model can learn how a collapsed feed comes back:
    #: the share of the last 7 days below ``recovery_frac`` of their usual level, and the last 3
    #: days' level against the same 3 days of the 8 weeks before.
    recovery_features: bool = False
    recovery_frac: float = 0.5

    def __post_init__(self) -> None:
        if self.lags not in LAG_MODES:
            raise ValueError(f"outage lag mode must be one of {', '.join(LAG_MODES)} (got {self.lags!r})")

    @property
    def active(self) -> bool:
        return self.drop_targets or self.lags != "raw" or self.recovery_features

    @classmethod
    def parse(cls, spec: str) -> OutageRule:
        """``off``; ``drop@0.2`` (targets only); ``nan@0.2`` or ``fill@0.2`` (targets and lags);
        ``lagnan@0.5`` or ``lagfill@0.5`` (lags only, collapsed days kept as targets); ``+z4``
        appended adds the zero-run rule (4 hours); ``+rec`` appended (or ``rec`` alone, meaning
        ``off+rec``) adds the recovery features."""
        spec = spec.strip()
        rec = spec == "rec" or spec.endswith("+rec")
        if rec:
            spec = "off" if spec == "rec" else spec[: -len("+rec")]
        if spec == "off":
            return OutageRule(drop_targets=False, lags="raw", recovery_features=rec)
        head, _, run = spec.partition("+z")
        mode, _, frac = head.partition("@")
        if mode not in ("drop", "nan", "fill", "lagnan", "lagfill"):
            raise ValueError(f"outage setting {spec!r}: expected off, drop@F, nan@F, fill@F, lagnan@F or lagfill@F, "
                             "optionally +zN, optionally +rec")
        return cls(day_frac=float(frac or cls.day_frac), zero_run=int(run or 0), drop_targets=not mode.startswith("lag"),
                   lags="raw" if mode == "drop" else mode.removeprefix("lag"), recovery_features=rec)

    def label(self) -> str:
        rec = "+rec" if self.recovery_features else ""
        if not (self.drop_targets or self.lags != "raw"):
            return "off" + rec
        mode = "drop" if self.lags == "raw" else self.lags
        if not self.drop_targets:
            mode = "lag" + mode
        return f"{mode}@{self.day_frac:g}" + (f"+z{self.zero_run}" if self.zero_run else "") + rec


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


# --------------------------------------------------------------------------- episodes (for choosing test windows)
@dataclass(frozen=True)
class Episode:
    """A stretch of low days (indices into the day array) and how far the level came back."""

    first: int  # first low day
    last: int  # last low day
    low_days: int
    recovery: float  # mean total of the 7 days after ``last`` over the same weekdays' level before ``first``


def day_totals(values: np.ndarray, first_hour: int) -> tuple[np.ndarray, np.ndarray]:
    """Per day (from the day holding ``first_hour``): total of the observed hours, and whether
    the day has all 24 hours."""
    v = np.asarray(values, dtype=float)
    n_days = (first_hour + len(v) + 23) // 24
    days = np.full(n_days * 24, np.nan)
    days[first_hour:first_hour + len(v)] = v
    days = days.reshape(n_days, 24)
    return np.nansum(days, axis=1), ~np.isnan(days).any(axis=1)


def outage_episodes(
    values: np.ndarray,
    first_hour: int,
    holidays: np.ndarray | None = None,
    *,
    day_frac: float = 0.5,
    min_low_days: int = 3,
    max_gap: int = 3,
    min_recovery: float = 0.7,
) -> list[Episode]:
    """Stretches where a series collapsed and came back: days below ``day_frac`` of the same
    weekday's recent level (the day rule of ``collapsed_hours``), joined when at most ``max_gap``
    ordinary or missing days lie between them, with at least ``min_low_days`` low days, and
    followed by 7 complete days whose mean total is at least ``min_recovery`` × the mean of the
    same weekdays' medians over the 8 weeks before the first low day."""
    low = collapsed_hours(values, first_hour, OutageRule(day_frac=day_frac), holidays)
    total, complete = day_totals(values, first_hour)
    n_days = len(total)
    low_day = np.zeros(n_days, dtype=bool)
    full = np.zeros(n_days * 24, dtype=bool)
    full[first_hour:first_hour + len(low)] = low
    low_day[:] = full.reshape(n_days, 24).any(axis=1)
    out: list[Episode] = []
    idx = np.flatnonzero(low_day)
    groups: list[list[int]] = []
    for k in idx:
        if groups and k - groups[-1][-1] - 1 <= max_gap:
            groups[-1].append(int(k))
        else:
            groups.append([int(k)])
    for g in groups:
        first, last = g[0], g[-1]
        after = range(last + 1, last + 8)
        if len(g) < min_low_days or last + 8 > n_days or not all(complete[d] for d in after):
            continue
        level = []
        for d in after:
            refs = [r for r in range(first - 56, first) if r >= 0 and (r - d) % 7 == 0 and complete[r] and not low_day[r]]
            if len(refs) < 2:
                break
            level.append(float(np.median(total[refs])))
        if len(level) < 7 or sum(level) <= 0:
            continue
        recovery = float(sum(total[d] for d in after) / sum(level))
        if recovery >= min_recovery:
            out.append(Episode(first, last, len(g), recovery))
    return out


# --------------------------------------------------------------------------- recovery features
RECOVERY_FEATURES = ("low_share_7d", "last3d_vs_usual")


def _means_before(v: np.ndarray, ends: np.ndarray, width: int) -> np.ndarray:
    """Mean of the non-missing values in [e - width, e) for each ``e`` (NaN when none)."""
    total = np.concatenate([[0.0], np.cumsum(np.nan_to_num(v, nan=0.0))])
    count = np.concatenate([[0], np.cumsum(~np.isnan(v))])
    hi = np.clip(ends, 0, len(v))
    lo = np.clip(ends - width, 0, len(v))
    k = count[hi] - count[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(k > 0, (total[hi] - total[lo]) / np.maximum(k, 1), np.nan)


def recovery_inputs(values: np.ndarray, first_hour: int, origins: np.ndarray, rule: OutageRule,
                    holidays: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each origin (an index into ``values``; only values before it are used when ``values``
    ends at or before the latest origin): the share of the 168 hours before it that lie in days
    below ``rule.recovery_frac`` of their usual level, and log(1 + mean of the last 72 hours) −
    log(1 + the median over 1–8 weeks earlier of the same 72 hours' mean)."""
    v = np.asarray(values, dtype=float)
    o = np.asarray(origins, dtype=np.int64)
    low = collapsed_hours(v, first_hour, OutageRule(day_frac=rule.recovery_frac), holidays).astype(float)
    low[np.isnan(v)] = np.nan
    share = _means_before(low, o, WEEK)
    recent = _means_before(v, o, 72)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no earlier week known
        usual = np.nanmedian(np.stack([_means_before(v, o - k * WEEK, 72) for k in range(1, 9)]), axis=0)
    return share, np.log1p(np.maximum(recent, 0)) - np.log1p(np.maximum(usual, 0))
