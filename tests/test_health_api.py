"""Camera-health API: scoped work-order lists and details, close with a re-check that fails on a dead
stream, reference pictures, diagnoses, rates and repair statistics."""

from __future__ import annotations

from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import select

from foundation_helpers import login, make_client
from lookout.health import status, workorders
from lookout.health.models import DiagnosisRecord, SiteThresholds, WorkOrder
from lookout.health.patrol import PatrolConfig, set_reference
from lookout.registry import service
from lookout.registry.models import Channel, Device, Site
from lookout.security import accounts
from lookout.security.models import AuditRecord
from lookout.store.base import utcnow
from lookout.store.db import session_scope

PW = "secret-pass"
DEAD = "rtsp://127.0.0.1:9/none"  # the discard port: nothing answers RTSP there


def seed(db_url: str) -> dict:
    with session_scope(db_url) as s:
        dist = service.create_org_unit(s, "t", "district", "武隆区", "500156")
        a = service.create(s, "t", Site, {"name": "A景区", "org_unit_id": dist.id, "om_contact": "om_a"}, "site")
        b = service.create(s, "t", Site, {"name": "B景区", "org_unit_id": dist.id, "om_contact": "om_b"}, "site")
        dev = service.create(s, "t", Device, {"site_id": a.id, "code": "50015600001180000001", "vendor": "Dahua"},
                             "device")
        ids = {"a": a.id, "b": b.id}
        for key, site, code in (("ca", a, "50015600001320000001"), ("cb", b, "50015600001320000002")):
            ch = service.create(s, "t", Channel, {"site_id": site.id, "code": code, "name": key, "main_url": DEAD,
                                                  "device_id": dev.id if site is a else None}, "channel")
            ids[key] = ch.id
        accounts.add_user(s, "t", "admin", PW, "admin", clearance=1)
        accounts.add_user(s, "t", "om_a", PW, "om_engineer", scope_site_id=a.id, clearance=1)
        accounts.add_user(s, "t", "viewer", PW, "viewer", clearance=1)
        # two offline patrols in a row on each channel: one order each
        now = utcnow() - timedelta(hours=30)
        for i in range(2):
            t = now + timedelta(minutes=30 * i)
            for cid in (ids["ca"], ids["cb"]):
                s.add(DiagnosisRecord(channel_id=cid, at=t, online=False, error="connection refused",
                                      faults=["offline"], scores={}))
                status.apply_status(s, s.get(Channel, cid), "offline", "stream probe failed", "probe", t)
            s.flush()
            workorders.process_diagnoses(s, [ids["ca"], ids["cb"]], t)
        ids["orders"] = {o.channel_id: o.id for o in s.execute(select(WorkOrder)).scalars()}
    return ids


def test_work_orders_are_scoped_and_filtered(data_dir, db_url):
    ids = seed(db_url)
    c = make_client(data_dir)
    admin, om = login(c, "admin", PW), login(c, "om_a", PW)
    everything = c.get("/api/v1/health/work-orders", headers=admin).json()
    assert everything["total"] == 2
    mine = c.get("/api/v1/health/work-orders", headers=om).json()
    assert [o["channel_id"] for o in mine["items"]] == [ids["ca"]]
    (o,) = mine["items"]
    assert o["assignee"] == "om_a" and o["fault"] == "offline" and o["overdue"] is True and o["vendor"] == "Dahua"
    assert c.get(f"/api/v1/health/work-orders/{ids['orders'][ids['cb']]}", headers=om).status_code == 404
    assert c.get("/api/v1/health/work-orders?overdue=true&status=open", headers=admin).json()["total"] == 2
    assert c.get("/api/v1/health/work-orders?status=closed", headers=admin).json()["total"] == 0
    assert c.get(f"/api/v1/health/work-orders?site_id={ids['b']}", headers=admin).json()["total"] == 1
    assert c.get("/api/v1/health/work-orders?page_size=1&page=2", headers=admin).json()["items"][0]["id"] == min(
        ids["orders"].values())
    detail = c.get(f"/api/v1/health/work-orders/{ids['orders'][ids['ca']]}", headers=om).json()
    assert [e["kind"] for e in detail["events"]] == ["opened"] and detail["escalations"] == []


