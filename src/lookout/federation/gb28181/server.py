"""The GB/T 28181 SIP server (platform side): asyncio UDP and TCP.

Handles REGISTER (digest, admission against the registry), MESSAGE/NOTIFY with MANSCDP bodies
(keepalive, catalog answers and catalog events), queries each device's catalog after it registers,
sends front-end commands (DeviceControl with a ``PTZCmd``: preset set, call, delete) on request,
and marks devices offline when keepalives stop. Database work runs in one worker thread, in order;
a malformed message gets a 400 naming what is wrong and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import secrets as _secrets
import socket
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from lookout.federation.gb28181 import digest, manscdp, ptz, sip
from lookout.federation.gb28181 import store as gbstore
from lookout.federation.gb28181.catalog import Assembled, CatalogAssembler
from lookout.federation.gb28181.config import GbConfig
from lookout.federation.gb28181.presence import PresenceBook, Transition
from lookout.registry import gbcode
from lookout.runtime.bus import bus
from lookout.runtime.supervisor import run_until_cancelled
from lookout.store.db import session_scope

log = logging.getLogger(__name__)

USER_AGENT = "Lookout GB28181"
ALLOW = "REGISTER, MESSAGE, NOTIFY, OPTIONS"
T1, TIMER_F = 0.5, 32.0
ADMISSION_CACHE_S = 10.0  # a challenged device retries at once: look the registry up once, not twice
MAX_TCP_HEADER = 16_384


_running: GbServer | None = None


def running() -> GbServer | None:
    """The server started in this process (by the service supervisor), if any."""
    return _running


def control_ptz_from_thread(server: GbServer, device_code: str, channel_code: str,
                            cmd: ptz.PtzCommand) -> sip.SipMessage | None:
    """``server.control_ptz`` from a thread other than the server's (a request, a patrol): waits for
    the device's answer (None when it did not answer); LookupError when the device has no address."""
    if server.loop is None:
        raise LookupError("the GB/T 28181 server is not started")
    future = asyncio.run_coroutine_threadsafe(server.control_ptz(device_code, channel_code, cmd), server.loop)
    return future.result(TIMER_F + 5)


@dataclass
class Peer:
    transport: str  # "UDP" or "TCP"
    host: str
    port: int
    send: Callable[[bytes], None]

    def __str__(self) -> str:
        return f"{self.transport}:{self.host}:{self.port}"


@dataclass
class OutTx:
    branch: str
    data: bytes
    peer: Peer
    future: asyncio.Future
    what: str
    retransmit: asyncio.Task | None = None


@dataclass
class Reply:
    data: bytes | None
    after: Callable[[], None] | None = None


@dataclass
class Stats:
    counts: Counter = field(default_factory=Counter)

    def __getitem__(self, k: str) -> int:
        return self.counts[k]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _warning(server_id: str, reason: str) -> tuple[str, str]:
    return ("Warning", f'399 {server_id} "{reason[:200].replace(chr(34), chr(39))}"')


