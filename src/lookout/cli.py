"""The one `lookout` command. Each capability keeps its sub-commands in its own cli module."""

from __future__ import annotations

import typer

from lookout.counting.cli import count
from lookout.health.cli import vqd_app
from lookout.media.camsim_cli import camsim_app
from lookout.media.record_cli import record, storage_app
from lookout.safety.cli import forecast_app, replay

app = typer.Typer(
    help="Lookout: video surveillance command platform (registry, video, health, counting, crowd safety).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

app.add_typer(vqd_app, name="vqd")
app.add_typer(camsim_app, name="camsim")
app.add_typer(storage_app, name="storage")
app.add_typer(forecast_app, name="forecast")
app.command("record")(record)
app.command("count")(count)
app.command("replay")(replay)

if __name__ == "__main__":  # pragma: no cover
    app()