def test_close_runs_a_recheck_that_fails_on_a_dead_stream(data_dir, db_url):
    ids = seed(db_url)
    c = make_client(data_dir)
    om, viewer = login(c, "om_a", PW), login(c, "viewer", PW)
    oid = ids["orders"][ids["ca"]]
    assert c.post(f"/api/v1/health/work-orders/{oid}/close", json={}, headers=viewer).status_code == 403
    assert c.post(f"/api/v1/health/work-orders/{ids['orders'][ids['cb']]}/close", json={}, headers=om).status_code == 404
    r = c.post(f"/api/v1/health/work-orders/{oid}/close", json={"note": "replaced the switch", "wait": True},
               headers=om)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "open" and body["recheck_passed"] is False and body["reopen_count"] == 1
    rc = c.get(f"/api/v1/health/work-orders/{oid}/recheck", headers=om).json()
    assert rc["state"] == "failed" and "no picture" in rc["note"] and rc["diagnosis"]["online"] is False
    with session_scope(db_url) as s:
        acts = [a for a, in s.execute(select(AuditRecord.action).where(AuditRecord.entity == "work_order"))]
    assert "close" in acts and "recheck_failed" in acts
    # the re-check request itself is refused twice in a row only while it is pending
    assert c.post(f"/api/v1/health/work-orders/{oid}/close", json={}, headers=om).status_code == 200


def test_diagnoses_status_history_rates_and_repair_stats(data_dir, db_url):
    ids = seed(db_url)
    c = make_client(data_dir)
    admin, om = login(c, "admin", PW), login(c, "om_a", PW)
    diags = c.get(f"/api/v1/health/channels/{ids['ca']}/diagnoses?limit=1", headers=om).json()
    assert len(diags) == 1 and diags[0]["faults"] == ["offline"]
    assert c.get(f"/api/v1/health/channels/{ids['cb']}/diagnoses", headers=om).status_code == 404
    latest = c.get("/api/v1/health/diagnoses/latest?faulty=true", headers=om).json()
    assert [d["channel_id"] for d in latest["items"]] == [ids["ca"]]
    hist = c.get(f"/api/v1/health/channels/{ids['ca']}/status-history",
                 params={"start": (utcnow() - timedelta(days=3)).isoformat()}, headers=om).json()
    assert hist["status"] == "offline" and [h["status"] for h in hist["changes"]] == ["offline"]
    assert c.get(f"/api/v1/health/channels/{ids['ca']}/status-history?start=2026-11-01T00:00:00",
                 headers=om).status_code == 422
    rates = c.get("/api/v1/health/online-rates?by=site", headers=om).json()
    assert [g["id"] for g in rates["groups"]] == [ids["a"]] and rates["groups"][0]["rate"] == 0.0
    assert rates["targets"] == {"key": 0.98, "industry": 0.95}
    assert c.get("/api/v1/health/online-rates?by=colour", headers=om).status_code == 422
    net = c.get("/api/v1/health/networking?by=all", headers=admin).json()["groups"][0]
    assert (net["ledger"], net["networked"]) == (2, 0)
    comp = c.get("/api/v1/health/compliance", headers=admin).json()["sites"]
    assert {s["site_id"] for s in comp} == {ids["a"], ids["b"]}
    assert len(c.get("/api/v1/health/online-trend?days=3", headers=om).json()) >= 2
    stats = c.get("/api/v1/health/repair-stats?by=vendor", headers=admin).json()["groups"]
    assert {g["name"]: g["open"] for g in stats} == {"Dahua": 1, "unknown": 1}


def test_reference_picture_set_read_and_cleared(data_dir, db_url):
    ids = seed(db_url)
    c = make_client(data_dir)
    om = login(c, "om_a", PW)
    r = c.put(f"/api/v1/health/channels/{ids['ca']}/reference", headers=om)
    assert r.status_code == 502 and "no picture from the camera" in r.json()["detail"]
    with session_scope(db_url) as s:  # as the PUT does with a live stream
        img = np.full((96, 128, 3), 120, np.uint8)
        set_reference(s, data_dir, s.get(Channel, ids["ca"]), img, "om_a", utcnow())
    got = c.get(f"/api/v1/health/channels/{ids['ca']}/reference", headers=om).json()["reference"]
    assert got["taken_by"] == "om_a" and (got["width"], got["height"]) == (128, 96)
    jpg = c.get(got["url"], headers=om)
    assert jpg.status_code == 200 and jpg.content[:2] == b"\xff\xd8"
    assert c.delete(f"/api/v1/health/channels/{ids['ca']}/reference", headers=om).status_code == 200
    assert c.get(f"/api/v1/health/channels/{ids['ca']}/reference", headers=om).json()["reference"] is None
    assert not list((data_dir / "health" / "references").glob("*.jpg"))
    assert c.delete(f"/api/v1/health/channels/{ids['ca']}/reference", headers=om).status_code == 404


