import csv
import json

from openpyxl import Workbook
from sqlalchemy import func, select
from typer.testing import CliRunner

from lookout.cli import app
from lookout.registry.ledger import CHINESE_OF, COLUMNS
from lookout.registry.models import Channel, Device, OrgUnit, Site
from lookout.registry.sample import ledger_rows, write_csv
from lookout.security.models import AuditRecord
from lookout.store.db import session_scope

runner = CliRunner()


def counts(url):
    with session_scope(url) as s:
        return tuple(s.execute(select(func.count()).select_from(t)).scalar() for t in (Site, Device, Channel, AuditRecord))


def run(*args):
    r = runner.invoke(app, list(args))
    return r, (json.loads(r.stdout) if r.stdout.strip().startswith("{") else None)


def test_three_bad_rows_of_a_thousand_are_reported_and_nothing_is_written(data_dir, db_url, tmp_path):
    rows = ledger_rows(1000)
    rows[10]["channel_code"] = rows[10]["channel_code"][:19]          # 19 digits
    rows[500]["channel_code"] = rows[500]["channel_code"][:17] + "A01"  # a letter
    rows[998]["longitude"] = "200"                                      # out of range
    f = write_csv(tmp_path / "ledger.csv", rows)
    before = counts(db_url)
    r, out = run("import", "ledger", str(f), "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    assert out["rows"] == 1000 and out["valid"] == 997
    assert [(e["row"], e["field"]) for e in out["errors"]] == [(11, "channel_code"), (501, "channel_code"),
                                                               (999, "longitude")]
    r, out = run("import", "ledger", str(f), "--json")
    assert r.exit_code == 1 and out["imported"] == 0 and len(out["errors"]) == 3
    assert counts(db_url) == before  # all or nothing

    r, out = run("import", "ledger", str(f), "--skip-bad", "--json")
    assert r.exit_code == 0 and out["imported"] == 997
    assert counts(db_url)[2] == 997


def test_reimport_is_idempotent_and_updates_by_code(data_dir, db_url, tmp_path):
    rows = ledger_rows(50, sites=2)
    f = write_csv(tmp_path / "l.csv", rows)
    r, out = run("import", "ledger", str(f), "--json")
    assert out["imported"] == 50 and out["created"] == 50
    snapshot = counts(db_url)
    r, out = run("import", "ledger", str(f), "--json")
    assert out["unchanged"] == 50 and out["updated"] == 0
    assert counts(db_url) == snapshot  # not even an audit record
    rows[3]["channel_name"] = "新名称"
    write_csv(f, rows)
    r, out = run("import", "ledger", str(f), "--json")
    assert out["updated"] == 1
    with session_scope(db_url) as s:
        assert s.execute(select(Channel.name).where(Channel.code == rows[3]["channel_code"])).scalar() == "新名称"


def test_new_sites_go_under_the_named_district(data_dir, db_url, tmp_path):
    from lookout.registry import service

    with session_scope(db_url) as s:
        city = service.create_org_unit(s, "t", "city", "重庆市", "500000")
        service.create_org_unit(s, "t", "district", "渝中区", "500103", parent_id=city.id)
        d2 = service.create_org_unit(s, "t", "district", "武隆区", "500156", parent_id=city.id)
        d2_id = d2.id
    f = write_csv(tmp_path / "l.csv", ledger_rows(5, sites=1))
    r, out = run("import", "ledger", str(f), "--district", "500156", "--json")
    assert out["imported"] == 5
    with session_scope(db_url) as s:
        site = s.execute(select(Site)).scalar_one()
        assert site.org_unit_id == d2_id


def test_first_district_is_created_when_none_exists(data_dir, db_url, tmp_path):
    f = write_csv(tmp_path / "l.csv", ledger_rows(3, sites=1))
    run("import", "ledger", str(f), "--json")
    with session_scope(db_url) as s:
        assert s.execute(select(OrgUnit.tier).order_by(OrgUnit.id)).scalars().all() == ["city", "district"]


def test_chinese_headers_xlsx_and_export_round_trip(data_dir, db_url, tmp_path):
    rows = ledger_rows(20, sites=2)
    wb = Workbook()
    ws = wb.active
    ws.append([CHINESE_OF[c] for c in COLUMNS])
    for r in rows:
        ws.append([r[c] for c in COLUMNS])
    wb.save(tmp_path / "台账.xlsx")
    r, out = run("import", "ledger", str(tmp_path / "台账.xlsx"), "--json")
    assert out["imported"] == 20, out
    r, _ = run("export", "ledger", str(tmp_path / "out.csv"))
    assert r.exit_code == 0
    with (tmp_path / "out.csv").open(encoding="utf-8-sig") as fh:
        exported = list(csv.DictReader(fh))
    assert list(exported[0].keys()) == COLUMNS
    assert sorted(e["channel_code"] for e in exported) == sorted(r["channel_code"] for r in rows)
    # the export imports back unchanged
    r, out = run("import", "ledger", str(tmp_path / "out.csv"), "--json")
    assert out["unchanged"] == 20 and not out["errors"]
    run("export", "ledger", str(tmp_path / "out.xlsx"))
    r, out = run("import", "ledger", str(tmp_path / "out.xlsx"), "--json")
    assert out["unchanged"] == 20, out


def test_unreadable_files_get_a_clear_error(data_dir, tmp_path):
    (tmp_path / "x.csv").write_text("foo,bar\n1,2\n")
    r, out = run("import", "ledger", str(tmp_path / "x.csv"), "--json")
    assert r.exit_code == 2 and "missing column" in out["errors"][0]["message"]
    (tmp_path / "x.xlsx").write_bytes(b"not a zip")
    r, out = run("import", "ledger", str(tmp_path / "x.xlsx"), "--json")
    assert r.exit_code == 2 and "XLSX" in out["errors"][0]["message"]
