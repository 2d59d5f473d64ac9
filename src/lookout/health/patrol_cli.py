"""``lookout patrol …``: patrol channels now, list work orders, refresh the online history."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from lookout.cliutil import console, print_json
from lookout.settings import get_settings

patrol_app = typer.Typer(help="Camera patrols, work orders and online history.", no_args_is_help=True)


@patrol_app.command("run")
def run_cmd(
    channel: Annotated[list[int] | None, typer.Option("--channel", "-c", help="channel id (repeatable)")] = None,
    all_: Annotated[bool, typer.Option("--all", help="every channel, due or not")] = False,
    concurrency: Annotated[int | None, typer.Option(help="channels at once")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Patrol the due channels (or the given ones / all) once: diagnose, store, open or settle work orders."""
    from lookout.health.patrol import PatrolConfig, patrol_once

    cfg = PatrolConfig(**({"concurrency": concurrency} if concurrency else {}))
    due_only = not (all_ or channel)
    summary = patrol_once(get_settings(), cfg, channel_ids=channel or None, due_only=due_only, trigger="manual")
    if as_json:
        print_json(summary)
        return
    console.print(f"{summary['channels']} channel(s) patrolled, {summary['online']} online, "
                  f"{summary['faulty']} with faults, {summary['cpu_s']:.2f} s CPU")
    for r in summary["results"]:
        state = ", ".join(r["faults"]) or "ok" if r["online"] else f"offline ({r['error']})"
        console.print(f"  channel {r['channel_id']}: {state}")
    if summary["no_url"]:
        console.print(f"[yellow]no stream URL[/yellow]: channels {', '.join(map(str, summary['no_url']))}")


@patrol_app.command("orders")
def orders_cmd(
    status: Annotated[str | None, typer.Option(help="open, rechecking or closed (default: not closed)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List work orders."""
    from sqlalchemy import select

    from lookout.health.models import WorkOrder
    from lookout.store.base import utcnow
    from lookout.store.db import session_scope

    now = utcnow()
    with session_scope(get_settings().db_url) as s:
        stmt = select(WorkOrder).order_by(WorkOrder.id)
        stmt = stmt.where(WorkOrder.status == status) if status else stmt.where(WorkOrder.status != "closed")
        rows = [{"id": o.id, "channel_id": o.channel_id, "fault": o.fault, "status": o.status, "assignee": o.assignee,
                 "opened_at": o.opened_at.isoformat(), "deadline_at": o.deadline_at.isoformat(),
                 "overdue": o.is_overdue(now), "escalation_level": o.escalation_level}
                for o in s.execute(stmt).scalars()]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        console.print(f"#{r['id']} channel {r['channel_id']} {r['fault']} {r['status']} → {r['assignee'] or '—'} "
                      f"due {r['deadline_at']}" + (" [red]overdue[/red]" if r["overdue"] else ""))
    if not rows:
        console.print("no work orders")


@patrol_app.command("daily")
def daily_cmd(days: Annotated[int, typer.Option(help="days back from today")] = 2,
              as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Recompute and store the per-channel daily online history; escalate overdue work orders."""
    from lookout.health import rates
    from lookout.health.patrol import PatrolConfig
    from lookout.health.workorders import escalate_overdue
    from lookout.health.status import publish
    from lookout.store.base import utcnow
    from lookout.store.db import session_scope

    s_ = get_settings()
    tz = ZoneInfo(s_.timezone)
    now = utcnow()
    today = rates.local_day(now, tz)
    with session_scope(s_.db_url) as s:
        n = rates.refresh_daily(s, today - timedelta(days=max(0, days - 1)), today, now, tz)
        pubs = escalate_overdue(s, now, PatrolConfig().policy)
    publish(pubs)
    res = {"daily_rows": n, "escalated": sum(1 for t, _ in pubs if t.endswith("workorder_escalated"))}
    if as_json:
        print_json(res)
    else:
        console.print(f"{n} channel-day row(s) stored, {res['escalated']} order(s) escalated")


@patrol_app.command("close")
def close_cmd(
    order_id: Annotated[int, typer.Argument(help="work order number")],
    by: Annotated[str, typer.Option("--by", help="who repaired it (user name, for the audit log)")],
    note: Annotated[str | None, typer.Option("--note")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Close a work order: its channel is re-checked at once; the order re-opens when the re-check fails."""
    from lookout.health import workorders
    from lookout.health.models import WorkOrder
    from lookout.health.patrol import PatrolConfig, patrol_once
    from lookout.health.status import publish
    from lookout.store.base import utcnow
    from lookout.store.db import session_scope

    settings = get_settings()
    with session_scope(settings.db_url) as s:
        order = s.get(WorkOrder, order_id)
        if order is None:
            typer.echo(f"error: no work order {order_id}", err=True)
            raise typer.Exit(2)
        try:
            pubs = workorders.request_close(s, order, by, note, utcnow())
        except workorders.OrderError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        channel_id = order.channel_id
    publish(pubs)
    patrol_once(settings, PatrolConfig(), channel_ids=[channel_id], due_only=False, trigger="recheck")
    with session_scope(settings.db_url) as s:
        o = s.get(WorkOrder, order_id)
        res = {"id": o.id, "status": o.status, "recheck_passed": o.recheck_passed, "note": o.recheck_note}
    if as_json:
        print_json(res)
    elif res["recheck_passed"]:
        console.print(f"[green]work order {order_id} closed[/green]: {res['note']}")
    else:
        console.print(f"[red]re-check failed, work order {order_id} re-opened[/red]: {res['note']}")
        raise typer.Exit(1)