def test_reference_pictures_per_ptz_preset(data_dir, db_url):
    """A camera touring its presets has one reference per preset; names are checked, at most eight."""
    from lookout.health.patrol import MAX_PRESETS, ReferencePictureError, clear_reference, load_targets

    ids = seed(db_url)
    c = make_client(data_dir)
    om = login(c, "om_a", PW)
    with session_scope(db_url) as s:
        ch = s.get(Channel, ids["ca"])
        for i, preset in enumerate(["", "2", "观景台"]):
            set_reference(s, data_dir, ch, np.full((96, 128, 3), 60 + 40 * i, np.uint8), "om_a", utcnow(), preset=preset)
        with pytest.raises(ReferencePictureError, match="preset name"):
            set_reference(s, data_dir, ch, np.zeros((8, 8, 3), np.uint8), "om_a", utcnow(), preset="a/b")
    got = c.get(f"/api/v1/health/channels/{ids['ca']}/reference", headers=om).json()
    assert [r["preset"] for r in got["references"]] == ["", "2", "观景台"] and got["reference"]["preset"] == ""
    r = c.put(f"/api/v1/health/channels/{ids['ca']}/reference", params={"preset": "a/b"}, headers=om)
    assert r.status_code == 422 and "preset name" in r.json()["detail"]  # refused before asking the camera
    jpg = c.get(got["references"][2]["url"], headers=om)  # ?preset=%E8%A7%82…
    assert jpg.status_code == 200 and jpg.content[:2] == b"\xff\xd8"
    with session_scope(db_url) as s:
        targets, _ = load_targets(s, utcnow(), PatrolConfig(), data_dir, None, channel_ids=[ids["ca"]], due_only=False)
    assert len(targets) == 1 and [preset for preset, _ in targets[0].references] == ["", "2", "观景台"]
    assert all(p.is_file() for _, p in targets[0].references)
    r = c.delete(f"/api/v1/health/channels/{ids['ca']}/reference", params={"preset": "2"}, headers=om)
    assert r.status_code == 200 and [x["preset"] for x in r.json()["references"]] == ["", "观景台"]
    assert c.get(f"/api/v1/health/channels/{ids['ca']}/reference.jpg", params={"preset": "2"},
                 headers=om).status_code == 404
    with session_scope(db_url) as s:
        ch = s.get(Channel, ids["ca"])
        for i in range(MAX_PRESETS - 2):
            set_reference(s, data_dir, ch, np.zeros((8, 8, 3), np.uint8), "om_a", utcnow(), preset=f"p{i}")
        with pytest.raises(ReferencePictureError, match="at most"):
            set_reference(s, data_dir, ch, np.zeros((8, 8, 3), np.uint8), "om_a", utcnow(), preset="one too many")
        assert len(clear_reference(s, data_dir, ch, "om_a", utcnow())) == MAX_PRESETS


def test_cli_lists_and_closes_orders(data_dir, db_url):
    import json

    from typer.testing import CliRunner

    from lookout.cli import app

    ids = seed(db_url)
    out = CliRunner().invoke(app, ["patrol", "orders", "--json"])
    assert out.exit_code == 0, out.output
    assert sorted(o["channel_id"] for o in json.loads(out.output)) == sorted([ids["ca"], ids["cb"]])
    oid = ids["orders"][ids["ca"]]
    out = CliRunner().invoke(app, ["patrol", "close", str(oid), "--by", "om_a", "--json"])
    assert out.exit_code == 0, out.output
    res = json.loads(out.output.strip().splitlines()[-1])
    assert res["status"] == "open" and res["recheck_passed"] is False  # the stream is still dead
    assert CliRunner().invoke(app, ["patrol", "close", "999", "--by", "om_a"]).exit_code == 2
    out = CliRunner().invoke(app, ["patrol", "daily", "--json"])
    assert out.exit_code == 0 and json.loads(out.output)["daily_rows"] >= 2


