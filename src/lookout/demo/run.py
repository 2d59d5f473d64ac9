"""Run the living demo: simulated cameras, turnstiles pushing a surge, a camera that develops a fault,
and another that turns away from its view, with its recorder registered over GB/T 28181 so that an
operator can call it back to its preset."""

from __future__ import annotations

import asyncio
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
from lookout.registry.models import Channel, Device, Site, Zone
from lookout.security import accounts
from lookout.settings import Settings
from lookout.store.db import session_scope

log = logging.getLogger(__name__)

SURGE_SITE = SITES[0].name          # the scenic area that goes yellow → orange → red and back
FAULTY_CAMERA = (SITES[1].name, 3)  # (site, camera number) that loses its picture a while after start
FAULT_KIND = "black"
FAULT_AFTER_S = 90.0
TURNED_CAMERA = (SITES[0].name, 2)  # (site, camera number) that turns away from its marked view
TURN_AFTER_S = 150.0
HOME_PRESET = 1  # calling it turns a demo camera back to its view; any other preset turns it away
DEMO_GB_PASSWORD = "12345678"  # the demo recorders' GB/T 28181 password (the server's default password)
# demo pace: every camera patrolled each minute (deployments: 30 min, key areas 10), so the faulty
# camera's work order opens a few minutes after start
DEMO_ENV = {"LOOKOUT_PATROL_INTERVAL_S": "60", "LOOKOUT_PATROL_KEY_INTERVAL_S": "60",
            "LOOKOUT_GB28181_DEFAULT_PASSWORD": DEMO_GB_PASSWORD}


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


def _camera(db_url: str, site_name: str, number: int) -> int | None:
    """The channel id of a site's ``number``-th camera."""
    with session_scope(db_url) as s:
        ids = s.execute(select(Channel.id).join(Site).where(Site.name == site_name).order_by(Channel.id)).scalars().all()
    return ids[number - 1] if len(ids) >= number else None


def _mark_view(settings: Settings, channel_id: int) -> bool:
    """Mark a camera's current view as correct, as the installer does (a scene change needs it)."""
    from lookout.health import patrol
    from lookout.media.snapshot import SnapshotError, grab_frame
    from lookout.store.base import utcnow

    with session_scope(settings.db_url) as s:
        ch = s.get(Channel, channel_id)
        try:
            image = grab_frame(ch.sub_url or ch.main_url, timeout=15.0)
        except SnapshotError as exc:
            log.warning("demo: no picture to mark as %s's view: %s", ch.name, exc)
            return False
        _, replaced = patrol.set_reference(s, Path(settings.data_dir), ch, image, "demo", utcnow())
    patrol.unlink_quietly(replaced)
    return True


def _run_gb_devices(db_url: str, sim, mapping: dict[int, int], stop: threading.Event) -> None:
    """Every demo recorder as a simulated GB/T 28181 device registered with this platform's SIP
    server (in this process), until ``stop``; a preset call turns its simulated camera."""
    from lookout.federation.gb28181.devsim import DeviceError, SimChannel, SimulatedDevice
    from lookout.federation.gb28181.server import running

    end = time.monotonic() + 30.0
    while (server := running()) is None or server.udp_port is None:
        if stop.wait(0.5) or time.monotonic() > end:
            log.warning("demo: the GB/T 28181 server is not running; the recorders do not register")
            return
    with session_scope(db_url) as s:
        plan = [(d.code, [(c.id, c.code, c.name) for c in s.execute(
            select(Channel).where(Channel.device_id == d.id).order_by(Channel.id)).scalars()])
            for d in s.execute(select(Device).where(Device.kind == "nvr").order_by(Device.id)).scalars()]
    sim_channel = {code: mapping.get(cid) for _, chans in plan for cid, code, _ in chans}

    def turn(code: str, cmd) -> None:
        n, preset = sim_channel.get(code), cmd.preset
        if n is None or preset is None or preset[0] != "call":
            return
        if preset[1] != HOME_PRESET:
            sim.set_fault(n, "turned")
        elif next((c["fault"] for c in sim.status()["channels"] if c["channel"] == n), None) == "turned":
            sim.set_fault(n, "clear")  # back to its view (another fault, a black picture, stays)
        log.info("demo: preset %s called on %s", preset[1], code)

    async def serve() -> None:
        devices = [SimulatedDevice(code, DEMO_GB_PASSWORD, ("127.0.0.1", server.udp_port),
                                   [SimChannel(c, name) for _, c, name in chans], domain=server.cfg.domain,
                                   server_id=server.cfg.server_id, on_ptz=turn) for code, chans in plan]
        started = []
        for d in devices:
            try:
                await d.start()
                started.append(d)
            except DeviceError as exc:
                log.warning("demo: %s", exc)
        log.info("demo: %d recorder(s) registered over GB/T 28181", len(started))
        while not stop.is_set():
            await asyncio.sleep(0.5)
        platform_up = running() is not None  # the demo stops after its server: nobody to unregister from
        for d in started:
            await d.stop(unregister=platform_up)

    asyncio.run(serve())


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
        if not sim:
            return
        threading.Thread(target=_run_gb_devices, args=(settings.db_url, sim, mapping, stop), name="demo-gb-devices",
                         daemon=True).start()
        faulty, turning = _camera(settings.db_url, *FAULTY_CAMERA), _camera(settings.db_url, *TURNED_CAMERA)
        marked = turning is not None and _mark_view(settings, turning)
        if faulty in mapping and not stop.wait(FAULT_AFTER_S):
            log.info("demo: camera %s of %s loses its picture (%s)", FAULTY_CAMERA[1], FAULTY_CAMERA[0], FAULT_KIND)
            sim.set_fault(mapping[faulty], FAULT_KIND)
        if marked and turning in mapping and not stop.wait(TURN_AFTER_S - FAULT_AFTER_S):
            log.info("demo: camera %s of %s turns away from its view; call its preset %d from the site page",
                     TURNED_CAMERA[1], TURNED_CAMERA[0], HOME_PRESET)
            sim.set_fault(mapping[turning], "turned")

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
