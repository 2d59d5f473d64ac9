"""The demo district: a city, one district, two scenic areas and a hotel, with their NVRs, cameras,
zones and an entrance line, and an account for each role."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from lookout.registry import gbcode, service
from lookout.registry.models import Channel, CountingLine, Device, Site, Zone, default_retention_days
from lookout.security import accounts
from lookout.security.models import User

log = logging.getLogger(__name__)

CITY = ("重庆市", "500000")
DISTRICT = ("武隆区", "500156")
DIVISION = "50015600"


@dataclass(frozen=True)
class DemoSite:
    name: str
    category: str
    a_level: int | None
    daily_max: int
    cameras: int
    zones: tuple[tuple[str, float, float], ...]  # name, area m², per-capita m²
    lon: float
    lat: float
    avg_visit_minutes: int = 180


SITES = (
    # instantaneous capacity 600 + 200 + 300 = 1,100; daily C2 = 1,100 × Int(600 min / 90 min) = 6,600,
    # approved daily maximum 6,000
    DemoSite("仙女湖景区", "scenic_area", 5, 6000, 4,
             (("入口广场", 1200.0, 2.0), ("观景台", 300.0, 1.5), ("湖滨步道", 900.0, 3.0)), 107.72, 29.42, 90),
    DemoSite("三桥峡谷景区", "scenic_area", 4, 3000, 4,
             (("游客中心", 800.0, 2.0), ("峡谷栈道", 1500.0, 2.5)), 107.80, 29.44),
    DemoSite("山城大酒店", "hotel", None, 800, 2, (("大堂", 400.0, 2.0),), 107.75, 29.33),
)

USERS = (  # user name, role, display name
    ("admin", "admin", "系统管理员"),
    ("operator", "operator", "值班员"),
    ("om", "om_engineer", "运维工程师"),
    ("om2", "om_engineer", "运维工程师（二）"),  # a colleague to hand a work order on to
    ("official", "official", "区文旅委"),
)
DEMO_PASSWORD = "lookout-demo"


def seed(session: Session, camera_urls: list[str] | None = None, password: str = DEMO_PASSWORD) -> dict:
    """Create the demo district once (idempotent: an existing demo is left as it is)."""
    if session.execute(select(Site.id).limit(1)).first() is not None:
        return {"seeded": False}
    actor = "demo"
    city = service.create_org_unit(session, actor, "city", *CITY)
    district = service.create_org_unit(session, actor, "district", *DISTRICT, parent_id=city.id)
    codes: list[str] = []
    cam = 0
    first_site = None
    for si, d in enumerate(SITES):
        site = service.create(session, actor, Site, dict(
            name=d.name, org_unit_id=district.id, category=d.category, a_level=d.a_level, key_unit=si == 0,
            daily_max=d.daily_max, opening_time="08:00", closing_time="18:00", avg_visit_minutes=d.avg_visit_minutes,
            longitude=d.lon, latitude=d.lat, om_contact="om"), "site")
        first_site = first_site or site
        zones = [service.create(session, actor, Zone, dict(site_id=site.id, name=z, area_m2=a, per_capita_m2=p,
                                                           polygon=[[100 + 200 * i, 100], [280 + 200 * i, 100],
                                                                    [280 + 200 * i, 300], [100 + 200 * i, 300]]),
                                "zone") for i, (z, a, p) in enumerate(d.zones)]
        nvr_code = gbcode.next_free(DIVISION, "118", codes)
        codes.append(nvr_code)
        nvr = service.create(session, actor, Device, dict(site_id=site.id, code=nvr_code, kind="nvr",
                                                          name=f"{d.name} NVR", vendor="海康威视", model="DS-7932N",
                                                          address="127.0.0.1", dual_nic=True), "device")
        for k in range(d.cameras):
            code = gbcode.next_free(DIVISION, "132", codes)
            codes.append(code)
            url = camera_urls[cam % len(camera_urls)] if camera_urls else None
            key = k == 0
            ch = service.create(session, actor, Channel, dict(
                site_id=site.id, device_id=nvr.id, zone_id=zones[k % len(zones)].id, code=code,
                name=f"{d.name} 摄像机{k + 1:02d}", main_url=url, sub_url=url, resource_class=3, key_area=key,
                retention_days=default_retention_days(d.category, key), longitude=round(d.lon + 0.001 * k, 6),
                latitude=round(d.lat + 0.001 * k, 6), plan_x=150 + 120 * k, plan_y=200, analyzers=["vqd"]), "channel")
            if si == 0 and k == 0:
                ch.analyzers = ["vqd", "count"]
                service.create(session, actor, CountingLine, dict(channel_id=ch.id, name="入口", x1=0, y1=330,
                                                                   x2=768, y2=330, in_side="left"), "counting_line")
            cam += 1
    for username, role, display in USERS:
        if session.execute(select(User).where(User.username == username)).scalar_one_or_none() is None:
            accounts.add_user(session, actor, username, password, role, display_name=display, clearance=1,
                              scope_org_id=None)
    accounts.add_user(session, actor, "manager", password, "site_manager", display_name="景区管理员",
                      scope_site_id=first_site.id, clearance=3)
    return {"seeded": True, "cameras": cam}


# share of a day's visitors arriving in each local hour (opening 08:00–18:00)
_PROFILE = {8: 0.06, 9: 0.12, 10: 0.16, 11: 0.14, 12: 0.09, 13: 0.10, 14: 0.12, 15: 0.10, 16: 0.07, 17: 0.04}


def seed_history(session: Session, now, days: int = 56, seed_value: int = 7) -> int:
    """Eight weeks of synthetic hourly arrivals for the demo's scenic areas (weekends and Chinese public
    holidays busier), so the forecast on the site view has a history to learn from. Marked as demo data
    by living only in a demo database; a real site builds this history from its own counts."""
    import random
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    import chinese_calendar

    from lookout.safety.models import HourlyHistory

    rng = random.Random(seed_value)
    n = 0
    for site in session.execute(select(Site).where(Site.category == "scenic_area").order_by(Site.id)).scalars():
        if session.execute(select(HourlyHistory.id).where(HourlyHistory.site_id == site.id).limit(1)).first():
            continue
        tz = ZoneInfo(site.timezone)
        today = now.astimezone(tz).date()
        base = (site.daily_max or 3000) * 0.35
        rows = []
        for d in range(days, 0, -1):
            day = today - timedelta(days=d)
            factor = 1.6 if day.weekday() >= 5 else 1.0
            try:
                if chinese_calendar.is_holiday(day) and day.weekday() < 5:
                    factor = 2.2
            except NotImplementedError:  # outside the calendar's years
                pass
            total = base * factor * rng.uniform(0.85, 1.15)
            for hour, share in _PROFILE.items():
                start = datetime(day.year, day.month, day.day, hour, tzinfo=tz).astimezone(timezone.utc)
                arrivals = max(0, round(total * share * rng.uniform(0.9, 1.1)))
                rows.append(HourlyHistory(site_id=site.id, hour_start=start, arrivals=arrivals,
                                          peak_present=round(arrivals * site.avg_visit_minutes / 60)))
        session.add_all(rows)
        n += len(rows)
    return n