def test_a_channel_has_fault_thresholds_of_its_own(data_dir, db_url, monkeypatch):
    """O&M sets a dusty tunnel's noise threshold higher; the patrol's targets carry it over the
    deployment's; unknown faults and values outside 0–100 are refused naming them; audited."""
    from lookout.health.patrol import load_targets

    monkeypatch.setenv("LOOKOUT_PATROL_VQD_THRESHOLDS", '{"blur": 60}')
    ids = seed(db_url)
    c = make_client(data_dir)
    om, viewer = login(c, "om_a", PW), login(c, "viewer", PW)
    url = f"/api/v1/health/channels/{ids['ca']}/thresholds"
    got = c.get(url, headers=om).json()
    assert got["thresholds"] == {} and got["effective"]["blur"] == 60 and got["effective"]["noise"] == 50
    r = c.put(url, json={"noise": 75, "blur": 55}, headers=om)
    assert r.status_code == 200 and r.json()["effective"]["noise"] == 75 and r.json()["effective"]["blur"] == 55
    assert r.json()["set_by"] == "om_a"
    bad = c.put(url, json={"snow": 70}, headers=om)
    assert bad.status_code == 422 and "'snow': no such fault" in bad.json()["detail"]
    assert c.put(url, json={"noise": 120}, headers=om).status_code == 422
    assert c.put(url, json={"noise": 80}, headers=viewer).status_code == 403
    assert c.put(f"/api/v1/health/channels/{ids['cb']}/thresholds", json={"noise": 80}, headers=om).status_code == 404
    with session_scope(db_url) as s:
        targets, _ = load_targets(s, utcnow(), PatrolConfig(), data_dir, None, due_only=False)
        assert {t.channel_id: t.thresholds for t in targets} == {ids["ca"]: {"noise": 75, "blur": 55}, ids["cb"]: {}}
        actions = s.execute(select(AuditRecord.action).where(AuditRecord.entity == "channel")).scalars().all()
        assert "set_thresholds" in actions
    # a view still by nature: frozen is not judged on this camera (null), the rest as before
    off = c.put(url, json={"frozen": None, "noise": 75}, headers=om)
    assert off.status_code == 200 and off.json()["thresholds"] == {"frozen": None, "noise": 75}
    assert off.json()["effective"]["frozen"] is None and off.json()["effective"]["blur"] == 60
    assert c.put(url, json={"frozen": "off"}, headers=om).status_code == 422
    with session_scope(db_url) as s:
        targets, _ = load_targets(s, utcnow(), PatrolConfig(), data_dir, None, due_only=False)
        assert {t.channel_id: t.thresholds for t in targets}[ids["ca"]] == {"frozen": None, "noise": 75}
    assert c.delete(url, headers=om).json()["effective"]["noise"] == 50
    assert c.delete(url, headers=om).status_code == 404


