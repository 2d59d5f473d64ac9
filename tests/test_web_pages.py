"""Operator UI pages over HTTP: sign-in redirect, every page renders, scopes hide what an
account may not see, language switch, ledger import with row errors, acknowledge/escalate,
settings writes (audited), cross-site posts refused."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from health_helpers import open_order_by_two_patrols
from sqlalchemy import func, select

from lookout import demo
from lookout.api.app import create_app
from lookout.bootstrap import initialise
from lookout.registry.models import Channel, Site
from lookout.security.models import AuditRecord
from lookout.settings import load_settings
from lookout.store.base import utcnow
from lookout.store.db import session_scope

pytestmark = pytest.mark.db

PAGES = ("/overview", "/sites/1", "/wall", "/wall?layout=2", "/wall?layout=4", "/alerts", "/om", "/ledger",
         "/compliance", "/settings", "/cameras/1")


@pytest.fixture
def web(data_dir, db_url):
    settings = load_settings(data_dir=data_dir)
    initialise(settings)
    with session_scope(db_url) as s:
        demo.seed(s)
    return TestClient(create_app(settings)), db_url


def login(client: TestClient, user: str) -> TestClient:
    r = client.post("/api/v1/auth/login", json={"username": user, "password": demo.DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    return client


def raise_yellow(db_url: str, site_id: int = 1) -> int:
    """Drive a demo site to yellow through the live safety path; returns the open alert's id."""
    from lookout.safety.live import SafetyService
    from lookout.safety.models import Alert, DutyMember

    with session_scope(db_url) as s:
        s.add(DutyMember(site_id=site_id, name="值班员甲", username="operator"))
    now = datetime.now(timezone.utc)
    SafetyService(db_url, publish=lambda *a: None).on_occupancy(
        site_id, demo_occupancy(site_id, 0.85, now), now)
    with session_scope(db_url) as s:
        return s.execute(select(Alert.id).where(Alert.site_id == site_id, Alert.status == "open")).scalar_one()


def demo_occupancy(site_id: int, ratio: float, now: datetime):
    from lookout.safety.engine import Occupancy
    from lookout.web.queries import local_day_bounds

    site = demo.SITES[site_id - 1]
    instant = sum(int(area / per_capita) for _, area, per_capita in site.zones)
    return Occupancy(present=int(instant * 0.5), entered_today=int(site.daily_max * ratio),
                     zones={demo.SITES[site_id - 1].zones[0][0]: 123}, day=local_day_bounds(now, "Asia/Shanghai")[2])


def test_signed_out_pages_redirect_to_sign_in(web):
    client, _ = web
    for path in PAGES:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next=")
    r = client.get("/login")
    assert r.status_code == 200 and "登录" in r.text


def test_every_page_renders_for_admin_without_external_addresses(web):
    client, _ = web
    login(client, "admin")
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert "仙女湖景区" in r.text, path
        for url in re.findall(r"""(?:src|href)=["']([^"']+)""", r.text):
            assert url.startswith(("/", "#", "?")), f"{path} refers to {url}"


def test_overview_shows_live_figures_and_levels(web):
    client, db_url = web
    raise_yellow(db_url)
    r = login(client, "operator").get("/overview")
    assert 'data-site-level="1"' in r.text and "lv-yellow" in r.text
    assert f"{int(demo.SITES[0].daily_max * 0.85):,}" in r.text  # visitors today: 85 % of the daily maximum
    r = client.get("/sites/1")
    assert "123" in r.text and "入口广场" in r.text
    assert "/alerts?incident=" in r.text


