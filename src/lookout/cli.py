"""The one `lookout` command. Each capability keeps its sub-commands in its own cli module."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import typer

from lookout.cliutil import console, print_json
from lookout.counting.cli import count
from lookout.federation.cli import gb_app
from lookout.health.cli import vqd_app
from lookout.health.patrol_cli import patrol_app
from lookout.media.camsim_cli import camsim_app
from lookout.media.record_cli import record, storage_app
from lookout.registry.cli import export_app, gbcode_app, import_app
from lookout.safety.cli import forecast_app, replay
from lookout.security.cli import apikey_app, audit_app, user_app
from lookout.settings import get_settings

app = typer.Typer(
    help="Lookout: video surveillance command platform (registry, video, health, counting, crowd safety).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _use_data_dir(data_dir: Path | None) -> None:
    if data_dir is not None:
        os.environ["LOOKOUT_DATA_DIR"] = str(data_dir)
        get_settings.cache_clear()


@app.callback()
def main(
    data_dir: Path | None = typer.Option(None, "--data-dir", help="folder for all state of this run "
                                         "(default $LOOKOUT_DATA_DIR or ./lookout-data)"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("alembic", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _use_data_dir(data_dir)


@app.command()
def init(
    admin_user: str | None = typer.Option(None, "--admin-user"),
    admin_password: str | None = typer.Option(None, "--admin-password"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create the data folder, the secret key and the database schema; add the first administrator."""
    from lookout.bootstrap import has_admin, initialise

    s = get_settings()
    res = initialise(s, admin_user, admin_password)
    if not res["admin_created"] and not has_admin(s) and not (admin_user and admin_password):
        admin_user = admin_user or typer.prompt("administrator user name", default="admin")
        admin_password = admin_password or typer.prompt("administrator password", hide_input=True,
                                                        confirmation_prompt=True)
        res = initialise(s, admin_user, admin_password)
    if as_json:
        print_json(res)
    else:
        console.print(f"[green]ready[/green]: data in {res['data_dir']}, database {res['database']}"
                      + (", administrator created" if res["admin_created"] else ""))


@app.command()
def serve(host: str = typer.Option(None, help="default from settings (127.0.0.1)"),
          port: int = typer.Option(None, help="default from settings (8080)")) -> None:
    """Serve the API and the web UI on one port."""
    import uvicorn

    from lookout.api.app import create_app
    from lookout.bootstrap import initialise

    s = get_settings()
    initialise(s)
    uvicorn.run(create_app(s, services=True), host=host or s.host, port=port or s.port, log_level="info")


@app.command()
def demo(
    port: int = typer.Option(8080, "--port"),
    host: str = typer.Option("127.0.0.1", "--host"),
    data_dir: Path | None = typer.Option(None, "--data-dir"),
    source: Path | None = typer.Option(None, "--source", help="video for the simulated cameras (e.g. the PETS video)"),
    seed_only: bool = typer.Option(False, "--seed-only", help="seed the demo district and exit"),
) -> None:
    """Seed a demo district (two scenic areas, a hotel, their NVRs and cameras) and serve it."""
    _use_data_dir(data_dir)
    from lookout.demo import run_demo

    run_demo(get_settings(), host=host, port=port, source=source, seed_only=seed_only)


app.add_typer(user_app, name="user")
app.add_typer(apikey_app, name="apikey")
app.add_typer(audit_app, name="audit")
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.add_typer(gbcode_app, name="gbcode")
app.add_typer(vqd_app, name="vqd")
app.add_typer(patrol_app, name="patrol")
app.add_typer(camsim_app, name="camsim")
app.add_typer(storage_app, name="storage")
app.add_typer(forecast_app, name="forecast")
app.add_typer(gb_app, name="gb28181")
app.command("record")(record)
app.command("count")(count)
app.command("replay")(replay)

if __name__ == "__main__":  # pragma: no cover
    app()
