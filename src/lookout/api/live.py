"""The live-events WebSocket: relays bus events to a browser, filtered by the account's scope.

Topics that name a site or a channel (``site.<id>.…``, ``channel.<id>.…``) reach only accounts that may
see that site or channel; a new channel (from a catalog, a ledger import) is looked up when its first
event arrives. Other topics (``gb28181.admission``, ``media.disk``) are operational alerts for the roles
that act on them.
"""

from __future__ import annotations

import time

from fastapi import WebSocket, WebSocketDisconnect
from sqlalchemy import select

from lookout.api.deps import SESSION_COOKIE, user_from_token
from lookout.registry.models import Channel, Site
from lookout.runtime.bus import bus
from lookout.security import scope
from lookout.security.models import User
from lookout.store.db import session_factory

OPERATIONAL_ROLES = {"admin", "official", "operator", "om_engineer"}


class ScopeCache:
    """Which site and channel ids an account may see; unknown ids are checked once (negatives for ttl)."""

    def __init__(self, db_url: str, user: User, negative_ttl_s: float = 30.0) -> None:
        self.db_url, self.user, self.ttl = db_url, user, negative_ttl_s
        self.allowed: dict[str, set[str]] = {"site": set(), "channel": set()}
        self.denied: dict[tuple[str, str], float] = {}
        with session_factory(db_url)() as db:
            self.allowed["site"] = {str(i) for i in db.execute(scope.site_filter(select(Site.id), user)).scalars()}
            self.allowed["channel"] = {
                str(i) for i in db.execute(scope.channel_filter(select(Channel.id), user)).scalars()}

    def visible(self, kind: str, ident: str, now: float | None = None) -> bool:
        if ident in self.allowed[kind]:
            return True
        now = time.monotonic() if now is None else now
        if self.denied.get((kind, ident), -1.0) > now:
            return False
        if not ident.isdigit():
            return False
        model, filt = (Site, scope.site_filter) if kind == "site" else (Channel, scope.channel_filter)
        with session_factory(self.db_url)() as db:
            ok = db.execute(filt(select(model.id).where(model.id == int(ident)), self.user)).first() is not None
        if ok:
            self.allowed[kind].add(ident)
        else:
            self.denied[(kind, ident)] = now + self.ttl
        return ok

    def admits(self, topic: str) -> bool:
        parts = topic.split(".")
        if len(parts) > 1 and parts[0] in ("site", "channel"):
            return self.visible(parts[0], parts[1])
        return self.user.role in OPERATIONAL_ROLES


async def relay(ws: WebSocket, db_url: str, secret: str) -> None:
    token = ws.cookies.get(SESSION_COOKIE) or ws.query_params.get("token")
    with session_factory(db_url)() as db:
        user = user_from_token(db, secret, token)
        if user is not None:
            db.expunge(user)
    if user is None:
        await ws.close(code=4401, reason="not signed in")
        return
    cache = ScopeCache(db_url, user)
    prefixes = [p for p in ws.query_params.get("topics", "").split(",") if p] or [""]
    await ws.accept()
    sub = bus.subscribe("")
    try:
        while True:
            ev = await sub.get()
            if any(ev.topic.startswith(p) for p in prefixes) and cache.admits(ev.topic):
                await ws.send_json({"topic": ev.topic, "ts": ev.ts, "data": ev.payload})
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        sub.close()
