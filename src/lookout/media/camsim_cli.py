"""`lookout camsim`: the camera simulator."""

import typer

camsim_app = typer.Typer(help="Camera simulator (RTSP) with switchable faults.")
