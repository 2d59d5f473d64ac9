"""Crowd-safety API against the assembled app: public screen, capacity edits (audited),
incident report JSON/PDF, plan items and acknowledgement."""

from __future__ import annotations

import pytest

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from foundation_helpers import login, make_client
from lookout.registry.models import Zone
from lookout.safety.live import SafetyService, occupancy_from_payload
from lookout.safety.models import Alert, Gate, PlanItem
from lookout.security import accounts
from lookout.security.models import AuditRecord
from lookout.store.db import session_scope

pytestmark = pytest.mark.db


def test_screen_capacity_and_incident_flow(data_dir, db_url, safety_site):
    client = make_client(data_dir)
    ids = safety_site(zones=[("观景平台", 400, 2.0), ("入口排队区", 300, 1.0), ("古街", 5000, 10.0)], duty=[("site", "值班员", "http://127.0.0.1:9/x")],
                      timezone="Asia/Shanghai", opening_time="00:00")
    sid = ids["site_id"]
    with session_scope(db_url) as s:
        accounts.add_user(s, "t", "mgr", "pw-123456789", "site_manager", clearance=3, scope_site_id=sid)
        zone_q = s.execute(select(Zone.id).where(Zone.name == "入口排队区")).scalar_one()
        zone_p = s.execute(select(Zone.id).where(Zone.name == "观景平台")).scalar_one()
        s.add(Gate(site_id=sid, name="北门", queue_zone_id=zone_q, service_rate_per_min=30))
        _, key = accounts.issue_api_key(s, "t", "gates", sid)
    h = login(client, "mgr", "pw-123456789")

    # counts arrive through the counting API; the live path grades the fused occupancy
    now = datetime.now(timezone.utc)
    ts = (now - timedelta(seconds=5)).isoformat()
    r = client.post("/api/v1/counts", headers={"X-API-Key": key}, json=[
        {"source": "north-gate", "seq": 1, "ts": ts, "in": 3000, "out": 2080},
        {"source": "cam-platform", "seq": 1, "ts": ts, "present": 150, "zone": zone_p},
        {"source": "cam-queue", "seq": 1, "ts": ts, "present": 90, "zone": zone_q},
    ])
    assert r.status_code == 200, r.text
    svc = SafetyService(db_url, publish=lambda *a: None)
    svc.on_occupancy(sid, occupancy_from_payload(r.json()["occupancy"]), now)

    page = client.get(f"/screen/{sid}")
    assert page.status_code == 200 and "客流信息" in page.text and "http" not in page.text.split("<script>")[0].split("<style>")[0][200:]
    scr = client.get(f"/api/v1/screen/{sid}").json()  # public, no account
    assert scr["level"] == "orange" and scr["colour"] == "#ef6c00"
    assert scr["instant_max"] == 1000 and scr["daily_max"] == 10000
    assert scr["present"] == 920 and scr["percent"] == 92.0
    assert {z["name"]: (z["count"], z["capacity"]) for z in scr["zones"]} == {"观景平台": (150, 200), "入口排队区": (90, 300), "古街": (None, 500)}
    assert scr["queues"] == [{"gate": "北门", "queue_length": 90, "service_rate_per_min": 30.0, "wait_minutes": 3.0}]

    cap = client.get(f"/api/v1/sites/{sid}/capacity", headers=h).json()
    assert cap["computed"]["c1"] == 1000 and cap["computed"]["instant_source"] == "approved"
    r = client.put(f"/api/v1/sites/{sid}/capacity", headers=h, json={"daily_max": 8000, "zones": [{"id": cap["zones"][0]["id"], "per_capita_m2": 4.0}]})
    assert r.status_code == 200, r.text
    assert r.json()["daily_max"] == 8000 and r.json()["zones"][0]["capacity"] == 100
    assert client.put(f"/api/v1/sites/{sid}/capacity", headers=h, json={"opening_time": "27:00"}).status_code == 422
    assert client.put(f"/api/v1/sites/{sid}/capacity", headers=h, json={"thresholds": {"yellow": 95, "orange": 90}}).status_code == 422
    with session_scope(db_url) as s:
        rec = s.execute(select(AuditRecord).where(AuditRecord.entity == "site_capacity")).scalars().all()
        assert len(rec) == 1 and rec[0].before["daily_max"] == 10000 and rec[0].after["daily_max"] == 8000

    incs = client.get("/api/v1/incidents", headers=h).json()
    assert len(incs) == 1 and incs[0]["level"] == "orange"
    rep = client.get(f"/api/v1/incidents/{incs[0]['id']}", headers=h).json()
    assert rep["crowd_size"] == 920 and [e["level"] for e in rep["level_timeline"]] == ["orange"]
    keys = {a["key"] for a in rep["actions"]}
    assert {"stop_sales", "open_channels", "notify_duty"} <= keys  # yellow and orange checklists
    with session_scope(db_url) as s:
        item = s.execute(select(PlanItem).where(PlanItem.key == "limit_entry")).scalar_one()
        alert = s.execute(select(Alert)).scalar_one()
    r = client.post(f"/api/v1/plan-items/{item.id}/done", headers=h)
    assert r.status_code == 200 and r.json()["done_by"] == "mgr"
    r = client.post(f"/api/v1/alerts/{alert.id}/ack", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "acked" and r.json()["ack_seconds"] >= 0
    pdf = client.get(f"/api/v1/incidents/{incs[0]['id']}/report.pdf", headers=h)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and b"STSong-Light" in pdf.content
    assert client.get("/api/v1/screen/99999").status_code == 404
    client.cookies.clear()
    assert client.get(f"/api/v1/sites/{sid}/capacity").status_code == 401
