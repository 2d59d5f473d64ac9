"""Helpers for the GB/T 28181 tests: a seeded registry, a server on a background loop, a raw UDP peer, sipp."""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from lookout.federation.gb28181.config import load_config
from lookout.federation.gb28181.server import GbServer
from lookout.registry.models import Channel, Device, Site
from lookout.registry.service import ensure_default_district
from lookout.security.secrets import encrypt
from lookout.store.db import session_scope

SECRET = "test-secret-key-0123456789abcdef"
NVR = "34020000001180000001"  # an NVR with its own password
NVR_PASSWORD = "nvr-pass-1"
IPC = "34020000001320000009"  # an IPC registering directly (a registry channel), default password
DEFAULT_PASSWORD = "12345678"
UNKNOWN = "34020000001180000077"
SIPP_DIR = Path(__file__).parent / "sipp"


def seed(db_url: str) -> dict:
    with session_scope(db_url) as s:
        district = ensure_default_district(s)
        site = Site(org_unit_id=district.id, name="测试景区", category="scenic_area")
        s.add(site)
        s.flush()
        nvr = Device(site_id=site.id, code=NVR, kind="nvr", name="北门NVR", password_enc=encrypt(SECRET, NVR_PASSWORD))
        s.add(nvr)
        s.flush()
        # a camera of the NVR that is already in the ledger
        known = Channel(site_id=site.id, device_id=nvr.id, code="34020000001310000001", name="北门1")
        ipc = Channel(site_id=site.id, code=IPC, name="停车场IPC")
        s.add_all([known, ipc])
        s.flush()
        return {"site_id": site.id, "nvr_id": nvr.id, "known_channel_id": known.id, "ipc_channel_id": ipc.id}


def channels(db_url: str) -> dict[str, Channel]:
    with session_scope(db_url) as s:
        return {c.code: c for c in s.execute(select(Channel)).scalars()}


def device(db_url: str, code: str = NVR) -> Device:
    with session_scope(db_url) as s:
        return s.execute(select(Device).where(Device.code == code)).scalar_one()


@contextmanager
def running_server(db_url: str, **overrides):
    """A GbServer on 127.0.0.1 (free ports) in a background event loop."""
    opts = dict(host="127.0.0.1", port=0, default_password=DEFAULT_PASSWORD, sweep_interval_s=0.2)
    opts.update(overrides)
    cfg = load_config(**opts)
    server = GbServer(cfg, db_url, SECRET)
    loop = asyncio.new_event_loop()
    server.test_loop = loop
    started = threading.Event()

    def run():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        started.set()
        loop.run_forever()

    th = threading.Thread(target=run, daemon=True)
    th.start()
    assert started.wait(10), "server did not start"
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(20)
        loop.call_soon_threadsafe(loop.stop)
        th.join(10)
        loop.close()


def wait_for(pred, timeout: float = 8.0, step: float = 0.05):
    """Poll until pred() is truthy (returns its value) or fail after timeout."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(step)


# ---- sipp --------------------------------------------------------------------------------------------

def have_sipp() -> bool:
    return shutil.which("sipp") is not None


def free_port() -> int:
    """A local port free for both UDP and TCP at the time of asking (sipp binds both for ``-t t1``)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            try:
                t.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise OSError("no local port free for both UDP and TCP")


@dataclass
class SippRun:
    returncode: int
    stdout: str
    stderr: str
    errors: str  # sipp's error log
    port: int  # the local port sipp used

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def explain(self) -> str:
        return f"sipp exit {self.returncode}\n{self.errors[-2000:]}\n{self.stderr[-1000:]}"


def sipp(scenario: str, port: int, *, user: str, password: str | None = None, ooc: str | None = None,
         keys: dict[str, str] | None = None, timeout: float = 15.0, tmp: Path | None = None,
         transport: str = "u1") -> SippRun:
    """Run one sipp call of a scenario from tests/sipp against 127.0.0.1:port (UDP; ``t1`` for TCP)."""
    tmp = tmp or Path(tempfile.mkdtemp(prefix="sipp"))
    errors = tmp / f"{Path(scenario).stem}-errors.log"
    for _ in range(3):  # a port free when asked can be taken before sipp binds it; ask again then
        errors.unlink(missing_ok=True)
        run = _sipp_once(scenario, port, free_port(), errors, user=user, password=password, ooc=ooc, keys=keys,
                         timeout=timeout, tmp=tmp, transport=transport)
        if "Unable to bind main socket" not in run.errors:
            break
    return run