def test_site_manager_sees_only_their_site(web):
    client, db_url = web
    login(client, "manager")
    for path in ("/overview", "/ledger", "/compliance", "/wall?layout=4", "/om", "/settings", "/alerts"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "三桥峡谷景区" not in r.text and "山城大酒店" not in r.text, path
    assert client.get("/sites/2").status_code == 404
    export = client.get("/ledger/export.csv").text
    assert "仙女湖景区" in export and "三桥峡谷景区" not in export


def test_clearance_hides_police_cameras(web):
    client, db_url = web
    with session_scope(db_url) as s:
        ch = s.execute(select(Channel).where(Channel.site_id == 1).order_by(Channel.id)).scalars().first()
        ch.resource_class, ch.name = 1, "公安专用摄像机"
    login(client, "manager")  # clearance 3
    for path in ("/sites/1", "/ledger", "/wall?layout=4"):
        assert "公安专用摄像机" not in client.get(path).text, path
    client.cookies.clear()
    login(client, "admin")  # clearance 1
    assert "公安专用摄像机" in client.get("/ledger").text


def test_language_switch(web):
    client, _ = web
    login(client, "admin")
    assert "区域总览" in client.get("/overview").text
    r = client.get("/lang/en?next=/overview", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/overview"
    assert "lookout_lang=en" in r.headers["set-cookie"]
    page = client.get("/overview").text
    assert "District overview" in page and "Visitors now" in page and 'lang="en"' in page
    assert "Overview" in client.get("/overview?lang=en").text
    assert "区域总览" in client.get("/overview?lang=zh").text


def test_external_next_is_not_followed(web):
    client, _ = web
    r = client.get("/lang/en?next=//evil.example/", follow_redirects=False)
    assert r.headers["location"] == "/overview"
    assert 'data-next="/overview"' in client.get("/login?next=https://evil.example/").text


def test_ledger_import_shows_row_errors_and_writes_nothing(web, tmp_path):
    client, db_url = web
    login(client, "admin")
    with session_scope(db_url) as s:
        before = s.execute(select(func.count(Channel.id))).scalar_one()
    bad = "site,channel_code,channel_name\n新景区,50015600001320009001,好摄像机\n新景区,123,坏编码\n"
    r = client.post("/ledger/import", files={"file": ("ledger.csv", bad.encode(), "text/csv")})
    assert r.status_code == 422
    assert 'id="row-errors"' in r.text and "channel_code" in r.text and "<td>3</td>" in r.text
    with session_scope(db_url) as s:
        assert s.execute(select(func.count(Channel.id))).scalar_one() == before
    good = "site,channel_code,channel_name\n新景区,50015600001320009001,好摄像机\n"
    r = client.post("/ledger/import", files={"file": ("ledger.csv", good.encode(), "text/csv")})
    assert r.status_code == 200, r.text
    with session_scope(db_url) as s:
        assert s.execute(select(func.count(Channel.id))).scalar_one() == before + 1
    assert "好摄像机" in client.get("/ledger?q=好摄像机").text
    r = client.post("/ledger/import", files={"file": ("ledger.txt", b"x", "text/plain")})
    assert r.status_code == 422 and "unknown ledger format" in r.text


def test_ledger_import_refuses_rows_outside_scope(web):
    client, db_url = web
    login(client, "om")  # O&M may import; give it a district-less scope: one site's org unit subtree
    with session_scope(db_url) as s:
        from lookout.security.models import User

        om = s.execute(select(User).where(User.username == "om")).scalar_one()
        om.scope_site_id = 1
    csv = "site,channel_code,channel_name\n三桥峡谷景区,50015600001320009002,越权\n"
    r = client.post("/ledger/import", files={"file": ("l.csv", csv.encode(), "text/csv")})
    assert r.status_code == 422 and "outside this account" in r.text
    with session_scope(db_url) as s:
        assert s.execute(select(Channel).where(Channel.code == "50015600001320009002")).first() is None


def test_acknowledge_and_escalate_from_the_alert_centre(web):
    client, db_url = web
    alert_id = raise_yellow(db_url)
    login(client, "operator")
    page = client.get("/alerts").text
    assert f'data-ack="{alert_id}"' in page and "通知值班人员并确认" in page
    r = client.post(f"/alerts/ack/{alert_id}", follow_redirects=False)
    assert r.status_code == 303
    from lookout.safety.models import Alert, DutyMember

    with session_scope(db_url) as s:
        a = s.get(Alert, alert_id)
        assert a.status == "acked" and a.acked_by == "operator" and a.ack_seconds is not None
        s.add(DutyMember(org_unit_id=2, name="区值班员"))
    page = client.get(r.headers["location"]).text
    assert "已确认" in page and f'data-ack="{alert_id}"' not in page
    r = client.post(f"/alerts/escalate/{alert_id}", follow_redirects=False)
    assert r.status_code == 303 and "escalated" in r.headers["location"]
    with session_scope(db_url) as s:
        tiers = [a.tier for a in s.execute(select(Alert).order_by(Alert.id)).scalars()]
        assert tiers == ["site", "district"]
        assert s.execute(select(AuditRecord).where(AuditRecord.action == "escalate")).first() is not None
    pdf = client.get(f"/alerts/{a.incident_id}/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_viewer_may_not_acknowledge_and_cross_site_posts_are_refused(web):
    client, db_url = web
    alert_id = raise_yellow(db_url)
    with session_scope(db_url) as s:
        from lookout.security import accounts

        accounts.add_user(s, "test", "watcher", demo.DEMO_PASSWORD, "viewer")
    login(client, "watcher")
    assert client.post(f"/alerts/ack/{alert_id}").status_code == 403
    client.cookies.clear()
    login(client, "operator")
    r = client.post(f"/alerts/ack/{alert_id}", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    from lookout.safety.models import Alert

    with session_scope(db_url) as s:
        assert s.get(Alert, alert_id).status == "open"


def test_settings_capacity_duty_and_users(web):
    client, db_url = web
    login(client, "admin")
    r = client.post("/settings/site/1", data={"daily_max": "1500", "instant_max": "", "yellow": "70",
                                               "orange": "85", "red": "95"}, follow_redirects=False)
    assert r.status_code == 303
    with session_scope(db_url) as s:
        site = s.get(Site, 1)
        assert site.daily_max == 1500 and site.thresholds["yellow"] == 70.0
        assert s.execute(select(AuditRecord).where(AuditRecord.entity == "site", AuditRecord.action == "update")).first()
    r = client.post("/settings/site/1", data={"daily_max": "-3", "yellow": "80", "orange": "90", "red": "95"})
    assert r.status_code == 422 and "daily_max" in r.text
    r = client.post("/settings/site/1", data={"daily_max": "100", "yellow": "96", "orange": "90", "red": "95"})
    assert r.status_code == 422
    with session_scope(db_url) as s:
        assert s.get(Site, 1).daily_max == 1500
    r = client.post("/settings/duty", data={"name": "李四", "where": "site:2", "shift_start": "08:00",
                                            "shift_end": "20:00", "phone": "13900000000"}, follow_redirects=False)
    assert r.status_code == 303
    assert "李四" in client.get("/settings").text
    assert client.post("/settings/duty", data={"name": "王五", "where": "site:2", "shift_start": "8am"}).status_code == 422
    r = client.post("/settings/users", data={"username": "city1", "password": "secret-1", "role": "official",
                                             "scope": "org:1", "clearance": "2"}, follow_redirects=False)
    assert r.status_code == 303
    assert "city1" in client.get("/settings").text
    assert client.post("/settings/users", data={"username": "city1", "password": "secret-1"}).status_code == 422
    client.cookies.clear()
    login(client, "operator")
    assert client.get("/settings").status_code == 403
    assert client.post("/settings/site/1", data={"daily_max": "1"}).status_code == 403


def test_settings_forecast_inputs(web):
    """A site manager gives tomorrow's rain and a planned event; a bad value is refused, naming it."""
    from datetime import timedelta

    from lookout.safety.models import ForecastInput

    client, db_url = web
    login(client, "manager")
    day = (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat()
    page = client.get("/settings").text
    assert 'id="input-form"' in page and "活动/节庆规模" in page
    r = client.post("/settings/forecast-input", data={"site": "1", "day": day, "name": "event", "value": "1"},
                    follow_redirects=False)
    assert r.status_code == 303
    r = client.post("/settings/forecast-input", data={"site": "1", "day": day, "name": "rain_mm", "value": "-4"})
    assert r.status_code == 422 and "value -4.0 of rain_mm is outside 0…500" in r.text
    assert client.post("/settings/forecast-input", data={"site": "1", "day": "tomorrow", "name": "event",
                                                         "value": "1"}).status_code == 422
    with session_scope(db_url) as s:
        rows = s.execute(select(ForecastInput.site_id, ForecastInput.name, ForecastInput.value)).all()
    assert rows == [(1, "event", 1.0)]
    assert day in client.get("/settings").text
    client.cookies.clear()
    login(client, "operator")
    assert client.post("/settings/forecast-input", data={"site": "1", "day": day, "name": "event",
                                                         "value": "2"}).status_code == 403


def test_site_view_uses_counts_and_forecast(web):
    client, db_url = web
    from datetime import timedelta

    from lookout.counting.models import CountSample, CountSource
    from lookout.registry.models import Zone
    from lookout.safety.models import HourlyHistory

    now = datetime.now(timezone.utc)
    with session_scope(db_url) as s:
        zone = s.execute(select(Zone).where(Zone.site_id == 1, Zone.name == "观景台")).scalar_one()
        src = CountSource(site_id=1, name="观景台相机", kind="presence", zone_id=zone.id)
        s.add(src)
        s.flush()
        s.add(CountSample(source_id=src.id, seq=1, ts=now - timedelta(seconds=30), present=87))
        hour = now.replace(minute=0, second=0, microsecond=0)
        for h in range(1, 24 * 15):  # two weeks of hourly history for the forecast
            s.add(HourlyHistory(site_id=1, hour_start=hour - timedelta(hours=h), arrivals=50 + h % 24,
                                peak_present=10))
    page = login(client, "admin").get("/sites/1").text
    assert 'data-zone-count="1:观景台"' in page
    cell = re.search(r'data-zone-count="1:观景台"[^>]*>([^<]+)<', page).group(1)
    assert cell == "87"
    curve = re.search(r'<script type="application/json" id="curve-data">(.*?)</script>', page, re.S).group(1)
    import json

    data = json.loads(curve)
    assert len(data["hours"]) == 24 and data["hours"][0] == "00:00"
    now_idx = int((now - datetime.fromtimestamp(data["ts"][0], timezone.utc)).total_seconds() // 3600)
    if now_idx < 23:  # after 23:00 local there is no rest of the day to forecast
        assert data["forecast"] is not None
        later = [v for v in data["forecast"][now_idx + 1:] if v is not None]
        assert later and later == sorted(later)


def test_om_page_counts_channels_without_a_reference_view(web):
    import re

    from lookout.health.models import ChannelReference

    client, db_url = web
    login(client, "manager")  # sees one site

    def shown() -> int:
        html = client.get("/om").text
        m = re.search(r'id="kpi-no-reference".*?<div class="v">([\d,]+)</div>', html, re.S)
        assert m, "no-reference figure missing"
        return int(m.group(1).replace(",", ""))

    with session_scope(db_url) as s:
        site1 = s.execute(select(Channel.id).where(Channel.site_id == 1).order_by(Channel.id)).scalars().all()
    assert shown() == len(site1)
    with session_scope(db_url) as s:
        s.add(ChannelReference(channel_id=site1[0], path="health/references/x.jpg",
                               taken_at=datetime(2026, 11, 22, tzinfo=timezone.utc), taken_by="om"))
    assert shown() == len(site1) - 1
    assert "标记基准画面" in client.get("/om").text


def test_om_page_offers_a_preset_call_for_a_turned_camera_reached_over_gb28181(web):
    """An open scene-change order on a camera whose recorder is registered over GB/T 28181 gets a
    preset call beside it; other orders, closed ones, and cameras not reached that way do not."""
    from datetime import timedelta

    from gb28181_helpers import running_server

    from lookout.federation.models import GbRegistration
    from lookout.health.models import WorkOrder
    from lookout.registry.models import Device

    client, db_url = web
    login(client, "om")
    now = datetime.now(timezone.utc)
    with session_scope(db_url) as s:
        c1, c2 = s.execute(select(Channel).where(Channel.site_id == 1).order_by(Channel.id).limit(2)).scalars()
        for ch, fault in ((c1, "scene_change"), (c1, "blur"), (c2, "scene_change")):
            s.add(WorkOrder(channel_id=ch.id, site_id=1, fault=fault, status="open", open_key=f"{ch.id}:{fault}",
                            opened_at=now, deadline_at=now + timedelta(hours=4)))
        ids = (c1.id, c2.id)
    with session_scope(db_url) as s:
        nvr = s.get(Device, s.get(Channel, ids[0]).device_id)
        s.add(GbRegistration(code=nvr.code, device_id=nvr.id, remote_host="127.0.0.1", remote_port=5060,
                             registered_at=now, expires_at=now + timedelta(hours=1), online=True))
    assert "data-call-preset" not in client.get("/om").text  # registered, but no SIP server runs here
    with running_server(db_url):
        html = client.get("/om").text
        assert html.count("data-call-preset=") == 2 and f'data-call-preset="{ids[0]}"' in html  # c2 shares the NVR
        with session_scope(db_url) as s:
            for wo in s.execute(select(WorkOrder).where(WorkOrder.fault == "scene_change")).scalars():
                wo.status, wo.open_key = "closed", None
        assert "data-call-preset" not in client.get("/om").text


def test_camera_page_shows_each_fault_against_its_threshold_and_its_orders(web):
    """A camera's page: the last diagnosis' score for every fault beside the threshold that applies
    (the camera's own over the deployment's), in Chinese; its work order, which O&M may close from
    here and an official watching may not; the O&M page links to it and names the fault in Chinese."""
    client, db_url = web
    with session_scope(db_url) as s:
        ch = s.execute(select(Channel).where(Channel.site_id == 1).order_by(Channel.id)).scalars().first()
        cid, name = ch.id, ch.name
    open_order_by_two_patrols(db_url, cid, ["blur"], {"blur": 81.0, "noise": 12.0, "occlusion": 3.0})
    login(client, "om")
    r = client.put(f"/api/v1/health/channels/{cid}/thresholds", json={"noise": 10})
    assert r.status_code == 200, r.text

    html = client.get(f"/cameras/{cid}").text
    row = lambda f: re.search(rf'<tr data-fault="{f}">(.*?)</tr>', html, re.S).group(1)  # noqa: E731
    assert "图像模糊" in row("blur") and '>81<' in row("blur") and "超限" in row("blur")
    assert re.search(r'data-effective="blur">50<', row("blur"))
    assert re.search(r'data-effective="noise">10<', row("noise")) and 'value="10"' in row("noise")
    assert "超限" not in row("noise") and "未单独报告" in row("noise")  # judged with the thresholds of its time
    assert "正常" in row("occlusion") and "—" in row("frozen")
    assert 'data-close-order=' in html and "待处理" in html and name in html
    om_html = client.get("/om").text
    assert f'href="/cameras/{cid}"' in om_html and "图像模糊" in om_html and "repair-stats" in om_html

    viewer = TestClient(client.app)
    login(viewer, "official")  # watches, does not repair
    vhtml = viewer.get(f"/cameras/{cid}").text
    assert "图像模糊" in vhtml and "data-close-order" not in vhtml and "data-threshold=" not in vhtml
    assert client.get("/cameras/999999").status_code == 404


def test_site_page_offers_om_the_sites_fault_thresholds(web):
    """O&M sees the site's fault thresholds beside the deployment's and may set them; an official
    watching does not get the editor; a camera of the site shows the site's value as what applies."""
    client, db_url = web
    with session_scope(db_url) as s:
        cid = s.execute(select(Channel.id).where(Channel.site_id == 1).order_by(Channel.id)).scalars().first()
    login(client, "om")
    assert client.put("/api/v1/health/sites/1/thresholds", json={"blur": 72}).status_code == 200
    html = client.get("/sites/1").text
    assert 'id="site-thresholds"' in html and "视频质量诊断阈值" in html and "本景区阈值" in html
    row = re.search(r'<tr data-fault="blur">(.*?)</tr>', html, re.S).group(1)
    assert "图像模糊" in row and 'value="72"' in row and 'data-effective="blur">72<' in row and ">50<" in row
    cam = client.get(f"/cameras/{cid}").text
    assert re.search(r'data-effective="blur">72<', cam) and 'placeholder="72"' in cam
    official = TestClient(client.app)
    login(official, "official")
    assert 'id="site-thresholds"' not in official.get("/sites/1").text
    # frozen not judged at the site: both pages say so, and the box is ticked on the site's
    assert client.put("/api/v1/health/sites/1/thresholds", json={"frozen": None}).status_code == 200
    row = re.search(r'<tr data-fault="frozen">(.*?)</tr>', client.get("/sites/1").text, re.S).group(1)
    assert 'data-effective="frozen">不诊断<' in row and re.search(r'data-off="frozen"\s+checked', row)
    cam = re.search(r'<tr data-fault="frozen">(.*?)</tr>', client.get(f"/cameras/{cid}").text, re.S).group(1)
    assert 'data-effective="frozen">不诊断<' in cam and 'placeholder="不诊断"' in cam
    assert 'data-result="frozen"><span class="muted">不诊断<' in cam
    assert client.delete("/api/v1/health/sites/1/thresholds").status_code == 200


def test_camera_page_shows_the_reference_the_picture_was_judged_against(web, tmp_path):
    """A camera touring two presets: the latest picture is shown beside the preset's reference it was
    judged against (not the first preset's), and the history names the preset."""
    import numpy as np

    from lookout.health.models import DiagnosisRecord
    from lookout.health.patrol import set_reference

    client, db_url = web
    with session_scope(db_url) as s:
        ch = s.execute(select(Channel).where(Channel.site_id == 1).order_by(Channel.id)).scalars().first()
        cid = ch.id
        data_dir = Path(client.app.state.settings.data_dir)
        for preset in ("1", "2"):
            set_reference(s, data_dir, ch, np.full((96, 128, 3), 80, np.uint8), "om", utcnow(), preset=preset)
        s.add(DiagnosisRecord(channel_id=cid, at=utcnow(), online=True, faults=["blur"], scores={"blur": 70.0},
                              frames=3, used_reference=True, reference_preset="2", snapshot_path="health/x.jpg"))
    login(client, "om")
    html = client.get(f"/cameras/{cid}").text
    assert re.search(r'id="reference-picture"[^>]*reference\.jpg\?preset=2"', html), html
    assert "预置位 2" in html


def test_orders_page_lists_filters_and_pages_the_work_orders(web):
    """The orders page: by default every order not closed, filtered by state, fault, one's own and
    overdue; only what the account may see; the O&M page links to it."""
    from lookout.health.models import WorkOrder

    client, db_url = web
    with session_scope(db_url) as s:
        c1, c2 = s.execute(select(Channel.id).where(Channel.site_id == 1).order_by(Channel.id).limit(2)).scalars()
        other = s.execute(select(Channel.id).where(Channel.site_id != 1).order_by(Channel.id)).scalars().first()
    blur = open_order_by_two_patrols(db_url, c1, ["blur"], {"blur": 80.0})
    noise = open_order_by_two_patrols(db_url, c2, ["noise"], {"noise": 90.0})
    away = open_order_by_two_patrols(db_url, other, ["signal_loss"], {"signal_loss": 100.0})
    with session_scope(db_url) as s:
        closed = s.get(WorkOrder, noise)
        closed.status, closed.open_key, closed.closed_at, closed.close_note = "closed", None, utcnow(), "换了镜头"
        s.get(WorkOrder, away).assignee = "someone_else"
    login(client, "om")
    assert 'href="/om/orders"' in client.get("/om").text

    def listed(query=""):
        r = client.get("/om/orders" + query)
        assert r.status_code == 200, r.text
        return [int(x) for x in re.findall(r'<tr data-order="(\d+)"', r.text)], r.text

    ids, html = listed()
    assert set(ids) == {blur, away} and "图像模糊" in html and "未关闭" in html
    ids, html = listed("?status=closed")
    assert ids == [noise] and "换了镜头" in html and "已关闭" in html
    assert set(listed("?status=all")[0]) == {blur, noise, away}
    assert listed("?mine=true")[0] == [blur]  # the site's O&M contact is "om"
    assert listed("?status=all&fault=noise")[0] == [noise]
    assert listed("?overdue=true")[0] == []  # 24 h to repair: none overdue yet
    assert set(listed("?status=bogus")[0]) == {blur, noise, away}  # an unknown state filters nothing
    manager = TestClient(client.app)
    login(manager, "manager")  # sees site 1 only
    r = manager.get("/om/orders?status=all")
    assert set(int(x) for x in re.findall(r'<tr data-order="(\d+)"', r.text)) == {blur, noise}
    # the same filters export every matching order as CSV for Excel (audited)
    assert 'href="/om/orders.csv?status=closed"' in listed("?status=closed")[1]
    r = client.get("/om/orders.csv?status=all&fault=noise")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv") and r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:6] == ["工单号", "场所", "名称", "国标编码", "故障", "状态"]
    assert [(x[0], x[4], x[5], x[-1]) for x in rows[1:]] == [(str(noise), "雪花噪声", "已关闭", "换了镜头")]
    mine = list(csv.reader(io.StringIO(manager.get("/om/orders.csv?status=all").content.decode("utf-8-sig"))))
    assert [x[0] for x in mine[1:]] == [str(blur), str(noise)]  # the manager's site only: open first
    with session_scope(db_url) as s:
        assert s.execute(select(func.count()).select_from(AuditRecord).where(
            AuditRecord.action == "export", AuditRecord.entity == "work_order")).scalar_one() == 2


def test_an_orders_page_tells_its_story_in_chinese(web):
    """A work order's page: opened by two patrols, closed by the engineer with a note, the re-check
    still finding the fault (reopened), then escalated once overdue; each step in Chinese with who and
    when, the engineer's note as written; out of scope is 404."""
    from datetime import timedelta

    from lookout.health import workorders
    from lookout.health.models import DiagnosisRecord, WorkOrder

    client, db_url = web
    with session_scope(db_url) as s:
        cid = s.execute(select(Channel.id).where(Channel.site_id == 1).order_by(Channel.id)).scalars().first()
        other = s.execute(select(Channel.id).where(Channel.site_id != 1).order_by(Channel.id)).scalars().first()
    oid = open_order_by_two_patrols(db_url, cid, ["blur"], {"blur": 80.0})
    away = open_order_by_two_patrols(db_url, other, ["noise"], {"noise": 90.0})
    with session_scope(db_url) as s:
        o = s.get(WorkOrder, oid)
        now = utcnow()
        workorders.request_close(s, o, "om", "已重新对焦", now)
        s.add(DiagnosisRecord(channel_id=cid, at=now + timedelta(seconds=5), online=True, faults=["blur"],
                              scores={"blur": 77.0}, frames=3, used_reference=True, trigger="recheck"))
        s.flush()
        workorders.process_diagnoses(s, [cid], now + timedelta(seconds=6))
        workorders.escalate_overdue(s, o.deadline_at + timedelta(hours=3))
    login(client, "manager")  # sees site 1 only
    html = client.get(f"/om/orders/{oid}").text
    steps = re.findall(r'<tr data-step="(\w+)">(.*?)</tr>', html, re.S)
    assert [k for k, _ in steps] == ["opened", "close_requested", "recheck_failed", "escalated"]
    text = dict(steps)
    assert "开单：连续巡检发现图像模糊" in text["opened"]
    assert "申请关单" in text["close_requested"] and "已重新对焦" in text["close_requested"] and ">om<" in text["close_requested"]
    assert "复核未通过，工单重新打开" in text["recheck_failed"] and "复核仍发现图像模糊 (77)" in text["recheck_failed"]
    assert re.search(r"超期 3\.\d 小时，升级至第 1 级", text["escalated"])
    assert "待处理" in html and "超期" in html and f'href="/cameras/{cid}"' in html
    assert client.get(f"/om/orders/{away}").status_code == 404
    assert client.get("/om/orders/999999").status_code == 404
    assert f'href="/om/orders/{oid}"' in client.get("/om/orders").text


def test_camera_page_is_out_of_reach_outside_the_accounts_scope(web):
    client, db_url = web
    login(client, "manager")  # sees site 1 only
    with session_scope(db_url) as s:
        other = s.execute(select(Channel.id).where(Channel.site_id != 1)).scalars().first()
        mine = s.execute(select(Channel.id).where(Channel.site_id == 1)).scalars().first()
    assert client.get(f"/cameras/{other}").status_code == 404
    assert client.get(f"/cameras/{mine}").status_code == 200


def test_filter_forms_choosing_all_sites_are_answered(web):
    """A filter form's "all sites" option sends the site empty: every page with one answers it as no
    filter rather than refusing the request; a site that is not a number is still refused."""
    client, _ = web
    login(client, "admin")
    for path in ("/om?q=&site=&status=", "/om/orders?status=live&site=&fault=", "/ledger?q=&site=&status=",
                 "/alerts?site=", "/wall?site=", "/ledger/export.csv?site="):
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
    assert client.get("/om?site=abc").status_code == 422


def test_pages_tell_the_online_rate_and_the_normal_rate_apart(web):
    """A camera with a picture fault delivers video: it counts for the online rate (在线率) but not for
    the normal rate (点位正常率, the measure the 98 % / 95 % targets are set on) — the same on the
    overview, the O&M page and the compliance page."""
    client, db_url = web
    with session_scope(db_url) as s:
        chans = s.execute(select(Channel).where(Channel.site_id == 1).order_by(Channel.id)).scalars().all()
        n = len(chans)
        assert n >= 3
        for ch, st in zip(chans, ["fault", "offline"] + ["online"] * (n - 2)):
            ch.status = st
    login(client, "manager")  # scoped to site 1: every figure is that site's
    online, normal = f"{100 * (n - 1) / n:.1f}%", f"{100 * (n - 2) / n:.1f}%"
    page = client.get("/overview").text
    row = re.search(r'<tr data-site-row="1".*?</tr>', page, re.S).group(0)
    assert f"{online} <span" in row and f'data-site-normal="1">{normal}<' in row
    kpi = re.search(r'id="kpi-normal">.*?</div></div>', page, re.S).group(0)
    assert normal in kpi and f"{n - 2} / {n}" in kpi
    om = client.get("/om").text
    assert f'<div class="v">{online}</div>' in om and normal in re.search(r'id="kpi-normal">.*?</div></div>', om, re.S).group(0)


def test_compliance_rates_a_month_from_the_online_history(web):
    """The compliance page's online and normal rates are over a month's time, from the online history:
    one camera online all month with a blurred picture from the 16th, one offline all month → the site
    online 50 %, normal 25 %; a month without history reads "—"."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from lookout.health import status

    client, db_url = web
    sh = ZoneInfo("Asia/Shanghai")
    this = datetime.now(sh).date().replace(day=1)
    first = (this - timedelta(days=1)).replace(day=1)  # last month: complete
    days = (this - first).days
    start = datetime(first.year, first.month, 1, tzinfo=sh)
    with session_scope(db_url) as s:
        a, b = s.execute(select(Channel).where(Channel.site_id == 1).order_by(Channel.id).limit(2)).scalars().all()
        status.apply_status(s, a, "online", "picture received", "patrol", start)
        status.apply_status(s, b, "offline", "stream probe failed: refused", "probe", start)
        status.apply_status(s, a, "fault", "picture faults: blur", "patrol", start + timedelta(days=15))
        a_id, b_id = a.id, b.id
    login(client, "manager")
    comp = client.get(f"/compliance?month={first:%Y-%m}").text
    row = re.search(r'<table class="list" id="comp-site">.*?</table>', comp, re.S).group(0)
    online, normal = "50.0%", f"{100 * 15 / (2 * days):.1f}%"
    assert re.findall(r'<td class="n[^"]*">([^<]*)</td>', row)[2:4] == [online, normal], row
    assert f"{first.isoformat()} 至 {(this - timedelta(days=1)).isoformat()}" in comp
    older = client.get(f"/compliance?month={(first - timedelta(days=40)):%Y-%m}").text
    row = re.search(r'<table class="list" id="comp-site">.*?</table>', older, re.S).group(0)
    assert re.findall(r'<td class="n[^"]*">([^<]*)</td>', row)[2:4] == ["—", "—"]
    assert client.get("/compliance?month=not-a-month").status_code == 200  # this month
    # a camera's page: its last 7 days (the blurred picture since the 16th of last month)
    rates = re.search(r'id="camera-rates">.*?</p>', client.get(f"/cameras/{a_id}").text, re.S).group(0)
    assert "近 7 天" in rates and "在线率 <b>100.0%</b>" in rates and "正常率 <b>0.0%</b>" in rates, rates
    assert "在线率 <b>0.0%</b>" in re.search(r'id="camera-rates">.*?</p>', client.get(f"/cameras/{b_id}").text, re.S).group(0)
    r = client.get(f"/compliance.csv?month={first:%Y-%m}")  # the same figures for a report
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:6] == ["统计月份", "场所", "通道数", "联网率", "在线率", "正常率"]
    (site,) = [x for x in rows[1:] if x[1] == "仙女湖景区"]
    assert site[0] == f"{first:%Y-%m}" and site[4:6] == [online[:-1], normal[:-1]]
    assert rows[-1][1] == "全部"


def test_a_patrols_report_lists_what_it_found_per_site_and_camera(web, data_dir):
    """The O&M page links the patrol runs; a run's report (巡检报告) counts normal, faulty and offline
    cameras per site with a count per fault, lists each camera's result (offline and faulty first) and
    exports as CSV for Excel (audited); a site manager sees only their site's cameras in it, and a run
    that patrolled none of them is not found."""
    from lookout.health.patrol import PatrolConfig, PatrolResult, store_results

    client, db_url = web
    with session_scope(db_url) as s:
        site1 = s.execute(select(Channel.id).where(Channel.site_id == 1).order_by(Channel.id)).scalars().all()[:3]
        site2 = s.execute(select(Channel.id).where(Channel.site_id == 2).order_by(Channel.id)).scalars().all()[:1]
        results = [PatrolResult(site1[0], True, frames=3), PatrolResult(site1[1], True, faults=["blur"], scores={"blur": 81.0}),
                   PatrolResult(site1[2], False, error="connection refused: nothing listens at that address"),
                   PatrolResult(site2[0], True, faults=["blur", "too_dark"], scores={"blur": 70.0, "too_dark": 90.0})]
        run, _ = store_results(s, results, utcnow(), PatrolConfig(), Path(data_dir))
        both = run.id
        only2, _ = store_results(s, [PatrolResult(site2[0], True)], utcnow(), PatrolConfig(), Path(data_dir))
        only2 = only2.id
    login(client, "admin")
    assert 'href="/om/patrols"' in client.get("/om").text
    listing = client.get("/om/patrols").text
    row = re.search(rf'<tr data-run="{both}">.*?</tr>', listing, re.S).group(0)
    assert "定时巡检" in row and re.findall(r'<td class="n">(?:<span[^>]*>)?(\d+)', row)[:4] == ["4", "3", "2", "1"]
    page = client.get(f"/om/patrols/{both}").text
    assert f"巡检报告 {both}" in page
    totals = dict(re.findall(r'data-total="(\w+)"><div class="k">[^<]*</div><div class="v">(\d+)<', page))
    assert totals == {"normal": "1", "fault": "2", "offline": "1"}
    s1 = re.search(r'<tr data-site="1">.*?</tr>', page, re.S).group(0)
    assert "图像模糊 1" in s1 and "过暗" not in s1
    assert "图像模糊 1 · 画面过暗 1" in re.search(r'<tr data-site="2">.*?</tr>', page, re.S).group(0)
    outcomes = re.findall(r'data-outcome="(\w+)"', page)
    assert outcomes == ["offline", "fault", "fault", "normal"]
    r = client.get(f"/om/patrols/{both}/report.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["场所", "名称", "国标编码", "巡检结果", "故障"] and len(rows) == 5
    assert rows[1][3] == "离线" and rows[1][5] == "连接被拒绝：该地址无服务监听"  # the reader's reason, in Chinese
    assert [x[3] for x in rows[1:]] == ["离线", "画面故障", "画面故障", "正常"]
    assert "图像模糊、画面过暗" in [x[4] for x in rows[1:]]
    with session_scope(db_url) as s:
        assert s.execute(select(AuditRecord).where(AuditRecord.action == "export",
                                                   AuditRecord.entity == "patrol_run")).scalars().all()
    assert "Patrol report" in client.get(f"/om/patrols/{both}?lang=en").text
    assert client.get("/om/patrols/999999").status_code == 404

    client.cookies.clear()
    login(client, "manager")  # site 1 only
    row = re.search(rf'<tr data-run="{both}">.*?</tr>', client.get("/om/patrols").text, re.S).group(0)
    assert re.findall(r'<td class="n">(?:<span[^>]*>)?(\d+)', row)[:2] == ["3", "2"]
    page = client.get(f"/om/patrols/{both}").text
    assert re.findall(r'data-outcome="(\w+)"', page) == ["offline", "fault", "normal"]
    assert 'data-site="2"' not in page
    assert client.get(f"/om/patrols/{only2}").status_code == 404
    assert client.get(f"/om/patrols/{only2}/report.csv").status_code == 404
