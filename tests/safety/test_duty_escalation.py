from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from lookout.safety import duty
from lookout.safety.engine import Occupancy
from lookout.safety.incidents import timeline
from lookout.safety.live import SafetyService
from lookout.safety.models import Alert, OutboxMessage
from lookout.store.db import session_scope

T0 = datetime(2026, 10, 1, 2, 0, tzinfo=timezone.utc)
HOOK = "http://127.0.0.1:9/hook"

pytestmark = pytest.mark.db


def alerts(db_url):
    with session_scope(db_url) as s:
        return [(a.tier, a.status, a.ack_seconds) for a in s.execute(select(Alert).order_by(Alert.id)).scalars()]


def test_unacknowledged_alert_escalates_to_district_then_city(db_url, safety_site):
    ids = safety_site(duty=[("site", "景区值班员", HOOK), ("district", "区文旅委值班员", HOOK), ("city", "市文旅委值班员", HOOK)])
    svc = SafetyService(db_url, publish=lambda *a: None)
    svc.on_occupancy(ids["site_id"], Occupancy(820), T0)
    assert alerts(db_url) == [("site", "open", None)]
    svc.tick(T0 + timedelta(seconds=179))
    assert alerts(db_url) == [("site", "open", None)]
    svc.tick(T0 + timedelta(seconds=180))  # default timeout: 3 minutes
    assert alerts(db_url) == [("site", "escalated", None), ("district", "open", None)]
    with session_scope(db_url) as s:
        district_alert = s.execute(select(Alert).where(Alert.tier == "district")).scalar_one()
        hooks = s.execute(select(OutboxMessage.key).where(OutboxMessage.key.like(f"alert:{district_alert.id}:%"))).scalars().all()
        assert len(hooks) == 1  # the district's person on duty is notified
        duty.acknowledge(s, district_alert.id, "district-operator", T0 + timedelta(seconds=200))
    svc.tick(T0 + timedelta(minutes=30))
    assert alerts(db_url) == [("site", "escalated", None), ("district", "acked", 20.0)]
    with session_scope(db_url) as s:
        kinds = [e.kind for e in timeline(s, 1)]
        assert kinds.count("escalation") == 1 and "ack" in kinds


def test_acknowledged_in_time_does_not_escalate_and_ack_time_is_stored(db_url, safety_site):
    ids = safety_site(duty=[("site", "景区值班员", HOOK), ("district", "区值班员", HOOK)], config={"ack_timeout_s": 60})
    svc = SafetyService(db_url, publish=lambda *a: None)
    svc.on_occupancy(ids["site_id"], Occupancy(960), T0)
    with session_scope(db_url) as s:
        a = s.execute(select(Alert)).scalar_one()
        assert a.deadline_at == T0 + timedelta(seconds=60)
        duty.acknowledge(s, a.id, "op", T0 + timedelta(seconds=42))
    svc.tick(T0 + timedelta(minutes=5))
    assert alerts(db_url) == [("site", "acked", 42.0)]


def test_tier_with_nobody_on_duty_is_skipped(db_url, safety_site):
    ids = safety_site(duty=[("district", "区值班员", HOOK)])
    svc = SafetyService(db_url, publish=lambda *a: None)
    svc.on_occupancy(ids["site_id"], Occupancy(900), T0)
    assert alerts(db_url) == [("district", "open", None)]


def test_shifts_cross_midnight():
    assert duty.on_shift("20:00", "08:00", 23 * 60)
    assert duty.on_shift("20:00", "08:00", 7 * 60)
    assert not duty.on_shift("20:00", "08:00", 12 * 60)
    assert duty.on_shift(None, None, 0)
