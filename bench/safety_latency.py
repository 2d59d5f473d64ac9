"""Latency from a count arriving at the API to the level change published over WebSocket.

A real uvicorn server (a separate process) runs the assembled app with the live safety
path; a load generator posts count samples to POST /api/v1/counts at a steady rate (people
in = people out, so levels stay put) while probes push one site at a time over the next
threshold; a WebSocket client on /api/v1/ws records when each site.<id>.level event
arrives. Latency = WebSocket arrival − the moment the probe POST was sent (one clock).
Baseline measured in the same run: the POST round trip itself.

    .venv/bin/python bench/safety_latency.py [--rate 1000] [--batch 10] [--seconds 30] [--sites 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

PASSWORD = "bench-password-123"


def serve(data_dir: str, port: int) -> None:
    import uvicorn

    from lookout.api.app import create_app
    from lookout.safety.live import install
    from lookout.settings import load_settings

    settings = load_settings(data_dir=Path(data_dir))
    app = create_app(settings)
    install(app)

    from fastapi import Body

    from lookout.runtime.bus import bus

    @app.post("/bench/occupancy/{site_id}")
    async def publish_occupancy(site_id: int, body: dict = Body(...)) -> dict:
        """Bench only: publish an occupancy snapshot as the counting fusion would, without storage."""
        bus.publish(f"site.{site_id}.occupancy", body)
        return {"ok": True}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets")


def seed(data_dir: Path, sites: int) -> list[tuple[int, str]]:
    from lookout.bootstrap import initialise
    from lookout.registry.models import OrgUnit, Site
    from lookout.security import accounts
    from lookout.settings import load_settings
    from lookout.store.db import session_scope

    settings = load_settings(data_dir=data_dir)
    initialise(settings, "bench", PASSWORD)
    out = []
    with session_scope(settings.db_url) as s:
        city = OrgUnit(tier="city", name="重庆市", division_code="500000", path="/")
        s.add(city)
        s.flush()
        for i in range(sites):
            site = Site(org_unit_id=city.id, name=f"景区{i:03d}", opening_time="00:00", instant_max=1000)
            s.add(site)
            s.flush()
            _, key = accounts.issue_api_key(s, "bench", f"gates {i}", site.id)
            out.append((site.id, key))
    return out


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


async def run(args: argparse.Namespace, base: str, sites: list[tuple[int, str]], token: str) -> dict:
    import websockets

    seq: dict[str, int] = {}
    key_site = {k: sid for sid, k in sites}
    post_lat: list[float] = []
    level_lat: list[float] = []
    waiting: dict[tuple[int, str], float] = {}
    got: dict[tuple[int, str], asyncio.Event] = {}
    sent = 0
    errors = 0

    present: dict[int, int] = {}

    def sample(source: str, n_in: int, n_out: int) -> dict:
        seq[source] = seq.get(source, 0) + 1
        return {"source": source, "seq": seq[source], "ts": datetime.now(timezone.utc).isoformat(), "in": n_in, "out": n_out}

    async def ws_reader(ready: asyncio.Event) -> None:
        uri = base.replace("http", "ws") + f"/api/v1/ws?token={token}&topics=site."
        async with websockets.connect(uri, max_size=None) as ws:
            ready.set()
            async for raw in ws:
                msg = json.loads(raw)
                if not msg["topic"].endswith(".level"):
                    continue
                key = (msg["data"]["site_id"], msg["data"]["level"])
                t0 = waiting.pop(key, None)
                if t0 is not None:
                    level_lat.append(time.perf_counter() - t0)
                    got[key].set()

    async with httpx.AsyncClient(base_url=base, timeout=20, limits=httpx.Limits(max_connections=64)) as client:

        async def post(key: str, samples: list[dict], probe: tuple[int, str] | None = None) -> None:
            nonlocal sent, errors
            t0 = time.perf_counter()
            if probe is not None:
                waiting[probe] = t0
            try:
                if args.direct:  # the safety path alone: one occupancy snapshot per message
                    sid = key_site[key]
                    present[sid] = present.get(sid, 0) + sum(x["in"] - x["out"] for x in samples)
                    r = await client.post(f"/bench/occupancy/{sid}", json={"present": present[sid], "entered_today": 0})
                else:
                    r = await client.post("/api/v1/counts", json=samples, headers={"X-API-Key": key})
            except httpx.HTTPError:
                errors += 1
                return
            post_lat.append(time.perf_counter() - t0)
            if r.status_code != 200:
                errors += 1
            sent += len(samples)

        ready = asyncio.Event()
        reader = asyncio.create_task(ws_reader(ready))
        await asyncio.wait_for(ready.wait(), 10)
        # every site starts at 50 % of its instantaneous capacity
        await asyncio.gather(*(post(k, [sample(f"gate-{sid}", 500, 0)]) for sid, k in sites))
        post_lat.clear()

        stop = time.perf_counter() + args.seconds
        interval = args.batch / args.rate
        inflight: set[asyncio.Task] = set()

        async def load() -> None:
            nxt = time.perf_counter()
            while time.perf_counter() < stop:
                sid, key = random.choice(sites)
                batch = [sample(f"bg-{sid}-{j % 4}", 1, 1) for j in range(args.batch)]
                t = asyncio.create_task(post(key, batch))
                inflight.add(t)
                t.add_done_callback(inflight.discard)
                nxt += interval
                await asyncio.sleep(max(0.0, nxt - time.perf_counter()))

        async def probes() -> None:
            await asyncio.sleep(2.0)
            steps = [("yellow", 310), ("orange", 100), ("red", 50)]
            for level, n in steps:
                for sid, key in sites:
                    if time.perf_counter() > stop - 2:
                        return
                    got[(sid, level)] = asyncio.Event()
                    await post(key, [sample(f"gate-{sid}", n, 0)], probe=(sid, level))
                    try:
                        await asyncio.wait_for(got[(sid, level)].wait(), 10)
                    except asyncio.TimeoutError:
                        waiting.pop((sid, level), None)
                    await asyncio.sleep(args.probe_gap)

        t_start = time.perf_counter()
        await asyncio.gather(load(), probes())
        if inflight:
            await asyncio.gather(*inflight)
        elapsed = time.perf_counter() - t_start
        reader.cancel()
    return {"sent": sent, "errors": errors, "elapsed": elapsed, "post": post_lat, "level": level_lat,
            "missed": sum(1 for e in got.values() if not e.is_set())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", nargs=2, metavar=("DATA_DIR", "PORT"))
    ap.add_argument("--rate", type=float, default=1000.0, help="count samples per second")
    ap.add_argument("--batch", type=int, default=10, help="samples per POST")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--sites", type=int, default=40)
    ap.add_argument("--probe-gap", type=float, default=0.2)
    ap.add_argument("--direct", action="store_true", help="publish occupancy snapshots (skip the counting store)")
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    tmp = Path(tempfile.mkdtemp(prefix="lookout-bench-"))
    os.environ["LOOKOUT_DATA_DIR"] = str(tmp)
    os.environ.setdefault("LOOKOUT_SECRET_KEY", "bench-secret-key-0123456789abcdef")
    os.environ.pop("LOOKOUT_DATABASE_URL", None)
    sites = seed(tmp, args.sites)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(tmp), str(port)], env=os.environ.copy())
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        token = httpx.post(base + "/api/v1/auth/login", json={"username": "bench", "password": PASSWORD}).json()["token"]
        res = asyncio.run(run(args, base, sites, token))
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    rate = res["sent"] / res["elapsed"]
    what = "occupancy snapshots published (counting store skipped)" if args.direct else "count samples to POST /api/v1/counts"
    print(what)
    print(f"load: {res['sent']} count samples in {res['elapsed']:.1f} s = {rate:.0f} samples/s "
          f"({args.batch} per POST, {rate / args.batch:.0f} POST/s, {args.sites} sites), HTTP errors {res['errors']}")
    print(f"baseline POST /api/v1/counts round trip: p50 {pct(res['post'], 50) * 1000:.1f} ms, "
          f"p99 {pct(res['post'], 99) * 1000:.1f} ms (n={len(res['post'])})")
    print(f"count → level over WebSocket: p50 {pct(res['level'], 50) * 1000:.1f} ms, p99 {pct(res['level'], 99) * 1000:.1f} ms, "
          f"max {max(res['level'], default=float('nan')) * 1000:.1f} ms (n={len(res['level'])}, missed {res['missed']})")
    ok = res["level"] and pct(res["level"], 99) < 1.0 and res["missed"] == 0
    print("target p99 < 1 s:", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
