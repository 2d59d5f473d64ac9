"""`lookout user add`, `lookout apikey add`, `lookout audit verify`."""

from __future__ import annotations

import typer

from lookout.cliutil import console, db_url, fail, print_json
from lookout.security import accounts, audit
from lookout.store.db import session_scope

user_app = typer.Typer(help="Accounts.")
audit_app = typer.Typer(help="The hash-chained audit log.")
apikey_app = typer.Typer(help="API keys for machine clients (turnstiles, ticketing).")


@user_app.command("add")
def user_add(
    username: str,
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
    role: str = typer.Option("viewer", help="admin, official, operator, om_engineer, site_manager, viewer"),
    display_name: str | None = typer.Option(None),
    org: int | None = typer.Option(None, help="org unit id of the account's scope (its whole subtree)"),
    site: int | None = typer.Option(None, help="site id (site managers)"),
    clearance: int = typer.Option(3, help="most sensitive resource class visible: 1 police, 2 government, 3 social"),
    actor: str = typer.Option("cli"),
) -> None:
    """Add an account."""
    try:
        with session_scope(db_url()) as s:
            u = accounts.add_user(s, actor, username, password, role, display_name=display_name,
                                  scope_org_id=org, scope_site_id=site, clearance=clearance)
            console.print(f"added {u.username} ({u.role}), id {u.id}")
    except ValueError as exc:
        fail(str(exc))


@apikey_app.command("add")
def apikey_add(name: str, site: int = typer.Option(..., help="site id the key may post counts for"),
               actor: str = typer.Option("cli"), as_json: bool = typer.Option(False, "--json")) -> None:
    """Issue an API key (shown once)."""
    with session_scope(db_url()) as s:
        row, key = accounts.issue_api_key(s, actor, name, site)
        out = {"id": row.id, "name": name, "site_id": site, "key": key}
    print_json(out) if as_json else console.print(f"key for {name}: {key}")


@audit_app.command("verify")
def audit_verify(as_json: bool = typer.Option(False, "--json")) -> None:
    """Check the hash chain; report the first broken record."""
    with session_scope(db_url()) as s:
        r = audit.verify(s)
    if as_json:
        print_json({"ok": r.ok, "checked": r.checked, "first_broken_id": r.first_broken_id, "reason": r.reason})
    elif r.ok:
        console.print(f"[green]audit log intact[/green]: {r.checked} records")
    else:
        console.print(f"[red]audit log broken at record {r.first_broken_id}[/red]: {r.reason} "
                      f"({r.checked} records checked)")
    if not r.ok:
        raise typer.Exit(1)
