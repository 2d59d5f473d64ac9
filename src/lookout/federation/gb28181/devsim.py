"""A simulated GB/T 28181 device: a recorder (NVR) with its channels, speaking SIP over UDP.

For the demo and the tests, built on this package's own SIP and MANSCDP code: it registers
with digest authentication, sends keepalives, answers the platform's catalog query with its
channels, and accepts front-end commands (``DeviceControl`` with a ``PTZCmd``), handing each to
a callback — the demo turns a simulated camera back to its view when its home preset is called.
A malformed request gets ``400`` naming what is wrong; the device keeps running.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from lookout.federation.gb28181 import digest, manscdp, ptz, sip
from lookout.runtime.supervisor import run_until_cancelled

log = logging.getLogger(__name__)

CATALOG_PART = 4  # items per catalog MESSAGE (real devices split long catalogs)
REPLY_TIMEOUT_S = 2.0
SENDS = 3  # UDP: a request is sent again when nothing comes back


@dataclass(frozen=True)
class SimChannel:
    code: str
    name: str
    status: str = "ON"


class DeviceError(RuntimeError):
    """The platform refused the device or did not answer."""


PtzHandler = Callable[[str, ptz.PtzCommand], None]  # (channel code, command); runs on the device's loop: keep it short


class SimulatedDevice(asyncio.DatagramProtocol):
    def __init__(self, code: str, password: str, server: tuple[str, int], channels: list[SimChannel], *,
                 domain: str = "3402000000", server_id: str = "34020000002000000001", keepalive_s: float = 60.0,
                 on_ptz: PtzHandler | None = None, host: str = "127.0.0.1") -> None:
        self.code, self.password, self.server, self.channels = code, password, server, channels
        self.domain, self.server_id, self.keepalive_s, self.on_ptz, self.host = (domain, server_id, keepalive_s,
                                                                                 on_ptz, host)
        self.commands: list[tuple[str, ptz.PtzCommand]] = []  # every front-end command accepted
        self.registered = False
        self.port: int | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: dict[str, asyncio.Future] = {}  # by Call-ID
        self._cseq, self._sn = itertools.count(1), itertools.count(1)
        self._tag = sip.new_tag()
        self._tasks: set[asyncio.Task] = set()

    # ---- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.get_running_loop().create_datagram_endpoint(lambda: self, local_addr=(self.host, 0))
        await self.register()
        self._spawn(self._keepalive_loop())

    async def stop(self, unregister: bool = True) -> None:
        """Stop keepalives and, unless told not to (the platform is already gone), unregister."""
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.registered and unregister:
            try:
                await self.register(expires=0)
            except DeviceError as exc:
                log.warning("simulated device %s: %s", self.code, exc)
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def run(self) -> None:
        """Register and serve until cancelled."""
        await run_until_cancelled(self.start, self.stop)

    # ---- asyncio protocol ------------------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            msg = sip.parse(data)
        except sip.SipError as exc:
            log.warning("simulated device %s: unreadable message from %s: %s", self.code, addr, exc)
            return
        if msg.is_request:
            self._answer(msg, addr)
            return
        fut = self._pending.get(msg.call_id or "")
        if fut is not None and not fut.done() and (msg.status or 0) >= 200:
            fut.set_result(msg)

    # ---- requests to the platform ----------------------------------------------------------------

    async def register(self, expires: int = 3600) -> None:
        uri = f"sip:{self.server_id}@{self.domain}"
        call_id = secrets.token_hex(8)
        head = [("Expires", str(expires))]
        resp = await self._request("REGISTER", uri, head, call_id=call_id, to_user=self.code)
        if resp.status == 401:
            _, ch = sip.parse_auth(resp.header("WWW-Authenticate") or "")
            cnonce, nc = secrets.token_hex(4), "00000001"
            answer = digest.expected_response(self.code, ch.get("realm", ""), self.password, "REGISTER", uri,
                                              ch.get("nonce", ""), "auth", nc, cnonce)
            auth = (f'Digest username="{self.code}", realm="{ch.get("realm", "")}", nonce="{ch.get("nonce", "")}", '
                    f'uri="{uri}", response="{answer}", algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}"')
            resp = await self._request("REGISTER", uri, [*head, ("Authorization", auth)], call_id=call_id,
                                       to_user=self.code)
        if resp.status != 200:
            raise DeviceError(f"REGISTER of {self.code} (Expires {expires}) answered {resp.status} {resp.reason}")
        self.registered = expires > 0

    async def keepalive(self) -> None:
        resp = await self._message(manscdp.keepalive(next(self._sn), self.code))
        if resp.status != 200:
            raise DeviceError(f"keepalive of {self.code} answered {resp.status} {resp.reason}")

    async def _keepalive_loop(self) -> None:
        while True:
            await asyncio.sleep(self.keepalive_s)
            try:
                await self.keepalive()
            except DeviceError as exc:  # the platform restarted or forgot us: register again
                log.warning("simulated device %s: %s; registering again", self.code, exc)
                try:
                    await self.register()
                except DeviceError as again:
                    log.warning("simulated device %s: %s", self.code, again)

    async def _send_catalog(self, sn: str) -> None:
        items = [{"DeviceID": c.code, "Name": c.name, "Manufacturer": "Lookout", "Model": "simulated camera",
                  "Owner": "Owner", "CivilCode": c.code[:6], "Address": "", "Parental": 0, "ParentID": self.code,
                  "SafetyWay": 0, "RegisterWay": 1, "Secrecy": 0, "Status": c.status} for c in self.channels]
        for k in range(0, max(len(items), 1), CATALOG_PART):
            body = manscdp.catalog_response(int(sn or 0), self.code, len(items), items[k:k + CATALOG_PART])
            try:
                await self._message(body)
            except DeviceError as exc:
                log.warning("simulated device %s: catalog part not delivered: %s", self.code, exc)
                return

    async def _message(self, body: bytes) -> sip.SipMessage:
        return await self._request("MESSAGE", f"sip:{self.server_id}@{self.domain}",
                                   [("Content-Type", manscdp.CONTENT_TYPE)], body)

    async def _request(self, method: str, uri: str, headers: list[tuple[str, str]], body: bytes = b"",
                       call_id: str | None = None, to_user: str | None = None) -> sip.SipMessage:
        if self._transport is None:
            raise DeviceError(f"simulated device {self.code} is not started")
        call_id = call_id or secrets.token_hex(8)
        data = sip.build_request(method, uri, [
            ("Via", f"SIP/2.0/UDP {self.host}:{self.port};rport;branch={sip.new_branch()}"),
            ("From", f"<sip:{self.code}@{self.domain}>;tag={self._tag}"),
            ("To", f"<sip:{to_user or self.server_id}@{self.domain}>"),
            ("Call-ID", call_id), ("CSeq", f"{next(self._cseq)} {method}"), ("Max-Forwards", "70"),
            ("Contact", f"<sip:{self.code}@{self.host}:{self.port}>"), ("User-Agent", "Lookout simulated device"),
            *headers], body)
        fut = asyncio.get_running_loop().create_future()
        self._pending[call_id] = fut
        try:
            for _ in range(SENDS):
                self._transport.sendto(data, self.server)
                try:
                    return await asyncio.wait_for(asyncio.shield(fut), REPLY_TIMEOUT_S)
                except asyncio.TimeoutError:
                    continue
            raise DeviceError(f"{method} from {self.code}: no answer from {self.server[0]}:{self.server[1]}")
        finally:
            self._pending.pop(call_id, None)

    # ---- requests from the platform --------------------------------------------------------------

    def _answer(self, req: sip.SipMessage, addr) -> None:
        def reply(status: int, why: str | None = None) -> None:
            extra = [("Warning", f'399 {self.code} "{why}"')] if why else None
            if self._transport is not None:
                self._transport.sendto(sip.build_response(req, status, headers=extra, to_tag=self._tag), addr)

        if req.method != "MESSAGE":
            reply(200 if req.method == "OPTIONS" else 405)
            return
        try:
            body = manscdp.parse(req.body)
        except manscdp.ManscdpError as exc:
            log.warning("simulated device %s: bad MANSCDP body: %s", self.code, exc)
            reply(400, str(exc))
            return
        if body.root == "Query" and body.cmd_type == "Catalog":
            reply(200)
            self._spawn(self._send_catalog(body.sn))
        elif body.root == "Control" and body.cmd_type == "DeviceControl" and "PTZCmd" in body.fields:
            self._front_end(body, reply)
        else:
            reply(200)

    def _front_end(self, body: manscdp.Manscdp, reply: Callable[..., None]) -> None:
        if body.device_id not in {c.code for c in self.channels}:
            reply(404, f"no channel {body.device_id[:24]} on device {self.code}")
            return
        try:
            cmd = ptz.decode(body.fields["PTZCmd"])
        except ptz.PtzError as exc:
            log.warning("simulated device %s: %s", self.code, exc)
            reply(400, str(exc))
            return
        reply(200)
        self.commands.append((body.device_id, cmd))
        if self.on_ptz is not None:
            try:
                self.on_ptz(body.device_id, cmd)
            except Exception:  # the simulated camera's trouble is not the platform's
                log.exception("simulated device %s: front-end command handler failed", self.code)

    def _spawn(self, coro) -> None:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
