"""Visitor-counting commands."""

import typer


def count(video: str = typer.Argument(...)) -> None:
    """Count people in a video file."""
    raise typer.Exit(2)