def test_a_site_has_fault_thresholds_for_all_its_channels(data_dir, db_url, monkeypatch):
    """O&M raises a misty mountain area's blur threshold for all its cameras; a camera's own
    threshold still wins; the patrol's targets carry the merge; out of scope is 404; audited."""
    from lookout.health.patrol import load_targets

    monkeypatch.setenv("LOOKOUT_PATROL_VQD_THRESHOLDS", '{"blur": 60}')
    ids = seed(db_url)
    c = make_client(data_dir)
    om, viewer, admin = login(c, "om_a", PW), login(c, "viewer", PW), login(c, "admin", PW)
    site_url = f"/api/v1/health/sites/{ids['a']}/thresholds"
    assert c.get(site_url, headers=om).json()["effective"]["blur"] == 60
    r = c.put(site_url, json={"blur": 75, "too_bright": 80}, headers=om)
    assert r.status_code == 200, r.text
    assert r.json()["thresholds"] == {"blur": 75, "too_bright": 80} and r.json()["effective"]["blur"] == 75
    assert r.json()["set_by"] == "om_a"
    bad = c.put(site_url, json={"fog": 70}, headers=om)
    assert bad.status_code == 422 and "'fog': no such fault" in bad.json()["detail"]
    assert c.put(site_url, json={"blur": 80}, headers=viewer).status_code == 403
    assert c.put(f"/api/v1/health/sites/{ids['b']}/thresholds", json={"blur": 80}, headers=om).status_code == 404
    assert c.get(f"/api/v1/health/sites/{ids['b']}/thresholds", headers=om).status_code == 404
    # the camera's own noise threshold and its blur over the site's
    ch_url = f"/api/v1/health/channels/{ids['ca']}/thresholds"
    got = c.put(ch_url, json={"blur": 65, "noise": 70}, headers=om).json()
    assert got["site"] == {"blur": 75, "too_bright": 80} and got["inherited"]["blur"] == 75
    assert got["effective"]["blur"] == 65 and got["effective"]["too_bright"] == 80 and got["effective"]["noise"] == 70
    # frozen not judged at the site; one camera judges it again with a number of its own
    c.put(site_url, json={"blur": 75, "too_bright": 80, "frozen": None}, headers=om)
    assert c.get(ch_url, headers=om).json()["effective"]["frozen"] is None
    assert c.put(ch_url, json={"blur": 65, "noise": 70, "frozen": 60}, headers=om).json()["effective"]["frozen"] == 60
    c.put(ch_url, json={"blur": 65, "noise": 70}, headers=om)
    c.put(site_url, json={"blur": 75, "too_bright": 80}, headers=om)
    # the other site's camera keeps the deployment's
    assert c.get(f"/api/v1/health/channels/{ids['cb']}/thresholds", headers=admin).json()["effective"]["blur"] == 60
    with session_scope(db_url) as s:
        targets, _ = load_targets(s, utcnow(), PatrolConfig(), data_dir, None, due_only=False)
        assert {t.channel_id: t.thresholds for t in targets} == {
            ids["ca"]: {"blur": 65, "too_bright": 80, "noise": 70}, ids["cb"]: {}}
        only_a, _ = load_targets(s, utcnow(), PatrolConfig(), data_dir, None, channel_ids=[ids["ca"]], due_only=False)
        assert [t.thresholds for t in only_a] == [{"blur": 65, "too_bright": 80, "noise": 70}]
        actions = s.execute(select(AuditRecord.action).where(AuditRecord.entity == "site")).scalars().all()
        assert "set_thresholds" in actions
    with session_scope(db_url) as s:  # stored before a fault was renamed: the deployment's apply, as in a patrol
        s.get(SiteThresholds, ids["a"]).thresholds = {"blur": 75, "fog": 80}
    assert c.get(site_url, headers=om).json()["effective"]["blur"] == 60
    assert c.get(ch_url, headers=om).json()["effective"]["blur"] == 60
    c.put(site_url, json={"blur": 75}, headers=om)
    c.delete(ch_url, headers=om)
    assert c.get(ch_url, headers=om).json()["effective"]["blur"] == 75  # back to the site's
    assert c.delete(site_url, headers=om).json()["effective"]["blur"] == 60
    assert c.delete(site_url, headers=om).status_code == 404
    assert c.get(ch_url, headers=om).json()["effective"]["blur"] == 60


def test_an_overdue_order_is_told_to_the_duty_roster_above_its_assignee(data_dir, db_url):
    """Escalation reaches people: level 1 tells whoever is on duty at the order's site, level 2 the
    district's (the first tier up with somebody on duty), each once, in Chinese, through the outbox;
    the escalation records who was told and the order's page says so."""
    from lookout.health.models import WorkOrderEscalation
    from lookout.safety.models import DutyMember, OutboxMessage

    ids = seed(db_url)
    with session_scope(db_url) as s:
        district = s.get(Site, ids["a"]).org_unit_id
        s.add(DutyMember(site_id=ids["a"], name="景区值班员", email="duty@a.example", active=True))
        s.add(DutyMember(org_unit_id=district, name="区值班员", phone="13800000000", active=True))
        o = s.get(WorkOrder, ids["orders"][ids["ca"]])
        deadline, allowed = o.deadline_at, o.deadline_at - o.opened_at
    with session_scope(db_url) as s:
        workorders.escalate_overdue(s, deadline + timedelta(minutes=30))
        workorders.escalate_overdue(s, deadline + timedelta(minutes=40))  # nothing new: told once
    with session_scope(db_url) as s:
        sent = s.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
        mine = [m for m in sent if m.target == "duty@a.example"]
        assert len(mine) == 1 and mine[0].channel == "email"
        body = mine[0].payload["body"]
        assert "A景区" in body and "离线" in body and "超期 0.5 小时" in body and "第 1 级" in body, body
        ours = f"workorder:{o.id}:"
        assert not [m for m in sent if m.target == "13800000000" and m.key.startswith(ours)]  # not the district yet
        other = f"workorder:{ids['orders'][ids['cb']]}:"  # B景区 has nobody on duty: its district is told at once
        assert [m.channel for m in sent if m.key.startswith(other)] == ["sms"]
        (esc,) = s.execute(select(WorkOrderEscalation).where(WorkOrderEscalation.order_id == o.id)).scalars()
        assert esc.level == 1 and esc.notified == "site: 景区值班员"
    with session_scope(db_url) as s:
        workorders.escalate_overdue(s, deadline + allowed + timedelta(minutes=5))
    with session_scope(db_url) as s:
        sms = s.execute(select(OutboxMessage).where(OutboxMessage.target == "13800000000",
                                                    OutboxMessage.key.startswith(f"workorder:{o.id}:"))).scalars().all()
        assert len(sms) == 1 and "第 2 级" in sms[0].payload["text"]
        levels = s.execute(select(WorkOrderEscalation.level, WorkOrderEscalation.notified)
                           .where(WorkOrderEscalation.order_id == o.id).order_by(WorkOrderEscalation.id)).all()
        assert levels == [(1, "site: 景区值班员"), (2, "district: 区值班员")]
    c = make_client(data_dir)
    admin = login(c, "admin", PW)
    html = c.get(f"/om/orders/{o.id}", headers=admin).text
    assert "已通知场所值班：景区值班员" in html and "已通知区县值班：区值班员" in html


