"""`lookout gb28181 …`: run the GB/T 28181 SIP server, show registrations and admission alerts."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import typer
from sqlalchemy import select

from lookout.cliutil import console, fail, print_json, settings

gb_app = typer.Typer(help="GB/T 28181 device access: SIP server, registrations, admission alerts.",
                     no_args_is_help=True)
log = logging.getLogger(__name__)


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


@gb_app.command("serve")
def serve(
    host: str = typer.Option(None, "--host", help="listen address (default 0.0.0.0, $LOOKOUT_GB28181_HOST)"),
    port: int = typer.Option(None, "--port", help="SIP port (default 5060)"),
    domain: str = typer.Option(None, "--domain", help="10-digit SIP domain / digest realm (default 3402000000)"),
    server_id: str = typer.Option(None, "--server-id", help="20-digit platform code (default 34020000002000000001)"),
    password: str = typer.Option(None, "--password", envvar="LOOKOUT_GB28181_DEFAULT_PASSWORD",
                                 help="default password for devices without their own"),
    transports: str = typer.Option(None, "--transports", help="udp, tcp or udp,tcp (default both)"),
    keepalive_timeout: float = typer.Option(None, "--keepalive-timeout",
                                            help="seconds of silence before a device is offline (default 180)"),
    sweep_interval: float = typer.Option(None, "--sweep-interval", help="seconds between timeout checks (default 5)"),
    no_catalog: bool = typer.Option(False, "--no-catalog", help="do not query catalogs after registration"),
) -> None:
    """Run the SIP server that NVRs and IPCs register to (until interrupted)."""
    from pydantic import ValidationError

    from lookout.bootstrap import initialise
    from lookout.federation.gb28181.config import load_config
    from lookout.federation.gb28181.server import GbServer
    from lookout.runtime.supervisor import run_until_cancelled

    s = settings()
    initialise(s)
    try:
        cfg = load_config(host=host, port=port, domain=domain, server_id=server_id, default_password=password,
                          transports=transports, keepalive_timeout_s=keepalive_timeout,
                          sweep_interval_s=sweep_interval, timezone=s.timezone,
                          catalog_on_register=False if no_catalog else None)
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
        return
    server = GbServer(cfg, s.db_url, s.resolved_secret())

    async def start() -> None:
        await server.start()
        console.print(f"GB/T 28181 server {cfg.server_id} (domain {cfg.domain}) on {cfg.host} "
                      f"udp={server.udp_port} tcp={server.tcp_port}")

    try:
        asyncio.run(run_until_cancelled(start, server.stop))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        fail(f"cannot listen on {cfg.host}:{cfg.port}: {exc}")


@gb_app.command("status")
def status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Registered devices: address, registration, last keepalive, online."""
    from lookout.federation.models import GbRegistration
    from lookout.registry.models import Channel, Device
    from lookout.store.db import session_scope
    from lookout.store.base import utcnow

    now = utcnow()
    rows = []
    with session_scope(settings().db_url) as db:
        for reg in db.execute(select(GbRegistration).order_by(GbRegistration.code)).scalars():
            name = None
            if reg.device_id:
                d = db.get(Device, reg.device_id)
                name = d.name if d else None
            elif reg.channel_id:
                c = db.get(Channel, reg.channel_id)
                name = c.name if c else None
            registered = bool(reg.expires_at and reg.expires_at > now)
            rows.append({
                "code": reg.code, "name": name, "device_id": reg.device_id, "channel_id": reg.channel_id,
                "transport": reg.transport, "address": f"{reg.remote_host}:{reg.remote_port}",
                "registered": registered, "online": bool(reg.online and registered),
                "registered_at": _iso(reg.registered_at), "expires_at": _iso(reg.expires_at),
                "last_keepalive": _iso(reg.last_keepalive_at), "status_reason": reg.status_reason,
                "status_changed_at": _iso(reg.status_changed_at), "catalog_sum": reg.catalog_sum,
                "catalog_at": _iso(reg.catalog_at), "user_agent": reg.user_agent,
            })
    if as_json:
        print_json({"devices": rows, "online": sum(r["online"] for r in rows), "total": len(rows)})
        return
    from rich.table import Table

    t = Table("code", "name", "address", "online", "last keepalive", "reason")
    for r in rows:
        t.add_row(r["code"], r["name"] or "", r["address"], "yes" if r["online"] else "no",
                  r["last_keepalive"] or "-", r["status_reason"] or "")
    console.print(t)


@gb_app.command("alerts")
def alerts(as_json: bool = typer.Option(False, "--json"),
           include_acknowledged: bool = typer.Option(False, "--all", help="also acknowledged alerts")) -> None:
    """Devices refused at registration (not in the registry, or a malformed ID), with their source address."""
    from lookout.federation.models import GbAdmissionAlert
    from lookout.store.db import session_scope

    with session_scope(settings().db_url) as db:
        q = select(GbAdmissionAlert).order_by(GbAdmissionAlert.last_seen.desc())
        if not include_acknowledged:
            q = q.where(GbAdmissionAlert.acknowledged.is_(False))
        rows = [{"id": a.id, "code": a.code, "host": a.remote_host, "port": a.remote_port, "transport": a.transport,
                 "reason": a.reason, "user_agent": a.user_agent, "first_seen": _iso(a.first_seen),
                 "last_seen": _iso(a.last_seen), "attempts": a.attempts, "acknowledged": a.acknowledged}
                for a in db.execute(q).scalars()]
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    t = Table("id", "code", "source", "attempts", "last seen", "reason")
    for r in rows:
        t.add_row(str(r["id"]), r["code"], f"{r['host']}:{r['port']}", str(r["attempts"]), r["last_seen"], r["reason"])
    console.print(t)
