"""Page-load times of the operator UI with a city-sized registry.

Seeds a temporary SQLite database with 200 sites (3 zones each, warning states and open
incidents on some) and 10,000 channels (mixed online/offline/fault), serves the app with a
real uvicorn server in a thread, signs in, fetches each page N times and prints p50/p95 per
page. Baseline in the same run: /healthz (one trivial query), the floor of a round trip.
Target: every page p95 < 1 s.

    .venv/bin/python bench/page_load.py [-n 30] [--sites 200] [--channels 10000]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

os.environ.setdefault("LOOKOUT_ARGON2_TIME_COST", "1")
os.environ.setdefault("LOOKOUT_ARGON2_MEMORY_KIB", "1024")

import httpx  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from lookout.api.app import create_app  # noqa: E402
from lookout.bootstrap import initialise  # noqa: E402
from lookout.registry import service  # noqa: E402
from lookout.registry.models import Channel, Device, Site, Zone  # noqa: E402
from lookout.security import accounts  # noqa: E402
from lookout.settings import load_settings  # noqa: E402
from lookout.store.db import dispose_all, session_scope  # noqa: E402
from lookout.web.serving import ServerThread  # noqa: E402

PAGES = ["/overview", "/overview?q=景区 1", "/sites/{site}", "/sites/{site}?page=1", "/wall?layout=2",
         "/wall?layout=3", "/wall?layout=4&page=7", "/alerts", "/alerts?status=open", "/om", "/om?status=fault&page=3",
         "/ledger", "/ledger?q=5001", "/ledger?page=150", "/compliance", "/settings", "/settings?page=5"]
CATEGORIES = ("scenic_area", "hotel", "tourism_other", "public_place")


def seed(url: str, n_sites: int, n_channels: int, rng: random.Random) -> None:
    from lookout.safety.models import Alert, Incident, PlanItem, SafetyState
    from lookout.safety.plans import PLANS

    now = datetime.now(timezone.utc)
    with session_scope(url) as s:
        city = service.create_org_unit(s, "bench", "city", "重庆市", "500000")
        districts = [service.create_org_unit(s, "bench", "district", f"区县{i + 1:02d}", f"5001{i + 1:02d}",
                                             parent_id=city.id) for i in range(10)]
        s.execute(insert(Site), [dict(id=i + 1, name=f"景区 {i + 1:03d}", org_unit_id=districts[i % 10].id,
                                      category=CATEGORIES[i % 4], daily_max=rng.randint(2000, 40000),
                                      key_unit=i % 7 == 0, longitude=106 + rng.random() * 2,
                                      latitude=29 + rng.random() * 2, opening_time="08:00", closing_time="18:00",
                                      avg_visit_minutes=180, timezone="Asia/Shanghai", created_at=now, updated_at=now)
                                 for i in range(n_sites)])
        zones = []
        for i in range(n_sites):
            for k in range(3):
                zones.append(dict(id=i * 3 + k + 1, site_id=i + 1, name=f"区域{k + 1}", area_m2=1000.0 + 500 * k,
                                  per_capita_m2=2.0, created_at=now, updated_at=now,
                                  polygon=[[100 + 200 * k, 100], [280 + 200 * k, 100], [280 + 200 * k, 300],
                                           [100 + 200 * k, 300]]))
        s.execute(insert(Zone), zones)
        s.execute(insert(Device), [dict(id=i + 1, site_id=i + 1, code=f"500101{i // 100:02d}00118{i:07d}"[:20],
                                        kind="nvr", created_at=now, updated_at=now, status="online")
                                   for i in range(n_sites)])
        statuses = ["online"] * 94 + ["offline"] * 4 + ["fault"] * 2
        chans = []
        for c in range(n_channels):
            site = c % n_sites + 1
            chans.append(dict(id=c + 1, site_id=site, device_id=site, zone_id=(site - 1) * 3 + c % 3 + 1,
                              code=f"50010100001320{c:06d}", name=f"景区 {site:03d} 摄像机{c // n_sites + 1:02d}",
                              main_url=f"rtsp://10.0.{site % 250}.{c % 250}/ch1", status=rng.choice(statuses),
                              resource_class=3, key_area=c % 10 == 0, retention_days=90, analysis_fps=5.0,
                              plan_x=150.0 + 12 * (c // n_sites), plan_y=200.0, created_at=now, updated_at=now,
                              status_changed_at=now - timedelta(minutes=rng.randint(1, 600))))
            if len(chans) == 2000:
                s.execute(insert(Channel), chans)
                chans = []
        if chans:
            s.execute(insert(Channel), chans)
        levels = ["none"] * 150 + ["yellow"] * 30 + ["orange"] * 15 + ["red"] * 5
        day = now.astimezone().date().isoformat()
        for i in range(n_sites):
            lv = levels[i % len(levels)]
            s.add(SafetyState(site_id=i + 1, level=lv, state={"level": lv, "measures": {}},
                              last_occupancy={"present": rng.randint(0, 5000), "entered_today": rng.randint(0, 30000),
                                              "zones": {"区域1": rng.randint(0, 900)}, "day": day}, updated_at=now))
            if lv != "none":
                inc = Incident(site_id=i + 1, status="open", level=lv, peak_level=lv, opened_at=now, zones={})
                s.add(inc)
                s.flush()
                for item in PLANS["yellow"].items:
                    s.add(PlanItem(incident_id=inc.id, level="yellow", key=item.key, text_zh=item.zh,
                                   text_en=item.en, commander="site", auto=item.auto is not None))
                s.add(Alert(incident_id=inc.id, site_id=i + 1, level=lv, tier="site", status="open",
                            created_at=now, deadline_at=now + timedelta(minutes=3)))
        accounts.add_user(s, "bench", "bench", "bench-password", "admin", clearance=1)


def measure(client: httpx.Client, path: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(path)
        times.append(time.perf_counter() - t0)
        if r.status_code != 200:
            raise SystemExit(f"{path}: HTTP {r.status_code}: {r.text[:300]}")
    return times


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20, method="inclusive")[18] if len(xs) > 1 else xs[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=30, help="fetches per page")
    ap.add_argument("--sites", type=int, default=200)
    ap.add_argument("--channels", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp), database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
                                 secret_key="bench-secret-0123456789abcdef0123")
        initialise(settings)
        t0 = time.perf_counter()
        seed(settings.db_url, a.sites, a.channels, rng)
        print(f"seeded {a.sites} sites, {a.channels} channels in {time.perf_counter() - t0:.1f} s")
        srv = ServerThread(create_app(settings)).start()
        try:
            with httpx.Client(base_url=srv.url, timeout=30) as c:
                r = c.post("/api/v1/auth/login", json={"username": "bench", "password": "bench-password"})
                r.raise_for_status()
                busiest = 1
                rows = [("/healthz (baseline)", measure(c, "/healthz", a.n))]
                for page in PAGES:
                    path = page.format(site=busiest)
                    measure(c, path, 2)  # warm-up
                    rows.append((path, measure(c, path, a.n)))
        finally:
            srv.stop()
            dispose_all()
    print(f"\n{'page':32} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    worst = 0.0
    for name, xs in rows:
        q95 = p95(xs)
        if not name.startswith("/healthz"):
            worst = max(worst, q95)
        print(f"{name:32} {statistics.median(xs) * 1000:8.1f} {q95 * 1000:8.1f} {max(xs) * 1000:8.1f}")
    print(f"\nworst page p95: {worst * 1000:.1f} ms (target < 1000 ms): {'met' if worst < 1.0 else 'NOT met'}")
    return 0 if worst < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