def _sipp_once(scenario: str, port: int, local: int, errors: Path, *, user: str, password: str | None,
               ooc: str | None, keys: dict[str, str] | None, timeout: float, tmp: Path, transport: str) -> SippRun:
    cmd = ["sipp", f"127.0.0.1:{port}", "-sf", str(SIPP_DIR / scenario), "-m", "1", "-t", transport,
           "-i", "127.0.0.1", "-p", str(local), "-s", user, "-au", user, "-ap", password or "none",
           "-timeout", f"{int(timeout)}s", "-timeout_error", "-nostdin", "-trace_err", "-error_file", str(errors),
           "-key", "device", user]
    if ooc:
        cmd += ["-oocsf", str(SIPP_DIR / ooc)]
    for k, v in (keys or {}).items():
        cmd += ["-key", k, v]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 10, cwd=tmp)
    err = errors.read_text(errors="replace") if errors.exists() else ""
    return SippRun(r.returncode, r.stdout, r.stderr, err, local)


# ---- a raw UDP peer (for what sipp cannot send) ------------------------------------------------------

def authorization(challenge: str, user: str, password: str, nc: str = "00000001") -> str:
    """The Authorization header answering a 401's WWW-Authenticate."""
    nonce = re.search(r'nonce="([^"]+)"', challenge).group(1)
    realm = re.search(r'realm="([^"]+)"', challenge).group(1)
    uri = "sip:34020000002000000001@3402000000"
    ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
    resp = hashlib.md5(f"{ha1}:{nonce}:{nc}:abc:auth:{ha2}".encode()).hexdigest()
    return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{resp}", algorithm=MD5, qop=auth, nc={nc}, cnonce="abc"')


class UdpPeer:
    def __init__(self, port: int) -> None:
        self.server = ("127.0.0.1", port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]
        self.cseq = 0
        self.requests: list[str] = []  # requests the server sent us (catalog queries)

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.server)

    def recv(self) -> str:
        """The next response (requests from the server are kept in ``requests``)."""
        while True:
            data, _ = self.sock.recvfrom(65535)
            text = data.decode("utf-8", "replace")
            if text.startswith("SIP/2.0"):
                return text
            self.requests.append(text)

    def recv_request(self) -> str:
        if self.requests:
            return self.requests.pop(0)
        while True:
            data, _ = self.sock.recvfrom(65535)
            text = data.decode("utf-8", "replace")
            if not text.startswith("SIP/2.0"):
                return text

    def request(self, method: str, user: str, headers: dict[str, str] | None = None, body: bytes = b"",
                call_id: str = "c1") -> bytes:
        self.cseq += 1
        lines = [f"{method} sip:34020000002000000001@3402000000 SIP/2.0",
                 f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};rport;branch=z9hG4bK{self.cseq}x{call_id}",
                 f"From: <sip:{user}@3402000000>;tag=t{self.cseq}",
                 f"To: <sip:{user if method == 'REGISTER' else '34020000002000000001'}@3402000000>",
                 f"Call-ID: {call_id}", f"CSeq: {self.cseq} {method}", "Max-Forwards: 70",
                 f"Contact: <sip:{user}@127.0.0.1:{self.port}>"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def register(self, user: str, password: str, expires: int = 3600) -> str:
        """Digest registration; returns the final response text."""
        self.send(self.request("REGISTER", user, {"Expires": str(expires)}))
        r = self.recv()
        if not r.startswith("SIP/2.0 401"):
            return r
        self.last_auth = authorization(r, user, password)
        self.send(self.request("REGISTER", user, {"Expires": str(expires), "Authorization": self.last_auth}))
        return self.recv()

    def message(self, user: str, body: bytes, call_id: str = "m1") -> str:
        self.send(self.request("MESSAGE", user, {"Content-Type": "Application/MANSCDP+xml"}, body, call_id))
        return self.recv()

    def answer(self, request: str, status: int = 200, reason: str = "OK") -> None:
        """Answer a request the server sent (its Via, From, To with a tag, Call-ID and CSeq echoed)."""
        head = request.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
        keep = [h for h in head if h.split(":", 1)[0].strip().lower() in ("via", "from", "to", "call-id", "cseq")]
        keep = [h + ";tag=dev1" if h.lower().startswith("to:") and ";tag=" not in h else h for h in keep]
        self.send(("\r\n".join([f"SIP/2.0 {status} {reason}", *keep, "Content-Length: 0"]) + "\r\n\r\n").encode())


class TcpPeer(UdpPeer):
    """The same peer over one TCP connection (SIP framing by Content-Length)."""

    def __init__(self, port: int) -> None:
        self.server = ("127.0.0.1", port)
        self.sock = socket.create_connection(self.server, timeout=5)
        self.port = self.sock.getsockname()[1]
        self.cseq = 0
        self.requests = []
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read_one(self) -> str:
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65535)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        m = re.search(rb"Content-Length: *(\d+)", head, re.I)
        n = int(m.group(1)) if m else 0
        while len(rest) < n:
            rest += self.sock.recv(65535)
        self.buf = rest[n:]
        return (head + b"\r\n\r\n" + rest[:n]).decode("utf-8", "replace")

    def recv(self) -> str:
        while True:
            text = self._read_one()
            if text.startswith("SIP/2.0"):
                return text
            self.requests.append(text)

    def request(self, *args, **kwargs) -> bytes:
        return super().request(*args, **kwargs).replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP", 1)
