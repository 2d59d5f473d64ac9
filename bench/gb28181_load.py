"""GB/T 28181 server load: registrations, keepalives and a large catalog, against a baseline of OPTIONS.

One command: ``.venv/bin/python bench/gb28181_load.py [--devices 2000] [--window 64] [--channels 512]``.
The server runs in its own process (SQLite database in a temporary folder); simulated devices run here,
one UDP socket each. Figures:
- baseline: OPTIONS round trips per second (parse and answer, no database) — the ceiling of the loop;
- registrations per second (401 challenge + digest + 200, a database write and an audit record each);
- keepalives per second (in memory; written to the database in batches);
- catalog: seconds from the first part to the registry holding all channels, and items per second.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing as mp
import re
import tempfile
import time
from pathlib import Path

SECRET = "bench-secret"
PASSWORD = "12345678"
SERVER = "34020000002000000001"


def _nvr(i: int) -> str:
    return f"3402000000118{i + 1:07d}"


def _seed(url: str, n: int) -> None:
    from lookout.registry.models import Device, Site
    from lookout.registry.service import ensure_default_district
    from lookout.store.db import session_scope

    with session_scope(url) as s:
        d = ensure_default_district(s)
        site = Site(org_unit_id=d.id, name="bench", category="scenic_area")
        s.add(site)
        s.flush()
        s.add_all([Device(site_id=site.id, code=_nvr(i), kind="nvr") for i in range(n)])


def _serve(url: str, port: int, ready) -> None:
    import logging

    from lookout.federation.gb28181.config import load_config
    from lookout.federation.gb28181.server import GbServer

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("lookout.federation.gb28181.server").setLevel(logging.WARNING)

    async def main():
        srv = GbServer(load_config(host="127.0.0.1", port=port, transports="udp", default_password=PASSWORD,
                                   catalog_on_register=False, sweep_interval_s=1.0), url, SECRET)
        await srv.start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


class Dev(asyncio.DatagramProtocol):
    def __init__(self, code: str) -> None:
        self.code = code
        self.waiter: asyncio.Future | None = None
        self.requests: asyncio.Queue = asyncio.Queue()
        self.cseq = 0

    def connection_made(self, transport) -> None:
        self.tr = transport
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr) -> None:
        text = data.decode("utf-8", "replace")
        if text.startswith("SIP/2.0"):
            if self.waiter and not self.waiter.done():
                self.waiter.set_result(text)
        else:
            self.requests.put_nowait(text)

    async def ask(self, method: str, headers: dict[str, str] | None = None, body: bytes = b"",
                  timeout: float = 10) -> str:
        self.cseq += 1
        to = self.code if method == "REGISTER" else SERVER
        lines = [f"{method} sip:{SERVER}@3402000000 SIP/2.0",
                 f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};rport;branch=z9hG4bK{self.cseq}b{self.port}",
                 f"From: <sip:{self.code}@3402000000>;tag=b{self.port}", f"To: <sip:{to}@3402000000>",
                 f"Call-ID: {self.code}-{method}", f"CSeq: {self.cseq} {method}", "Max-Forwards: 70"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        lines.append(f"Content-Length: {len(body)}")
        self.waiter = asyncio.get_running_loop().create_future()
        self.tr.sendto(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return await asyncio.wait_for(self.waiter, timeout)

    async def register(self) -> None:
        r = await self.ask("REGISTER", {"Expires": "3600"})
        nonce = re.search(r'nonce="([^"]+)"', r).group(1)
        uri = f"sip:{SERVER}@3402000000"
        ha1 = hashlib.md5(f"{self.code}:3402000000:{PASSWORD}".encode()).hexdigest()
        ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
        resp = hashlib.md5(f"{ha1}:{nonce}:00000001:c:auth:{ha2}".encode()).hexdigest()
        auth = (f'Digest username="{self.code}", realm="3402000000", nonce="{nonce}", uri="{uri}", '
                f'response="{resp}", algorithm=MD5, qop=auth, nc=00000001, cnonce="c"')
        r = await self.ask("REGISTER", {"Expires": "3600", "Authorization": auth})
        assert r.startswith("SIP/2.0 200"), r[:200]

    async def message(self, body: bytes) -> str:
        return await self.ask("MESSAGE", {"Content-Type": "Application/MANSCDP+xml"}, body)


async def _windowed(devs, fn, window: int) -> float:
    sem = asyncio.Semaphore(window)

    async def one(d):
        async with sem:
            await fn(d)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(d) for d in devs))
    return time.perf_counter() - t0


async def _client(port: int, n: int, window: int, channels: int, url: str) -> dict:
    from lookout.federation.gb28181 import manscdp

    loop = asyncio.get_running_loop()
    devs = []
    for i in range(n):  # one connected UDP socket per device
        _, proto = await loop.create_datagram_endpoint(lambda i=i: Dev(_nvr(i)), local_addr=("127.0.0.1", 0),
                                                       remote_addr=("127.0.0.1", port))
        devs.append(proto)
    out = {}
    await _windowed(devs, lambda d: d.ask("OPTIONS"), window)  # warm-up
    dt = await _windowed(devs, lambda d: d.ask("OPTIONS"), window)
    out["options_per_s"] = n / dt
    dt = await _windowed(devs, lambda d: d.register(), window)
    out["registrations_per_s"] = n / dt
    ka = {d.code: manscdp.keepalive(1, d.code) for d in devs}

    async def keepalive(d):
        r = await d.message(ka[d.code])
        assert r.startswith("SIP/2.0 200"), r[:120]

    rounds = 3
    t = 0.0
    for _ in range(rounds):
        t += await _windowed(devs, keepalive, window)
    out["keepalives_per_s"] = n * rounds / t
    # a large catalog, 4 items per MESSAGE as many NVRs send it
    nvr = devs[0]
    items = [{"DeviceID": f"3402000000131{j + 1:07d}", "Name": f"Camera {j + 1}", "ParentID": nvr.code,
              "Status": "ON", "Longitude": "106.55", "Latitude": "29.56"} for j in range(channels)]
    t0 = time.perf_counter()
    for k in range(0, channels, 4):
        r = await nvr.message(manscdp.catalog_response(99, nvr.code, channels, items[k:k + 4]))
        assert r.startswith("SIP/2.0 200"), r[:200]
    out["catalog_send_s"] = time.perf_counter() - t0
    from sqlalchemy import func, select

    from lookout.registry.models import Channel
    from lookout.store.db import session_scope

    while True:
        with session_scope(url) as s:
            have = s.execute(select(func.count(Channel.id))).scalar()
        if have >= channels:
            break
        await asyncio.sleep(0.05)
    out["catalog_total_s"] = time.perf_counter() - t0
    out["catalog_items_per_s"] = channels / out["catalog_total_s"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=2000)
    ap.add_argument("--window", type=int, default=64, help="requests in flight at once")
    ap.add_argument("--channels", type=int, default=512, help="channels in the catalog of one NVR")
    ap.add_argument("--port", type=int, default=0, help="0: pick a free port")
    a = ap.parse_args()
    import socket

    from lookout.store.migrate import upgrade

    tmp = Path(tempfile.mkdtemp(prefix="gbbench"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    upgrade(url)
    _seed(url, a.devices)
    port = a.port
    if not port:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_serve, args=(url, port, ready), daemon=True)
    proc.start()
    try:
        if not ready.wait(60):
            raise SystemExit("server did not start")
        res = asyncio.run(_client(port, a.devices, a.window, a.channels, url))
    finally:
        proc.terminate()
        proc.join(10)
    print(f"devices {a.devices}, window {a.window}, SQLite, server in its own process")
    print(f"baseline OPTIONS round trips/s      {res['options_per_s']:8.0f}")
    print(f"registrations/s (401+200, DB+audit) {res['registrations_per_s']:8.0f}  "
          f"({res['registrations_per_s'] / res['options_per_s']:.2f}x baseline)")
    print(f"keepalives/s                        {res['keepalives_per_s']:8.0f}  "
          f"({res['keepalives_per_s'] / res['options_per_s']:.2f}x baseline)")
    print(f"  → devices one server holds at a 60 s keepalive interval: ~{res['keepalives_per_s'] * 60:,.0f}")
    print(f"catalog of {a.channels} channels in parts of 4: sent in {res['catalog_send_s']:.2f} s, "
          f"in the registry after {res['catalog_total_s']:.2f} s ({res['catalog_items_per_s']:.0f} items/s)")


if __name__ == "__main__":
    main()
