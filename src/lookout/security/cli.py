"""`lookout user add`, `lookout apikey add`, `lookout audit verify`, `lookout audit anchor`."""

from __future__ import annotations

from pathlib import Path

import typer

from lookout.cliutil import console, db_url, fail, print_json, settings
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
def audit_verify(as_json: bool = typer.Option(False, "--json"),
                 anchors: Path | None = typer.Option(None, "--anchors", help="anchors file (from `lookout audit anchor`): "
                                                     "also check that every anchored record is unchanged")) -> None:
    """Check the hash chain; report the first broken record (and records gone since an anchor)."""
    anchor_list = _read_anchors(anchors) if anchors is not None else []
    with session_scope(db_url()) as s:
        r = audit.verify(s)
        if r.ok and anchor_list:
            a = audit.check_anchors(s, anchor_list)
            r = r if a.ok else audit.VerifyResult(False, r.checked, a.first_broken_id, a.reason)
    if as_json:
        print_json({"ok": r.ok, "checked": r.checked, "first_broken_id": r.first_broken_id, "reason": r.reason,
                    "anchors": len(anchor_list)})
    elif r.ok:
        console.print(f"[green]audit log intact[/green]: {r.checked} records"
                      + (f", {len(anchor_list)} anchors hold" if anchor_list else ""))
    else:
        console.print(f"[red]audit log broken at record {r.first_broken_id}[/red]: {r.reason} "
                      f"({r.checked} records checked)")
    if not r.ok:
        raise typer.Exit(1)


@audit_app.command("anchor")
def audit_anchor(file: Path = typer.Option(None, "--file", help="anchors file to append to "
                                           "(default: <data_dir>/audit-anchors.log)"),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Print the chain's head (time, newest record id, its hash) and append it to the anchors file.

    Keep the printed line somewhere the database's administrators cannot rewrite (syslog on
    another host, a ticket): `lookout audit verify --anchors` then detects deleted newest records."""
    path = file or (settings().data_dir / "audit-anchors.log")
    with session_scope(db_url()) as s:
        a = audit.head(s)
    if a is None:
        fail("the audit log is empty: nothing to anchor")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(a.line() + "\n")
    if as_json:
        print_json({"record_id": a.record_id, "hash": a.hash, "at": a.at.isoformat(), "file": str(path)})
    else:
        console.print(a.line())


def _read_anchors(path: Path) -> list[audit.Anchor]:
    if not path.exists():
        fail(f"anchors file {path} does not exist")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            out.append(audit.Anchor.parse(line))
        except ValueError as exc:
            fail(f"{path}, line {n}: {exc}")
    return out