def test_an_escalated_order_is_acknowledged_by_whoever_was_told(data_dir, db_url):
    """Someone on the duty roster's side takes an escalated order in hand: each escalation waiting records
    who and when, once (a second try answers 409); the order leaves the "not acknowledged" list until
    its next level; O&M (the assignee's side) may not acknowledge, nor anyone out of scope; the page
    tells the step in Chinese and offers the button only while one is waiting."""
    from lookout.health.models import WorkOrderEscalation

    ids = seed(db_url)
    with session_scope(db_url) as s:
        accounts.add_user(s, "t", "mgr_a", PW, "site_manager", scope_site_id=ids["a"], clearance=1)
        accounts.add_user(s, "t", "mgr_b", PW, "site_manager", scope_site_id=ids["b"], clearance=1)
        o = s.get(WorkOrder, ids["orders"][ids["ca"]])
        order_id, deadline, allowed = o.id, o.deadline_at, o.deadline_at - o.opened_at
    c = make_client(data_dir)
    admin, om, mgr_a, mgr_b = (login(c, u, PW) for u in ("admin", "om_a", "mgr_a", "mgr_b"))
    url = f"/api/v1/health/work-orders/{order_id}/acknowledge"
    assert c.post(url, headers=mgr_a).status_code == 409  # nothing escalated yet
    with session_scope(db_url) as s:
        workorders.escalate_overdue(s, deadline + timedelta(minutes=30))

    def waiting(headers) -> set[int]:
        r = c.get("/api/v1/health/work-orders", params={"unacknowledged": "true"}, headers=headers)
        assert r.status_code == 200, r.text
        return {o["id"] for o in r.json()["items"]}

    assert order_id in waiting(admin)
    assert "1 张升级工单待确认" in c.get("/om", headers=mgr_a).text
    page = c.get(f"/om/orders/{order_id}", headers=mgr_a).text
    assert "尚无人确认知悉" in page and "data-acknowledge-order" in page and "待确认" in page
    assert "data-acknowledge-order" not in c.get(f"/om/orders/{order_id}", headers=om).text
    assert c.post(url, headers=om).status_code == 403  # the assignee's side does not acknowledge its own escalation
    assert c.post(url, headers=mgr_b).status_code == 404  # another site's manager does not see the order
    r = c.post(url, headers=mgr_a)
    assert r.status_code == 200, r.text
    (esc,) = r.json()["escalations"]
    assert esc["level"] == 1 and esc["acknowledged_by"] == "mgr_a" and esc["acknowledged_at"]
    again = c.post(url, headers=mgr_a)
    assert again.status_code == 409 and "no escalation waiting" in again.json()["detail"]
    assert order_id not in waiting(admin)
    assert "升级工单待确认" not in c.get("/om", headers=mgr_a).text
    assert order_id in {o["id"] for o in c.get("/api/v1/health/work-orders", params={"unacknowledged": "false"},
                                              headers=admin).json()["items"]}
    page = c.get(f"/om/orders/{order_id}", headers=mgr_a).text
    assert "mgr_a 已于" in page and "确认知悉超期升级" in page and "data-acknowledge-order" not in page
    orders_page = c.get("/om/orders", params={"unacknowledged": "true", "status": "all"}, headers=admin).text
    assert f'data-order="{order_id}"' not in orders_page
    with session_scope(db_url) as s:
        assert s.execute(select(AuditRecord).where(AuditRecord.action == "acknowledge",
                                                   AuditRecord.entity_id == str(order_id))).scalar_one()
        workorders.escalate_overdue(s, deadline + allowed + timedelta(minutes=5))  # level 2 waits again
    assert order_id in waiting(admin)
    assert f'data-order="{order_id}"' in c.get("/om/orders", params={"unacknowledged": "true"}, headers=admin).text
    with session_scope(db_url) as s:
        levels = s.execute(select(WorkOrderEscalation.level, WorkOrderEscalation.acknowledged_by)
                           .where(WorkOrderEscalation.order_id == order_id).order_by(WorkOrderEscalation.level)).all()
        assert levels == [(1, "mgr_a"), (2, None)]


