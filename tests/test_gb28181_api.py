"""REST for GB/T 28181: registrations scoped by site, admission alerts for unscoped accounts, acknowledgement."""

from __future__ import annotations

from datetime import timedelta

from foundation_helpers import login, make_client
from gb28181_helpers import IPC, NVR, seed
from sqlalchemy import select

from lookout.federation.gb28181.api import router
from lookout.federation.models import GbAdmissionAlert, GbRegistration
from lookout.registry.models import Site
from lookout.security import accounts
from lookout.security.models import AuditRecord
from lookout.store.base import utcnow
from lookout.store.db import session_scope

PW = "secret-pass"


def test_registrations_and_admission_alerts_over_rest(data_dir, db_url):
    ids = seed(db_url)
    now = utcnow()
    with session_scope(db_url) as s:
        other = Site(org_unit_id=s.get(Site, ids["site_id"]).org_unit_id, name="另一景区")
        s.add(other)
        s.flush()
        s.add_all([
            GbRegistration(code=NVR, device_id=ids["nvr_id"], remote_host="10.0.0.5", remote_port=5060,
                           registered_at=now, expires_at=now + timedelta(hours=1), online=True,
                           last_keepalive_at=now),
            GbRegistration(code=IPC, channel_id=ids["ipc_channel_id"], remote_host="10.0.0.6", remote_port=5060,
                           registered_at=now, expires_at=now - timedelta(seconds=1), online=True),
            GbAdmissionAlert(code="34020000001180000077", remote_host="10.0.0.99", remote_port=5060,
                             reason="device ID is not in the registry", first_seen=now, last_seen=now),
        ])
        accounts.add_user(s, "t", "op", PW, "operator", clearance=1)
        accounts.add_user(s, "t", "other_mgr", PW, "site_manager", scope_site_id=other.id, clearance=1)
        accounts.add_user(s, "t", "viewer", PW, "viewer", clearance=1)
    c = make_client(data_dir)
    c.app.include_router(router, prefix="/api/v1")
    op, mgr, viewer = (login(c, u, PW) for u in ("op", "other_mgr", "viewer"))

    r = c.get("/api/v1/gb28181/devices", headers=op)
    assert r.status_code == 200, r.text
    rows = {d["code"]: d for d in r.json()}
    assert rows[NVR]["online"] is True and rows[NVR]["site_id"] == ids["site_id"]
    assert rows[IPC]["online"] is False and rows[IPC]["registered"] is False  # its registration lapsed
    assert c.get("/api/v1/gb28181/devices", headers=mgr).json() == []  # another site's manager sees none

    (alert,) = c.get("/api/v1/gb28181/alerts", headers=op).json()
    assert (alert["code"], alert["host"]) == ("34020000001180000077", "10.0.0.99")
    assert c.get("/api/v1/gb28181/alerts", headers=mgr).json() == []
    assert c.post(f"/api/v1/gb28181/alerts/{alert['id']}/ack", headers=viewer).status_code == 403
    assert c.post(f"/api/v1/gb28181/alerts/{alert['id']}/ack", headers=mgr).status_code == 403
    r = c.post(f"/api/v1/gb28181/alerts/{alert['id']}/ack", headers=op)
    assert r.status_code == 200 and r.json()["acknowledged"] is True
    assert c.get("/api/v1/gb28181/alerts", headers=op).json() == []
    assert len(c.get("/api/v1/gb28181/alerts?all=true", headers=op).json()) == 1
    assert c.post("/api/v1/gb28181/alerts/999/ack", headers=op).status_code == 404
    with session_scope(db_url) as s:
        rec = s.execute(select(AuditRecord).where(AuditRecord.entity == "gb_admission_alert")).scalar_one()
        assert (rec.actor, rec.action) == ("op", "acknowledge")
