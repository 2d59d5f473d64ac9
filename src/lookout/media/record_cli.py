"""`lookout record` and `lookout storage`."""

import typer

storage_app = typer.Typer(help="Recording storage: plan and retention compliance.")


def record(url: str = typer.Argument(..., help="RTSP URL")) -> None:
    """Record one stream without re-encoding."""
    raise typer.Exit(2)
