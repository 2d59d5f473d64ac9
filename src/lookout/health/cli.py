"""Camera-health commands: vqd diagnose/batch, patrol."""

import typer

vqd_app = typer.Typer(help="Video quality diagnosis.")