class GbServer:
    def __init__(self, cfg: GbConfig, db_url: str, secret: str | None = None,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self.cfg, self.db_url, self.secret, self.clock = cfg, db_url, secret, clock
        self.nonce_key = hashlib.sha256(b"gb28181-nonce:" + (secret or _secrets.token_hex(16)).encode()).digest()
        self.book = PresenceBook(cfg.keepalive_timeout_s, cfg.keepalive_interval_s)
        self.assembler = CatalogAssembler(cfg.catalog_timeout_s)
        self.peers: dict[str, Peer] = {}
        self.out: dict[str, OutTx] = {}
        self.stats = Stats()
        self.tz = ZoneInfo(cfg.timezone)
        self._sn = itertools.count(1)
        self._cseq = itertools.count(1)
        self._executor: ThreadPoolExecutor | None = None
        self._tasks: set[asyncio.Task] = set()
        self._admissions: dict[str, tuple[float, gbstore.Admission | None]] = {}
        self._nonce_use: dict[str, tuple[float, int]] = {}  # nonce → (issue time, highest nc accepted)
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.base_events.Server | None = None
        self._sweeper: asyncio.Task | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop it serves on (set by start)
        self.udp_port: int | None = None
        self.tcp_port: int | None = None

    # ---- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        global _running
        loop = self.loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gb28181-db")
        await self._restore()
        if "udp" in self.cfg.transport_list:
            self._udp, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self),
                                                               local_addr=(self.cfg.host, self.cfg.port))
            self.udp_port = self._udp.get_extra_info("sockname")[1]
        if "tcp" in self.cfg.transport_list:
            port = self.udp_port if self.udp_port and self.cfg.port == 0 else self.cfg.port
            try:
                self._tcp = await asyncio.start_server(self._tcp_client, self.cfg.host, port, limit=MAX_TCP_HEADER)
            except OSError:
                if port == self.cfg.port:
                    raise
                self._tcp = await asyncio.start_server(self._tcp_client, self.cfg.host, 0, limit=MAX_TCP_HEADER)
            self.tcp_port = self._tcp.sockets[0].getsockname()[1]
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="gb28181-sweep")
        _running = self
        log.info("GB/T 28181 server %s (domain %s) listening on %s udp=%s tcp=%s", self.cfg.server_id,
                 self.cfg.domain, self.cfg.host, self.udp_port, self.tcp_port)

    async def stop(self) -> None:
        global _running
        if self._sweeper:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        for tx in list(self.out.values()):
            if tx.retransmit:
                tx.retransmit.cancel()
            if not tx.future.done():
                tx.future.cancel()
        if self._udp:
            self._udp.close()
        if self._tcp:
            self._tcp.close()
            await self._tcp.wait_closed()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:  # the last keepalive times
            await self._db(gbstore.flush_keepalives, self.book.take_dirty())
        except Exception:
            log.exception("could not write the last keepalive times")
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._udp = self._tcp = self._sweeper = None
        if _running is self:
            _running = None

    async def run(self) -> None:
        """For the supervisor: serve until cancelled."""
        await run_until_cancelled(self.start, self.stop)

    # ---- plumbing --------------------------------------------------------------------------------

    async def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
        def work() -> Any:
            with session_scope(self.db_url) as s:
                return fn(s, *args)

        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def _spawn(self, coro) -> None:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    def _publish(self, pubs: list[gbstore.Publish]) -> None:
        for topic, payload in pubs:
            bus.publish(topic, payload)

    def date_header(self, now: datetime) -> str:
        local = now.astimezone(self.tz)
        return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}"

    def on_datagram(self, data: bytes, peer: Peer) -> None:
        self._spawn(self.handle(data, peer))

    async def handle(self, data: bytes, peer: Peer) -> None:
        """One message from a peer: parse, dispatch, answer; never raises."""
        if not data.strip():
            return  # CRLF keepalive of the transport
        self.stats.counts["received"] += 1
        try:
            msg = sip.parse(data)
        except sip.SipError as exc:
            self.stats.counts["malformed"] += 1
            log.warning("malformed SIP message from %s: %s", peer, exc.reason)
            if not data.lstrip().startswith(b"SIP/2.0"):  # a malformed response is dropped (RFC 3261)
                peer.send(self._bad_request(exc, peer))
            return
        if not msg.is_request:
            self._on_response(msg)
            return
        try:
            reply = await self._dispatch(msg, peer)
        except sip.SipError as exc:
            self.stats.counts["malformed"] += 1
            log.warning("bad %s from %s: %s", msg.method, peer, exc.reason)
            reply = Reply(self._respond(msg, peer, 400, headers=[_warning(self.cfg.server_id, exc.reason)]))
        except Exception:
            self.stats.counts["errors"] += 1
            log.exception("error handling %s from %s", msg.method, peer)
            reply = Reply(self._respond(msg, peer, 500))
        if reply.data:
            peer.send(reply.data)
        if reply.after:
            reply.after()

    def _respond(self, req: sip.SipMessage, peer: Peer, status: int, reason: str | None = None,
                 headers: list[tuple[str, str]] | None = None) -> bytes:
        vias = req.headers_all("Via")
        if vias:  # RFC 3581: tell the peer where its message came from
            top = vias[0]
            params = top.split(";")
            out = [params[0]]
            for p in params[1:]:
                k = p.strip().split("=")[0].lower()
                if k == "rport":
                    out.append(f"rport={peer.port}")
                elif k != "received":
                    out.append(p.strip())
            out.append(f"received={peer.host}")
            req = sip.SipMessage(req.method, req.uri, headers=[(n, v) for n, v in req.headers if n != "Via"]
                                 + [("Via", ";".join(out))] + [("Via", v) for v in vias[1:]])
        base = [("User-Agent", USER_AGENT)] + (headers or [])
        return sip.build_response(req, status, reason, base, to_tag=sip.new_tag())

    def _bad_request(self, exc: sip.SipError, peer: Peer) -> bytes:
        warn = _warning(self.cfg.server_id, exc.reason)
        p = exc.partial
        if p is not None and p.is_request and p.header("Via"):
            return self._respond(p, peer, 400, headers=[warn])
        return sip.serialize("SIP/2.0 400 Bad Request", [warn, ("User-Agent", USER_AGENT)])

    async def _dispatch(self, msg: sip.SipMessage, peer: Peer) -> Reply:
        self.stats.counts[msg.method] += 1
        if msg.method == "REGISTER":
            return await self._register(msg, peer)
        if msg.method in ("MESSAGE", "NOTIFY"):
            return await self._message(msg, peer)
        if msg.method == "OPTIONS":
            return Reply(self._respond(msg, peer, 200, headers=[("Allow", ALLOW)]))
        if msg.method == "ACK":
            return Reply(None)
        return Reply(self._respond(msg, peer, 405, headers=[("Allow", ALLOW)]))

    # ---- REGISTER --------------------------------------------------------------------------------

    async def _refuse(self, msg: sip.SipMessage, peer: Peer, code: str, reason: str) -> Reply:
        """403 for a device that is not admitted, with an admission alert."""
        now = self.clock()
        self.stats.counts["refused"] += 1
        ua = msg.header("User-Agent")
        alert, new = await self._db(gbstore.raise_admission_alert, code or "(none)", peer.host, peer.port,
                                    peer.transport, reason, ua, now)
        log.warning("admission refused: %s from %s: %s", code or "(no ID)", peer, reason)
        bus.publish("gb28181.admission", {"code": alert.code, "host": peer.host, "port": peer.port,
                                          "reason": reason, "attempts": alert.attempts, "new": new,
                                          "at": now.isoformat()})
        return Reply(self._respond(msg, peer, 403, headers=[_warning(self.cfg.server_id, reason)]))

    def _expires(self, msg: sip.SipMessage) -> int:
        raw = msg.header("Expires")
        if raw is None:
            contact = msg.header("Contact")
            if contact and contact.strip() != "*":
                raw = sip.parse_name_addr(contact).params.get("expires")
        if raw is None:
            return 3600
        if not raw.strip().isdigit() or len(raw.strip()) > 10:
            raise sip.SipError(f"bad Expires '{raw[:20]}'")
        return min(int(raw), self.cfg.max_expires_s)

    async def _register(self, msg: sip.SipMessage, peer: Peer) -> Reply:
        to = sip.parse_name_addr(msg.header("To") or "")
        code = to.user
        try:
            gbcode.parse(code)
        except gbcode.GBCodeError as exc:
            return await self._refuse(msg, peer, code, f"malformed device ID: {exc}")
        adm = await self._admission(code)
        if adm is None:
            return await self._refuse(msg, peer, code, "device ID is not in the registry")
        if adm.password is None:
            log.warning("device %s has no password and no default password is set: refused", code)
            return Reply(self._respond(msg, peer, 403, headers=[
                _warning(self.cfg.server_id, "no password configured for this device")]))
        now = self.clock()
        auth = msg.header("Authorization")
        if not auth:
            return Reply(self._challenge(msg, peer, now))
        scheme, params = sip.parse_auth(auth)
        if scheme.lower() != "digest":
            return Reply(self._respond(msg, peer, 403, headers=[
                _warning(self.cfg.server_id, f"authorization scheme '{scheme[:16]}' is not Digest")]))
        verdict = digest.verify(params, method="REGISTER", realm=self.cfg.domain, username=code,
                                password=adm.password, key=self.nonce_key, now=now.timestamp(),
                                nonce_ttl_s=self.cfg.nonce_ttl_s)
        if verdict.status == 401:
            return Reply(self._challenge(msg, peer, now, stale=verdict.stale))
        if verdict.ok and not self._fresh_use(params, now.timestamp()):
            return Reply(self._challenge(msg, peer, now, stale=True))  # a replayed Authorization
        if not verdict.ok:
            self.stats.counts["auth_failed"] += 1
            log.warning("registration of %s from %s refused: %s", code, peer, verdict.reason)
            return Reply(self._respond(msg, peer, 403, headers=[_warning(self.cfg.server_id, verdict.reason)]))
        expires = self._expires(msg)
        headers = [("Date", self.date_header(now)), ("Expires", str(expires))]
        if expires == 0:
            t = self.book.unregister(code, now)
            self.peers.pop(code, None)

            def unregister(s):
                gbstore.end_registration(s, code, now)
                return gbstore.apply_transition(s, t) if t else []

            self._publish(await self._db(unregister))
            log.info("device %s unregistered from %s", code, peer)
            return Reply(self._respond(msg, peer, 200, headers=headers))
        contact = msg.header("Contact")
        if contact:
            headers.append(("Contact", contact))
        ua = msg.header("User-Agent")

        t = self.book.register(code, now, expires)

        def save(s):
            gbstore.save_registration(s, adm, peer.host, peer.port, peer.transport, contact, ua, expires, now)
            return gbstore.apply_transition(s, t) if t else []

        self._publish(await self._db(save))
        self.peers[code] = peer
        self.stats.counts["registered"] += 1
        log.info("device %s registered from %s for %d s", code, peer, expires)
        after = (lambda: self._spawn(self.query_catalog(code))) if self.cfg.catalog_on_register else None
        return Reply(self._respond(msg, peer, 200, headers=headers), after)

    def _fresh_use(self, params: dict[str, str], now: float) -> bool:
        """Each nonce's nc must grow (RFC 2617 replay protection); without qop a nonce is good once."""
        nonce = params["nonce"]
        try:
            nc = int(params.get("nc") or "0", 16)
        except ValueError:
            return False
        seen = self._nonce_use.get(nonce)
        if seen is not None and nc <= seen[1]:
            return False
        self._nonce_use[nonce] = (now, nc)
        return True

    async def _admission(self, code: str) -> gbstore.Admission | None:
        mono = asyncio.get_running_loop().time()
        hit = self._admissions.get(code)
        if hit is not None and hit[0] > mono:
            return hit[1]
        adm = await self._db(gbstore.find_admission, code, self.secret, self.cfg.default_password)
        if len(self._admissions) > 100_000:
            self._admissions.clear()
        self._admissions[code] = (mono + ADMISSION_CACHE_S, adm)
        return adm

    def _challenge(self, msg: sip.SipMessage, peer: Peer, now: datetime, stale: bool = False) -> bytes:
        nonce = digest.make_nonce(self.nonce_key, now.timestamp())
        return self._respond(msg, peer, 401, headers=[
            ("WWW-Authenticate", digest.challenge(self.cfg.domain, nonce, stale))])

    # ---- MESSAGE / NOTIFY ------------------------------------------------------------------------

    async def _message(self, msg: sip.SipMessage, peer: Peer) -> Reply:
        code = sip.parse_name_addr(msg.header("From") or "").user
        ctype = (msg.header("Content-Type") or "").split(";")[0].strip()
        if ctype.lower() != manscdp.CONTENT_TYPE.lower():
            return Reply(self._respond(msg, peer, 415, headers=[
                ("Accept", manscdp.CONTENT_TYPE),
                _warning(self.cfg.server_id, f"Content-Type '{ctype[:40]}' is not {manscdp.CONTENT_TYPE}")]))
        now = self.clock()
        known = self.peers.get(code)
        if not self.book.is_registered(code, now):
            return Reply(self._respond(msg, peer, 403, headers=[
                _warning(self.cfg.server_id, f"device '{code[:24]}' is not registered")]))
        if known is not None and known.host != peer.host:
            log.warning("message claiming %s from %s, registered from %s: refused", code, peer, known)
            return Reply(self._respond(msg, peer, 403, headers=[
                _warning(self.cfg.server_id, "sender address differs from the registration")]))
        try:
            body = manscdp.parse(msg.body)
        except manscdp.ManscdpError as exc:
            raise sip.SipError(f"MANSCDP body: {exc}") from None
        # a device answers a query or command about one of its channels with that channel's ID; its own
        # notifications (keepalive, catalog events) carry its own
        if body.device_id != code and body.root != "Response":
            raise sip.SipError(f"DeviceID {body.device_id[:24]} in the body is not the sender {code}")
        if peer.transport == "TCP" or known is None:
            self.peers[code] = peer
        ok = Reply(self._respond(msg, peer, 200))
        if body.cmd_type == "Keepalive":
            self.stats.counts["keepalive"] += 1
            t = self.book.keepalive(code, now)
            if t:
                self._publish(await self._db(gbstore.apply_transition, t))
            return ok
        if body.cmd_type == "Catalog" and body.root == "Response":
            if body.sum_num is None:
                raise sip.SipError("catalog response without SumNum")
            try:
                done = self.assembler.add(code, body.sn, body.sum_num, body.items, now)
            except ValueError as exc:
                raise sip.SipError(str(exc)) from None
            if done:
                await self._apply_catalog(done)
            return ok
        if body.cmd_type == "Catalog" and body.root == "Notify":
            items = [it for it in body.items if it.event]
            if items:
                res = await self._db(gbstore.apply_catalog, code, items, now)
                self._publish(res.publish)
                log.info("catalog events from %s: %s", code, res.summary())
            return ok
        log.debug("%s %s from %s answered without action", body.root, body.cmd_type, code)
        return ok

    async def _apply_catalog(self, done: Assembled) -> None:
        res = await self._db(gbstore.apply_catalog, done.device_code, done.items, self.clock(), done.sum_num,
                             done.complete)
        self._publish(res.publish)
        self.stats.counts["catalogs"] += 1
        log.info("catalog of %s (%d items in %d parts%s): %s", done.device_code, len(done.items), done.parts,
                 "" if done.complete else ", incomplete", res.summary())

    # ---- requests to devices ---------------------------------------------------------------------

    def _local_host(self, peer: Peer) -> str:
        if self.cfg.advertise_host:
            return self.cfg.advertise_host
        if self.cfg.host not in ("0.0.0.0", "::", ""):
            return self.cfg.host
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.connect((peer.host, peer.port or 9))
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"
        finally:
            s.close()

    async def send_request(self, code: str, method: str, body: bytes, content_type: str,
                           what: str) -> sip.SipMessage | None:
        """Send a request to a registered device; the final response, or None on timeout."""
        peer = self.peers.get(code)
        if peer is None:
            raise LookupError(f"device {code} has no known address")
        host = self._local_host(peer)
        port = self.udp_port if peer.transport == "UDP" else self.tcp_port
        branch = sip.new_branch()
        headers = [
            ("Via", f"SIP/2.0/{peer.transport} {host}:{port};rport;branch={branch}"),
            ("From", f"<sip:{self.cfg.server_id}@{self.cfg.domain}>;tag={sip.new_tag()}"),
            ("To", f"<sip:{code}@{self.cfg.domain}>"),
            ("Call-ID", f"{_secrets.token_hex(10)}@{host}"),
            ("CSeq", f"{next(self._cseq)} {method}"),
            ("Max-Forwards", "70"),
            ("User-Agent", USER_AGENT),
            ("Content-Type", content_type),
        ]
        data = sip.build_request(method, f"sip:{code}@{peer.host}:{peer.port}", headers, body)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        tx = OutTx(branch, data, peer, fut, what)
        self.out[branch] = tx
        peer.send(data)
        if peer.transport == "UDP":
            tx.retransmit = asyncio.create_task(self._retransmit(tx))
        try:
            return await asyncio.wait_for(asyncio.shield(fut), TIMER_F)
        except asyncio.TimeoutError:
            log.warning("%s to %s: no answer within %.0f s", what, code, TIMER_F)
            return None
        finally:
            self.out.pop(branch, None)
            if tx.retransmit:
                tx.retransmit.cancel()

    async def _retransmit(self, tx: OutTx) -> None:
        delay = T1
        while not tx.future.done():
            await asyncio.sleep(delay)
            if tx.future.done():
                return
            tx.peer.send(tx.data)
            delay = min(delay * 2, 4.0)

    def _on_response(self, msg: sip.SipMessage) -> None:
        tx = self.out.get(msg.branch or "")
        if tx is None:
            log.debug("response %s for no pending transaction", msg.status)
            return
        if msg.status is not None and msg.status < 200:
            if tx.retransmit:  # provisional: stop retransmitting, keep waiting
                tx.retransmit.cancel()
            return
        if not tx.future.done():
            tx.future.set_result(msg)

    async def query_catalog(self, code: str) -> sip.SipMessage | None:
        sn = next(self._sn)
        try:
            resp = await self.send_request(code, "MESSAGE", manscdp.catalog_query(sn, code),
                                           manscdp.CONTENT_TYPE, f"catalog query SN {sn}")
        except LookupError as exc:
            log.warning("catalog query: %s", exc)
            return None
        if resp is not None and resp.status != 200:
            log.warning("catalog query to %s answered %s %s", code, resp.status, resp.reason)
        return resp

    async def control_ptz(self, device_code: str, channel_code: str, cmd: ptz.PtzCommand) -> sip.SipMessage | None:
        """Send a front-end command (a preset call …) for ``channel_code`` to the registered device
        ``device_code`` it belongs to: the device's final answer, or None when it did not answer.
        Raises LookupError when the device has no known address."""
        sn = next(self._sn)
        text = ptz.encode(cmd)
        resp = await self.send_request(device_code, "MESSAGE", manscdp.ptz_control(sn, channel_code, text),
                                       manscdp.CONTENT_TYPE, f"PTZ command {text} for {channel_code} (SN {sn})")
        if resp is not None and resp.status != 200:
            log.warning("PTZ command %s for %s answered %s %s", text, channel_code, resp.status, resp.reason)
        return resp

    # ---- timers ----------------------------------------------------------------------------------

    async def _restore(self) -> None:
        regs = await self._db(gbstore.load_registrations)
        for r in regs:
            if not r.online:
                continue
            seen = max(t for t in (r.registered_at, r.last_keepalive_at) if t is not None)
            self.book.restore(r.code, True, r.expires_at, seen, r.last_keepalive_at)
            if r.transport == "UDP":
                self.peers[r.code] = Peer("UDP", r.remote_host, r.remote_port, self._udp_sender(r.remote_host,
                                                                                                 r.remote_port))
        if regs:
            log.info("restored %d online registration(s)", sum(1 for r in regs if r.online))

    def _udp_sender(self, host: str, port: int) -> Callable[[bytes], None]:
        def send(data: bytes) -> None:
            if self._udp is not None:
                self._udp.sendto(data, (host, port))
        return send

    async def sweep(self, now: datetime | None = None) -> list[Transition]:
        now = now or self.clock()
        transitions = self.book.sweep(now)
        for t in transitions:
            log.info("device %s offline: %s", t.code, t.reason)
            self._publish(await self._db(gbstore.apply_transition, t))
            if not self.book.is_registered(t.code, now):
                self.peers.pop(t.code, None)
        limit = now.timestamp() - self.cfg.nonce_ttl_s - 5
        for nonce in [n for n, (t, _) in self._nonce_use.items() if t < limit]:
            del self._nonce_use[nonce]
        dirty = self.book.take_dirty()
        if dirty:
            await self._db(gbstore.flush_keepalives, dirty)
        for partial in self.assembler.expire(now):
            await self._apply_catalog(partial)
        return transitions

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.sweep_interval_s)
            try:
                await self.sweep()
            except Exception:
                log.exception("GB/T 28181 sweep failed; next one in %.1f s", self.cfg.sweep_interval_s)

    # ---- TCP -------------------------------------------------------------------------------------

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = writer.get_extra_info("peername")[:2]

        def send(data: bytes) -> None:
            if not writer.is_closing():
                writer.write(data)

        peer = Peer("TCP", host, port, send)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError:
                    peer.send(sip.serialize("SIP/2.0 400 Bad Request", [
                        _warning(self.cfg.server_id, f"headers longer than {MAX_TCP_HEADER} bytes")]))
                    break
                head = head.lstrip(b"\r\n")
                if not head.strip():
                    continue
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() in (b"content-length", b"l"):
                        v = value.strip()
                        length = int(v) if v.isdigit() and len(v) < 7 else -1
                if length < 0 or length > sip.MAX_MESSAGE_BYTES:
                    peer.send(sip.serialize("SIP/2.0 400 Bad Request", [
                        _warning(self.cfg.server_id, "bad Content-Length on a stream transport")]))
                    break
                body = await reader.readexactly(length) if length else b""
                await self.handle(head + body, peer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception:
            log.exception("TCP connection from %s:%s failed", host, port)
        finally:
            writer.close()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: GbServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        host, port = addr[:2]
        tr = self.transport

        def send(payload: bytes) -> None:
            tr.sendto(payload, (host, port))

        self.server.on_datagram(data, Peer("UDP", host, port, send))

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)
