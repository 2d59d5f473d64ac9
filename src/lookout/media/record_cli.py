"""`lookout record` and `lookout storage` (plan, compliance, janitor, recorder service)."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

import typer

storage_app = typer.Typer(help="Recording storage: plan and retention compliance.", no_args_is_help=True)


def _fail(msg: str, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"error": msg}, ensure_ascii=False))
    else:
        typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(1)


def record(
    url: str = typer.Argument(..., help="RTSP URL (or a media file, played at its own rate)"),
    out: Path = typer.Option(..., "--out", help="folder for the segments"),
    seconds: float = typer.Option(..., "--seconds", min=1, help="how long to record"),
    segment_seconds: float = typer.Option(60, "--segment-seconds", min=2, help="segment length"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Record one stream without re-encoding into time-named MP4 segments."""
    from lookout.media.recorder import RecordError, record_once

    logging.basicConfig(level=logging.WARNING)
    try:
        result = record_once(url, out, seconds, segment_seconds)
    except (RecordError, ValueError, OSError) as exc:
        _fail(str(exc), as_json)
        return
    if as_json:
        typer.echo(json.dumps(result.as_json(), ensure_ascii=False))
        return
    for s in result.segments:
        typer.echo(f"{s.start.isoformat()}  {s.end.isoformat()}  {s.bytes:>12}  {s.path}")
    typer.echo(f"codec {result.codec}; {len(result.segments)} segments")


def _db_url(db: str | None) -> str:
    if db:
        return db
    from lookout.settings import get_settings

    return get_settings().db_url


def _recordings_root(root: Path | None) -> Path:
    if root:
        return root
    from lookout.settings import get_settings

    return get_settings().data_dir / "recordings"


@storage_app.command("plan")
def plan_cmd(
    days: int | None = typer.Option(None, help="override every channel's required days"),
    default_bitrate_mbps: float = typer.Option(4.0, help="bitrate for channels with no recording yet"),
    disk_tb: float | None = typer.Option(None, "--disk-tb", help="size of one disk in TB (10^12 bytes)"),
    disk: Path | None = typer.Option(None, help="a path on the recording volume (its size is used)"),
    reserve_percent: float = typer.Option(10.0, help="free space kept on every disk"),
    db: str | None = typer.Option(None, help="database URL (default from settings)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Space each channel, site and disk needs for its required days of video."""
    from lookout.media.storage import plan_from_registry

    plan = plan_from_registry(_db_url(db), default_bitrate_bps=default_bitrate_mbps * 1e6, days_override=days,
                              disk_bytes=int(disk_tb * 1e12) if disk_tb else None, disk_path=disk,
                              reserve_percent=reserve_percent)
    if as_json:
        typer.echo(json.dumps(plan.as_json(), ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title="Storage plan")
    for col in ("site", "channels", "TB needed"):
        t.add_column(col)
    for site in plan.sites:
        t.add_row(site.site_name, str(site.channels), f"{site.bytes / 1e12:.2f}")
    Console().print(t)
    typer.echo(f"total {plan.total_bytes / 1e12:.2f} TB" +
               (f"; disks needed: {plan.disks_needed} of {plan.disk_bytes / 1e12:.2f} TB" if plan.disk_bytes else ""))


@storage_app.command("compliance")
def compliance_cmd(
    db: str | None = typer.Option(None, help="database URL (default from settings)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Per channel: days of video actually on disk against the days required."""
    from lookout.media.storage import compliance_report

    rows = compliance_report(_db_url(db), datetime.now(timezone.utc))
    if as_json:
        typer.echo(json.dumps([r.as_json() for r in rows], ensure_ascii=False))
        return
    for r in rows:
        typer.echo(f"{r.channel_code:<22} {r.status:<12} {r.days_on_disk:7.2f} / {r.required_days} days  "
                   f"coverage {r.coverage_percent:5.1f} %")


@storage_app.command("janitor")
def janitor_cmd(
    db: str | None = typer.Option(None, help="database URL (default from settings)"),
    root: Path | None = typer.Option(None, help="recordings folder (for the disk guard)"),
    threshold: float | None = typer.Option(None, help="free-space alert threshold in percent"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Run retention once: delete expired segments, then check free space (disk guard)."""
    from lookout.media.retention import housekeeping

    result = housekeeping(_db_url(db), datetime.now(timezone.utc), root=_recordings_root(root),
                          threshold_percent=threshold)
    typer.echo(json.dumps(result, ensure_ascii=False) if as_json else str(result))


@storage_app.command("recorder")
def recorder_cmd(
    db: str | None = typer.Option(None, help="database URL (default from settings)"),
    root: Path | None = typer.Option(None, help="recordings folder (default <data_dir>/recordings)"),
    housekeeping_every: float = typer.Option(300.0, help="seconds between janitor/disk-guard runs"),
) -> None:
    """Record every enabled channel continuously (foreground); the one writer of the segment index."""
    from lookout.media.recorder import RecordingService, load_targets, run_service_forever
    from lookout.media.retention import housekeeping

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    url, base = _db_url(db), _recordings_root(root)
    targets = load_targets(url, base)

    def hk(db_url: str, now: datetime) -> object:
        return housekeeping(db_url, now, root=base)

    run_service_forever(RecordingService(url, targets, housekeeping=hk, housekeeping_every_s=housekeeping_every))


@storage_app.command("policy")
def policy_cmd(
    channel: str | None = typer.Option(None, help="channel code or id (omit for the global default)"),
    enabled: bool | None = typer.Option(None, "--enabled/--disabled", help="record this channel"),
    stream: str | None = typer.Option(None, help="main or sub"),
    segment_seconds: int | None = typer.Option(None, help="segment length in seconds"),
    keep_days: int | None = typer.Option(None, help="keep longer than required while space allows"),
    guard_may_delete: bool | None = typer.Option(
        None, "--guard-may-delete/--guard-may-not-delete",
        help="let the disk guard delete footage past its required days when space runs low"),
    db: str | None = typer.Option(None, help="database URL (default from settings)"),
    actor: str = typer.Option("cli", help="who makes the change (audit)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show or change a channel's (or the global) recording policy; changes are audited."""
    from sqlalchemy import or_, select

    from lookout.media.retention import POLICY_FIELDS, set_policy
    from lookout.registry.models import Channel
    from lookout.store.db import session_scope

    values = {k: v for k, v in (("enabled", enabled), ("stream", stream), ("segment_seconds", segment_seconds),
                                ("keep_days", keep_days), ("disk_guard_may_delete", guard_may_delete)) if v is not None}
    try:
        with session_scope(_db_url(db)) as s:
            cid = None
            if channel is not None:
                by_id = int(channel) if channel.isdigit() and len(channel) < 10 else -1
                ch = s.scalars(select(Channel).where(or_(Channel.code == channel, Channel.id == by_id))).first()
                if ch is None:
                    raise ValueError(f"channel: {channel!r} not found")
                cid = ch.id
            from lookout.media.models import RecordingPolicy

            if values:
                pol = set_policy(s, actor, cid, values)
            else:
                pol = s.scalars(select(RecordingPolicy).where(
                    RecordingPolicy.channel_id.is_(None) if cid is None else RecordingPolicy.channel_id == cid)).first()
            out = {"channel_id": cid, **({f: getattr(pol, f) for f in POLICY_FIELDS} if pol else {})}
    except ValueError as exc:
        _fail(str(exc), as_json)
        return
    typer.echo(json.dumps(out, ensure_ascii=False) if as_json else
               ", ".join(f"{k}={v}" for k, v in out.items()))