def test_a_new_and_a_reopened_order_are_told_to_the_assignee(data_dir, db_url):
    """The engineer an order is assigned to is told of it (派单), in Chinese with its deadline in the
    site's time, by the e-mail and phone of their account, once; again when a re-check reopens it."""
    from lookout.safety.models import OutboxMessage
    from lookout.security.models import User

    ids = seed(db_url)  # its orders opened while om_a had no e-mail or phone: nobody could be told
    with session_scope(db_url) as s:
        assert not s.execute(select(OutboxMessage)).scalars().all()
        u = s.execute(select(User).where(User.username == "om_a")).scalar_one()
        u.email, u.phone = "om_a@example.com", "13900000000"
        t0 = utcnow()
        for k in range(2):  # two patrols find the picture blurred: a second order on the channel
            s.add(DiagnosisRecord(channel_id=ids["ca"], at=t0 + timedelta(minutes=k), online=True, faults=["blur"],
                                  scores={"blur": 80.0}, used_reference=True))
            s.flush()
            workorders.process_diagnoses(s, [ids["ca"]], t0 + timedelta(minutes=k))
        blur = s.execute(select(WorkOrder).where(WorkOrder.fault == "blur")).scalar_one()
        deadline = blur.deadline_at
    with session_scope(db_url) as s:
        sent = s.execute(select(OutboxMessage).where(OutboxMessage.key.startswith(f"workorder:{blur.id}:"))).scalars().all()
        assert sorted(m.channel for m in sent) == ["email", "sms"]
        text = next(m for m in sent if m.channel == "sms").payload["text"]
        local = deadline.replace(tzinfo=deadline.tzinfo or timezone.utc).astimezone(ZoneInfo("Asia/Shanghai"))
        assert "A景区" in text and "图像模糊" in text and f"工单 {blur.id}" in text and local.strftime("%m-%d %H:%M") in text, text
        order = s.get(WorkOrder, blur.id)
        workorders.request_close(s, order, "om_a", "调焦", utcnow())
        s.add(DiagnosisRecord(channel_id=ids["ca"], at=utcnow() + timedelta(minutes=5), online=True, faults=["blur"],
                              scores={"blur": 75.0}, used_reference=True))
        s.flush()
        workorders.process_diagnoses(s, [ids["ca"]], utcnow() + timedelta(minutes=5))  # the re-check fails
    with session_scope(db_url) as s:
        again = s.execute(select(OutboxMessage).where(OutboxMessage.key.startswith(f"workorder:{blur.id}:reopened"))
                          ).scalars().all()
        assert len(again) == 2 and "复核未通过" in again[0].payload.get("text", again[0].payload.get("body", ""))
        assert s.get(WorkOrder, blur.id).status == "open"


