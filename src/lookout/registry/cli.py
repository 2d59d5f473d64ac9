"""`lookout import ledger`, `lookout export ledger`, `lookout gbcode check`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from lookout.cliutil import console, db_url, fail, print_json
from lookout.registry import gbcode
from lookout.registry.ledger import LedgerFormatError, export_ledger, import_ledger
from lookout.store.db import session_scope

import_app = typer.Typer(help="Import data into the registry.")
export_app = typer.Typer(help="Export data from the registry.")
gbcode_app = typer.Typer(help="GB/T 28181 20-digit codes.")


@import_app.command("ledger")
def import_ledger_cmd(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="ledger (台账) as .csv or .xlsx"),
    dry_run: bool = typer.Option(False, "--dry-run", help="check every row, write nothing"),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="write the good rows, report the bad ones"),
    district: str | None = typer.Option(None, "--district", help="division code of the district for new sites"),
    actor: str = typer.Option("cli", "--actor", help="who is importing (for the audit log)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Import a device ledger (台账); all-or-nothing unless --skip-bad."""
    try:
        with session_scope(db_url()) as s:
            res = import_ledger(s, file, actor, dry_run=dry_run, skip_bad=skip_bad, district_code=district)
    except LedgerFormatError as exc:
        if as_json:
            print_json({"rows": 0, "valid": 0, "errors": [{"row": 0, "field": "file", "message": str(exc)}]})
        fail(str(exc), 2)
    if as_json:
        print_json(res.as_dict(include_imported=not dry_run))
    else:
        console.print(f"rows {res.rows}, valid {res.valid}, errors {len(res.errors)}")
        if res.errors:
            t = Table("row", "field", "message", title="bad rows")
            for e in res.errors:
                t.add_row(str(e.row), e.field, e.message)
            console.print(t)
        if not dry_run:
            console.print(f"imported {res.imported} (created {res.created}, updated {res.updated}, "
                          f"unchanged {res.unchanged})" if res.written else "[yellow]nothing written[/yellow]")
    if res.errors and not (skip_bad or dry_run):
        raise typer.Exit(1)


@export_app.command("ledger")
def export_ledger_cmd(
    file: Path = typer.Argument(..., dir_okay=False, help="target .csv or .xlsx"),
    chinese_headers: bool = typer.Option(False, "--chinese-headers", help="write 场所名称, 设备编码 … as headers"),
) -> None:
    """Export the ledger: one row per channel."""
    try:
        with session_scope(db_url()) as s:
            n = export_ledger(s, file, chinese_headers)
    except LedgerFormatError as exc:
        fail(str(exc), 2)
    console.print(f"wrote {n} channels to {file}")


@gbcode_app.command("check")
def gbcode_check(code: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Validate a 20-digit code and show its parts."""
    r = gbcode.check(code)
    if as_json:
        print_json(r)
    else:
        status = "[green]valid[/green]" if r["valid"] else f"[red]invalid[/red] — {r['error']}"
        console.print(f"{code}: {status}")
        for k, v in r["parts"].items():
            console.print(f"  {k:9} {v}")
    if not r["valid"]:
        raise typer.Exit(1)
