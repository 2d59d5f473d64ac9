import json

from sqlalchemy import select, text, update
from typer.testing import CliRunner

from foundation_helpers import login, make_client
from lookout.cli import app
from lookout.registry import service
from lookout.registry.models import Channel, Device, Site
from lookout.security import accounts
from lookout.security.models import AuditRecord
from lookout.store.db import get_engine, session_scope

PW = "secret-pass"


def seed_two_sites(db_url):
    with session_scope(db_url) as s:
        city = service.create_org_unit(s, "t", "city", "重庆市", "500000")
        dist = service.create_org_unit(s, "t", "district", "武隆区", "500156", parent_id=city.id)
        other = service.create_org_unit(s, "t", "district", "渝中区", "500103", parent_id=city.id)
        a = service.create(s, "t", Site, {"name": "A景区", "org_unit_id": dist.id}, "site")
        b = service.create(s, "t", Site, {"name": "B景区", "org_unit_id": other.id}, "site")
        ids = {"city": city.id, "dist": dist.id, "a": a.id, "b": b.id}
        for site, cls, code in ((a, 3, "50015600001328000001"), (a, 1, "50015600001325000002"),
                                (b, 3, "50010300001328000003"), (b, 1, "50010300001325000004")):
            ch = service.create(s, "t", Channel, {"site_id": site.id, "code": code, "name": code[-4:],
                                                  "resource_class": cls}, "channel")
            ids[(site.name, cls)] = ch.id
        accounts.add_user(s, "t", "admin", PW, "admin", clearance=1)
        accounts.add_user(s, "t", "mgr_a", PW, "site_manager", scope_site_id=a.id, clearance=1)
        accounts.add_user(s, "t", "viewer3", PW, "viewer", clearance=3)
        accounts.add_user(s, "t", "dist_op", PW, "operator", scope_org_id=dist.id, clearance=1)
    return ids


def test_site_manager_gets_404_for_another_sites_channels(data_dir, db_url):
    ids = seed_two_sites(db_url)
    c = make_client(data_dir)
    h = login(c, "mgr_a", PW)
    b_channel = ids[("B景区", 3)]
    assert c.get(f"/api/v1/channels/{b_channel}", headers=h).status_code == 404
    assert c.get(f"/api/v1/sites/{ids['b']}", headers=h).status_code == 404
    listed = c.get("/api/v1/channels", headers=h).json()
    assert {ch["site_id"] for ch in listed["items"]} == {ids["a"]} and listed["total"] == 2
    assert c.get(f"/api/v1/channels?site_id={ids['b']}", headers=h).json()["total"] == 0
    assert c.patch(f"/api/v1/channels/{b_channel}", json={"name": "x"}, headers=h).status_code == 404
    # the district operator sees its own district only
    h2 = login(c, "dist_op", PW)
    assert {s["id"] for s in c.get("/api/v1/sites", headers=h2).json()["items"]} == {ids["a"]}


def test_class3_viewer_never_sees_class1_channels(data_dir, db_url):
    ids = seed_two_sites(db_url)
    c = make_client(data_dir)
    h = login(c, "viewer3", PW)
    items = c.get("/api/v1/channels?page_size=500", headers=h).json()["items"]
    assert items and all(ch["resource_class"] == 3 for ch in items)
    assert c.get("/api/v1/channels?resource_class=1", headers=h).json()["total"] == 0
    for key in (("A景区", 1), ("B景区", 1)):
        assert c.get(f"/api/v1/channels/{ids[key]}", headers=h).status_code == 404
    assert c.get(f"/api/v1/channels/{ids[('A景区', 3)]}", headers=h).status_code == 200
    hadmin = login(c, "admin", PW)
    assert c.get("/api/v1/channels", headers=hadmin).json()["total"] == 4


def test_crud_validation_pagination_and_audit(data_dir, db_url):
    ids = seed_two_sites(db_url)
    c = make_client(data_dir)
    h = login(c, "admin", PW)
    bad = c.post("/api/v1/channels", json={"site_id": ids["a"], "code": "5001560000132800001", "name": "x"}, headers=h)
    assert bad.status_code == 422 and "20 digits" in bad.text
    ok = c.post("/api/v1/channels", json={"site_id": ids["a"], "code": "50015600001328000099", "name": "新通道"},
                headers=h)
    assert ok.status_code == 201 and ok.json()["retention_days"] == 90  # tourism site default
    dup = c.post("/api/v1/channels", json={"site_id": ids["a"], "code": "50015600001328000099", "name": "x"},
                 headers=h)
    assert dup.status_code == 409
    p = c.get("/api/v1/channels?page=2&page_size=2", headers=h).json()
    assert p["total"] == 5 and len(p["items"]) == 2 and p["page"] == 2
    dev = c.post("/api/v1/devices", json={"site_id": ids["a"], "code": "50015600001188000001", "kind": "nvr",
                                          "username": "admin", "password": "hik12345"}, headers=h)
    assert dev.status_code == 201 and dev.json()["has_password"] is True and "password" not in dev.json()
    with session_scope(db_url) as s:
        enc = s.execute(select(Device.password_enc)).scalar()
        assert enc and "hik12345" not in enc
    chid = ok.json()["id"]
    assert c.patch(f"/api/v1/channels/{chid}", json={"name": "改名"}, headers=h).json()["name"] == "改名"
    assert c.delete(f"/api/v1/channels/{chid}", headers=h).status_code == 204
    with session_scope(db_url) as s:
        acts = s.execute(select(AuditRecord.action).where(AuditRecord.entity == "channel",
                                                          AuditRecord.entity_id == str(chid))).scalars().all()
    assert acts == ["create", "update", "delete"]
    assert c.get("/api/v1/sites?category=hotel", headers=h).json()["total"] == 0
    assert c.get(f"/api/v1/sites?tier={ids['dist']}", headers=h).json()["total"] == 1
    viewer = login(c, "viewer3", PW)
    assert c.patch(f"/api/v1/sites/{ids['a']}", json={"daily_max": 5}, headers=viewer).status_code == 403