def test_an_order_is_handed_to_another_engineer_who_can_see_its_camera(data_dir, db_url):
    """转派: O&M hands an order to another O&M engineer whose scope covers the camera; the order's story
    says "old → new" with the note, the new assignee is told and it is audited; an engineer of another
    site, a viewer's account or the same assignee are refused, naming why."""
    from lookout.safety.models import OutboxMessage

    ids = seed(db_url)
    with session_scope(db_url) as s:
        accounts.add_user(s, "t", "om_a2", PW, "om_engineer", scope_site_id=ids["a"], clearance=1, phone="13700000000")
        accounts.add_user(s, "t", "om_b", PW, "om_engineer", scope_site_id=ids["b"], clearance=1)
    order_id = ids["orders"][ids["ca"]]
    c = make_client(data_dir)
    om, viewer = login(c, "om_a", PW), login(c, "viewer", PW)
    url = f"/api/v1/health/work-orders/{order_id}/assign"
    page = c.get(f"/om/orders/{order_id}", headers=om).text
    assert 'data-reassign-order' in page and '<option value="om_a2">' in page and "om_b" not in page
    r = c.post(url, json={"assignee": "om_b"}, headers=om)
    assert r.status_code == 422 and "om_b" in r.json()["detail"]  # B景区's engineer cannot see the camera
    assert c.post(url, json={"assignee": "om_a2"}, headers=viewer).status_code == 403
    r = c.post(url, json={"assignee": "om_a2", "note": "om_a 休假"}, headers=om)
    assert r.status_code == 200, r.text
    assert r.json()["assignee"] == "om_a2"
    again = c.post(url, json={"assignee": "om_a2"}, headers=om)
    assert again.status_code == 409 and "already assigned to om_a2" in again.json()["detail"]
    page = c.get(f"/om/orders/{order_id}", headers=om).text
    assert "转派" in page and "om_a → om_a2：om_a 休假" in page
    with session_scope(db_url) as s:
        (sms,) = s.execute(select(OutboxMessage).where(OutboxMessage.target == "13700000000")).scalars()
        assert f"工单 {order_id}" in sms.payload["text"] and "派发" in sms.payload["text"]
        assert s.execute(select(AuditRecord).where(AuditRecord.action == "reassign",
                                                   AuditRecord.entity_id == str(order_id))).scalar_one()
        assert s.get(WorkOrder, order_id).assignee == "om_a2"


def test_patrol_runs_and_a_runs_report_over_visible_channels(data_dir, db_url, tmp_path):
    """GET /patrol-runs lists the runs with what they found among the account's channels; GET
    /patrol-runs/{id} is the run's report (totals, per site, each channel's result); a run over none of
    the account's channels is 404 to it."""
    from lookout.health.patrol import PatrolResult, store_results

    ids = seed(db_url)
    with session_scope(db_url) as s:
        run, _ = store_results(s, [PatrolResult(ids["ca"], True, faults=["blur"], scores={"blur": 90.0}),
                                   PatrolResult(ids["cb"], False, error="timed out")], utcnow(), PatrolConfig(), tmp_path)
        both = run.id
        run, _ = store_results(s, [PatrolResult(ids["cb"], True)], utcnow(), PatrolConfig(), tmp_path)
        only_b = run.id
    c = make_client(data_dir)
    admin, om = login(c, "admin", PW), login(c, "om_a", PW)
    listed = {r["id"]: r for r in c.get("/api/v1/health/patrol-runs", headers=admin).json()["items"]}
    assert (listed[both]["channels"], listed[both]["online"], listed[both]["faulty"]) == (2, 1, 1)
    mine = c.get("/api/v1/health/patrol-runs", headers=om).json()
    assert [r["id"] for r in mine["items"]] == [both] and mine["items"][0]["channels"] == 1 and mine["total"] == 1
    rep = c.get(f"/api/v1/health/patrol-runs/{both}", headers=admin).json()
    assert rep["total"] == {"cameras": 2, "offline": 1, "fault": 1, "normal": 0}
    assert [(r["channel_id"], r["outcome"]) for r in rep["results"]] == [(ids["cb"], "offline"), (ids["ca"], "fault")]
    assert {g["site"]: g["faults"] for g in rep["sites"]} == {"A景区": {"blur": 1}, "B景区": {}}
    assert c.get(f"/api/v1/health/patrol-runs/{only_b}", headers=om).status_code == 404
    assert c.get("/api/v1/health/patrol-runs/999999", headers=admin).status_code == 404


def test_a_cameras_state_follows_the_faults_that_count(db_url, tmp_path):
    """Without a reference picture an occlusion does not count (it opens no order), so the camera
    stays online (normal); a blur does, and so does an occlusion judged against the reference."""
    from lookout.health.patrol import PatrolResult, store_results

    ids = seed(db_url)

    def state(result) -> str:
        with session_scope(db_url) as s:
            store_results(s, [result], utcnow(), PatrolConfig(), tmp_path)
        with session_scope(db_url) as s:
            return s.get(Channel, ids["ca"]).status

    assert state(PatrolResult(ids["ca"], True, faults=["occlusion"], used_reference=False)) == "online"
    assert state(PatrolResult(ids["ca"], True, faults=["blur", "occlusion"], used_reference=False)) == "fault"
    assert state(PatrolResult(ids["ca"], True, faults=[], used_reference=False)) == "online"
    assert state(PatrolResult(ids["ca"], True, faults=["occlusion"], used_reference=True)) == "fault"
    with session_scope(db_url) as s:
        assert s.get(Channel, ids["ca"]).status_reason == "picture faults: occlusion"
