"""Crowd-safety commands: replay, forecast."""

import typer

forecast_app = typer.Typer(help="Arrival and occupancy forecasts.")


def replay(trace: str = typer.Argument(...)) -> None:
    """Replay a count trace through the warning engine."""
    raise typer.Exit(2)
