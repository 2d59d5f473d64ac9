"""Run the living demo: simulated cameras, turnstiles pushing a surge, a camera that develops a fault."""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
from sqlalchemy import select

from lookout.demo.seed import DEMO_PASSWORD, SITES, seed, seed_history
from lookout.demo.turnstiles import Gate, TurnstileSimulator
from lookout.registry.models import Channel, Site, Zone
from lookout.security import accounts
from lookout.settings import Settings
from lookout.store.db import session_scope

log = logging.getLogger(__name__)

SURGE_SITE = SITES[0].name          # the scenic area that goes yellow → orange → red and back
FAULTY_CAMERA = (SITES[1].name, 3)  # (site, camera number) that loses its picture a while after start
FAULT_KIND = "black"
FAULT_AFTER_S = 90.0
# demo pace: every camera patrolled each minute (deployments: 30 min, key areas 10), so the faulty
# camera's work order opens a few minutes after start
DEMO_ENV = {"LOOKOUT_PATROL_INTERVAL_S": "60", "LOOKOUT_PATROL_KEY_INTERVAL_S": "60"}


def _start_cameras(source: Path | None, channels: int):
    """The camera simulator, or None (with a log line) where GStreamer is not installed."""
    try:
        from lookout.media.camsim import CamSim, CamSimError
    except ImportError:  # pragma: no cover - the media capability is part of the package
        return None
    try:
        sim = CamSim(source=str(source) if source else None, channels=channels, port=0)
        sim.start()
        return sim
    except (CamSimError, OSError) as exc:
        log.warning("camera simulator not started (%s); cameras will show as offline", exc)
        return None


def _wire_cameras(db_url: str, sim) -> dict[int, int]:
    """Point every demo channel at a simulator stream; return {channel id: simulator channel}."""
    mapping: dict[int, int] = {}
    with session_scope(db_url) as s:
        chans = s.execute(select(Channel).order_by(Channel.id)).scalars().all()
        for k, ch in enumerate(chans, start=1):
            n = (k - 1) % len(sim.urls) + 1
            ch.main_url, ch.sub_url = sim.url(n), sim.url(n, sub=True)
            mapping[ch.id] = n
    return mapping


def _surge_setup(db_url: str) -> tuple[list[Gate], int, int]:
    """API keys for two gates of the surge site, its instantaneous capacity, and its id."""
    with session_scope(db_url) as s:
        site = s.execute(select(Site).where(Site.name == SURGE_SITE)).scalar_one()
        zones = s.execute(select(Zone).where(Zone.site_id == site.id)).scalars().all()
        capacity = site.instant_max or sum(z.capacity or 0 for z in zones)
        # a one-minute de-escalation hold (instead of ten) so the whole cycle fits in the demo's minutes
        site.thresholds = {"yellow": 80, "orange": 90, "red": 95, "hold_minutes": 1}
        gates = []
        for name in ("东门闸机", "西门闸机"):
            _, key = accounts.issue_api_key(s, "demo", name, site.id)
            gates.append(Gate(name=name, key=key))
        return gates, capacity, site.id


def _wait_ready(base: str, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def _faulty_channel(db_url: str, mapping: dict[int, int]) -> int | None:
    site_name, number = FAULTY_CAMERA
    with session_scope(db_url) as s:
        ids = s.execute(select(Channel.id).join(Site).where(Site.name == site_name).order_by(Channel.id)).scalars().all()
    return mapping.get(ids[number - 1]) if len(ids) >= number else None


def run_demo(settings: Settings, host: str, port: int, source: Path | None = None, seed_only: bool = False) -> None:
    import uvicorn

    from lookout.api.app import create_app
    from lookout.bootstrap import initialise

    initialise(settings)
    with session_scope(settings.db_url) as s:
        res = seed(s)
        seed_history(s, datetime.now(timezone.utc))
    log.info("demo district %s", "seeded" if res["seeded"] else "already present")
    if seed_only:
        return

    with session_scope(settings.db_url) as s:
        n_channels = len(s.execute(select(Channel.id)).all())
    sim = _start_cameras(source, n_channels)
    mapping = _wire_cameras(settings.db_url, sim) if sim else {}
    gates, capacity, _site_id = _surge_setup(settings.db_url)
    base = f"http://{host}:{port}"
    turnstiles = TurnstileSimulator(base, gates, capacity)
    stop = threading.Event()

    def scenario() -> None:
        if not _wait_ready(base):
            log.error("demo server did not become ready; turnstiles not started")
            return
        turnstiles.start()
        sim_channel = _faulty_channel(settings.db_url, mapping) if sim else None
        if sim_channel and not stop.wait(FAULT_AFTER_S):
            log.info("demo: camera %s of %s loses its picture (%s)", FAULTY_CAMERA[1], FAULTY_CAMERA[0], FAULT_KIND)
            sim.set_fault(sim_channel, FAULT_KIND)

    threading.Thread(target=scenario, name="demo-scenario", daemon=True).start()
    for k, v in DEMO_ENV.items():
        os.environ.setdefault(k, v)
    app = create_app(settings, services=True)
    print(f"Lookout demo: {base}/  (sign in as operator, admin, om, official or manager; "
          f"password {DEMO_PASSWORD})", flush=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        stop.set()
        turnstiles.stop()
        if sim:
            sim.stop()