def test_login_is_rate_limited_and_needs_a_good_password(data_dir, db_url):
    seed_two_sites(db_url)
    c = make_client(data_dir)
    assert c.get("/api/v1/channels").status_code == 401
    codes = [c.post("/api/v1/auth/login", json={"username": "admin", "password": "wrong"}).status_code
             for _ in range(12)]
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]


def test_healthz_and_openapi(data_dir, db_url):
    c = make_client(data_dir)
    with c:
        assert c.get("/healthz").json()["status"] == "ok"
        assert "/api/v1/channels" in c.get("/openapi.json").json()["paths"]


def test_audit_verify_finds_the_altered_record(data_dir, db_url):
    seed_two_sites(db_url)
    runner = CliRunner()
    r = runner.invoke(app, ["audit", "verify", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["ok"] is True
    with session_scope(db_url) as s:
        target = s.execute(select(AuditRecord.id).order_by(AuditRecord.id).offset(4).limit(1)).scalar()
    with get_engine(db_url).begin() as conn:
        conn.execute(update(AuditRecord.__table__).where(AuditRecord.__table__.c.id == target)
                     .values(actor="someone-else"))
    r = runner.invoke(app, ["audit", "verify", "--json"])
    out = json.loads(r.stdout)
    assert r.exit_code == 1 and out["ok"] is False and out["first_broken_id"] == target
    # deleting a record breaks the link of the next one
    with get_engine(db_url).begin() as conn:
        conn.execute(update(AuditRecord.__table__).where(AuditRecord.__table__.c.id == target)
                     .values(actor=text("actor")))
        conn.execute(AuditRecord.__table__.delete().where(AuditRecord.__table__.c.id == target + 2))
    out = json.loads(runner.invoke(app, ["audit", "verify", "--json"]).stdout)
    assert out["first_broken_id"] in (target, target + 3)


def test_site_manager_edits_own_site_but_creates_none(data_dir, db_url):
    ids = seed_two_sites(db_url)
    c = make_client(data_dir)
    h = login(c, "mgr_a", PW)
    r = c.patch(f"/api/v1/sites/{ids['a']}", json={"om_contact": "景区运维组"}, headers=h)
    assert r.status_code == 200 and r.json()["om_contact"] == "景区运维组"
    r = c.post("/api/v1/sites", json={"name": "新景区", "org_unit_id": ids["dist"]}, headers=h)
    assert r.status_code == 403 and "may not create sites" in r.text
    assert c.post("/api/v1/sites", json={"name": "新景区", "org_unit_id": ids["dist"]},
                  headers=login(c, "admin", PW)).status_code == 201


def test_deleting_the_newest_audit_records_is_caught_by_an_anchor(data_dir, db_url, tmp_path):
    seed_two_sites(db_url)
    runner = CliRunner()
    anchors = tmp_path / "anchors.log"
    r = runner.invoke(app, ["audit", "anchor", "--file", str(anchors), "--json"])
    assert r.exit_code == 0, r.output
    head = json.loads(r.stdout)["record_id"]
    assert anchors.read_text().split()[1] == str(head)
    r = runner.invoke(app, ["audit", "verify", "--anchors", str(anchors), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["anchors"] == 1
    # the newest two records deleted: the chain alone is still whole, the anchor is not
    with get_engine(db_url).begin() as conn:
        conn.execute(AuditRecord.__table__.delete().where(AuditRecord.__table__.c.id >= head - 1))
    assert json.loads(runner.invoke(app, ["audit", "verify", "--json"]).stdout)["ok"] is True
    r = runner.invoke(app, ["audit", "verify", "--anchors", str(anchors), "--json"])
    out = json.loads(r.stdout)
    assert r.exit_code == 1 and out["first_broken_id"] == head and "deleted" in out["reason"]
    # a malformed anchors file is refused with the line named
    anchors.write_text("2026-11-22T08:00:00+00:00 12 nothex\n")
    r = runner.invoke(app, ["audit", "verify", "--anchors", str(anchors)])
    said = " ".join(r.output.split())  # the console wraps long lines
    assert r.exit_code != 0 and "line 1:" in said and "SHA-256" in said
