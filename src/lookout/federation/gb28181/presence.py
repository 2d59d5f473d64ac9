"""Online state of registered devices from REGISTER and keepalive MESSAGEs. Pure: time is passed in.

A device is online from a successful registration; each keepalive refreshes it; it goes offline
when it unregisters, when its registration expires without a refresh, or when no keepalive has
arrived for ``keepalive_timeout_s`` (three missed 60 s keepalives by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

REASON_REGISTERED = "registered"
REASON_KEEPALIVE = "keepalive received"
REASON_UNREGISTERED = "unregistered (Expires: 0)"
REASON_EXPIRED = "registration expired"


def timeout_reason(timeout_s: float, interval_s: float) -> str:
    missed = max(1, round(timeout_s / interval_s)) if interval_s else 0
    return f"no keepalive for {timeout_s:g} s ({missed} missed)"


@dataclass
class Presence:
    code: str
    online: bool
    registered_until: datetime | None
    last_seen: datetime | None
    last_keepalive: datetime | None = None
    dirty: bool = False  # last_keepalive changed since the last flush to the database


@dataclass(frozen=True)
class Transition:
    code: str
    online: bool
    reason: str
    at: datetime


class PresenceBook:
    def __init__(self, keepalive_timeout_s: float = 180.0, keepalive_interval_s: float = 60.0) -> None:
        self.timeout = timedelta(seconds=keepalive_timeout_s)
        self.timeout_reason = timeout_reason(keepalive_timeout_s, keepalive_interval_s)
        self.devices: dict[str, Presence] = {}

    def get(self, code: str) -> Presence | None:
        return self.devices.get(code)

    def restore(self, code: str, online: bool, registered_until: datetime | None, last_seen: datetime | None,
                last_keepalive: datetime | None) -> None:
        """State read back from the database when the server starts."""
        self.devices[code] = Presence(code, online, registered_until, last_seen, last_keepalive)

    def is_registered(self, code: str, now: datetime) -> bool:
        p = self.devices.get(code)
        return bool(p and p.registered_until and p.registered_until > now)

    def register(self, code: str, now: datetime, expires_s: int) -> Transition | None:
        p = self.devices.get(code)
        if p is None:
            p = self.devices[code] = Presence(code, False, None, None)
        p.registered_until = now + timedelta(seconds=expires_s)
        p.last_seen = now
        return self._set(p, True, REASON_REGISTERED, now)

    def unregister(self, code: str, now: datetime) -> Transition | None:
        p = self.devices.get(code)
        if p is None:
            return None
        p.registered_until = None
        return self._set(p, False, REASON_UNREGISTERED, now)

    def keepalive(self, code: str, now: datetime) -> Transition | None:
        """Only for a registered device (the caller answers others with 403)."""
        p = self.devices[code]
        p.last_seen = p.last_keepalive = now
        p.dirty = True
        return self._set(p, True, REASON_KEEPALIVE, now)

    def sweep(self, now: datetime) -> list[Transition]:
        out = []
        for p in self.devices.values():
            if not p.online:
                continue
            if p.registered_until is None or p.registered_until <= now:
                t = self._set(p, False, REASON_EXPIRED, now)
            elif p.last_seen is not None and now - p.last_seen >= self.timeout:
                t = self._set(p, False, self.timeout_reason, now)
            else:
                t = None
            if t:
                out.append(t)
        return out

    def take_dirty(self) -> dict[str, datetime]:
        """Keepalive times not yet written to the database (and mark them written)."""
        out = {}
        for p in self.devices.values():
            if p.dirty and p.last_keepalive is not None:
                out[p.code] = p.last_keepalive
                p.dirty = False
        return out

    @staticmethod
    def _set(p: Presence, online: bool, reason: str, now: datetime) -> Transition | None:
        if p.online == online:
            return None
        p.online = online
        return Transition(p.code, online, reason, now)
