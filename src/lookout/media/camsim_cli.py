"""`lookout camsim`: the camera simulator."""

from __future__ import annotations

import json
import signal
import threading
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from lookout.media.camsim import KINDS, CamSim, CamSimError, send_fault

camsim_app = typer.Typer(help="Camera simulator (RTSP) with switchable faults.")


class Codec(str, Enum):
    h264 = "h264"
    h265 = "h265"


@camsim_app.callback(invoke_without_command=True)
def camsim(
    ctx: typer.Context,
    source: Optional[Path] = typer.Option(None, help="Video file to loop (default: a generated moving scene)."),
    channels: int = typer.Option(1, min=1, help="Number of cameras (/ch1 … /chN; sub-streams at /chK/sub)."),
    port: int = typer.Option(8554, min=0, max=65535, help="RTSP port on 127.0.0.1 (0: any free port)."),
    codec: Codec = typer.Option(Codec.h264, help="Video codec."),
    width: Optional[int] = typer.Option(None, help="Frame width (default: the source's)."),
    height: Optional[int] = typer.Option(None, help="Frame height (default: the source's)."),
    fps: Optional[float] = typer.Option(None, help="Frame rate (default: the source's)."),
    gop: Optional[int] = typer.Option(None, help="Frames between key frames (default: one second)."),
    bitrate: Optional[int] = typer.Option(None, help="Main-stream bitrate in kbit/s."),
    user: Optional[str] = typer.Option(None, help="Require RTSP basic authentication with this user."),
    password: Optional[str] = typer.Option(None, help="Password for --user."),
    control_port: int = typer.Option(0, min=0, max=65535, help="HTTP control port (0: any free port)."),
    passthrough: bool = typer.Option(
        False, help="Serve an H.264/H.265 --source as it is: no re-encoding, no sub-stream, only the offline fault."
    ),
    protocols: str = typer.Option("any", help="RTP transports offered: any, tcp or udp."),
) -> None:
    """Serve N RTSP cameras in the foreground; print one JSON line with the URLs when ready."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        sim = CamSim(
            source,
            channels,
            port,
            codec=codec.value,
            width=width,
            height=height,
            fps=fps,
            gop=gop,
            bitrate=bitrate,
            user=user,
            password=password,
            control_port=control_port,
            passthrough=passthrough,
            protocols=protocols,
            echo_log=True,
        )
    except (CamSimError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            sim.start()
        except CamSimError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        print(json.dumps({"urls": sim.urls, "control": sim.control}), flush=True)
        while not stop.wait(0.5):
            if not sim.alive():
                typer.echo("error: the RTSP server stopped unexpectedly", err=True)
                raise typer.Exit(1)
    finally:
        sim.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)


@camsim_app.command("fault")
def fault(
    control: str = typer.Option(..., help="Control URL printed by `lookout camsim`."),
    channel: int = typer.Option(..., min=1, help="Channel number (1-based)."),
    kind: str = typer.Option(..., help=f"One of: {', '.join(KINDS)}."),
) -> None:
    """Switch a fault on one channel of a running simulator (`clear` removes it)."""
    if kind not in KINDS:
        typer.echo(f"error: unknown fault kind {kind!r}; expected one of {', '.join(KINDS)}", err=True)
        raise typer.Exit(2)
    try:
        result = send_fault(control, channel, kind)
    except CamSimError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    print(json.dumps(result), flush=True)
