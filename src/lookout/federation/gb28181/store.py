"""Database side of the GB/T 28181 server: admission, registrations, status changes and catalog upserts.

Every function works in the caller's transaction (``session_scope``) and returns the live events to
publish once it commits, so a failed write publishes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lookout.federation.gb28181.manscdp import CatalogItem
from lookout.federation.gb28181.presence import Transition
from lookout.federation.models import GbAdmissionAlert, GbCatalogItem, GbRegistration, GbStatusEvent
from lookout.registry import gbcode
from lookout.registry.models import Channel, Device, Site, default_retention_days
from lookout.security import audit
from lookout.security.secrets import decrypt

log = logging.getLogger(__name__)

ACTOR = "gb28181"
CAMERA_TYPES = ("131", "132")  # catalog items that become registry channels
# a channel's state reasons (the operator UI translates each form: lookout.web.i18n.reason)
DEVICE_OFFLINE_PREFIX = "GB/T 28181 device offline"
DEVICE_ONLINE_PREFIX = "GB/T 28181 device online"
REASON_CATALOG_DEL = "removed from the device's catalog (catalog event DEL)"
CATALOG_STATUS_PREFIX = "GB/T 28181 catalog: Status "
EVENT_STATUS = {"ON": ("online", "catalog event ON"), "OFF": ("offline", "catalog event OFF"),
                "VLOST": ("fault", "video lost (catalog event VLOST)"),
                "DEFECT": ("fault", "device defect (catalog event DEFECT)")}

Publish = tuple[str, dict[str, Any]]


@dataclass
class Admission:
    code: str
    kind: str  # "device" or "channel" (an IPC registering directly)
    device_id: int | None
    channel_id: int | None
    site_id: int
    password: str | None


def find_admission(session: Session, code: str, secret: str | None, default_password: str | None) -> Admission | None:
    """The registry entry a registering code belongs to, with the password to check, or None (not admitted)."""
    dev = session.execute(select(Device).where(Device.code == code)).scalar_one_or_none()
    if dev is not None:
        return Admission(code, "device", dev.id, None, dev.site_id, _password(dev, secret) or default_password)
    ch = session.execute(select(Channel).where(Channel.code == code)).scalar_one_or_none()
    if ch is not None:
        pw = _password(ch.device, secret) if ch.device is not None else None
        return Admission(code, "channel", ch.device_id, ch.id, ch.site_id, pw or default_password)
    return None


def _password(dev: Device | None, secret: str | None) -> str | None:
    if dev is None or not dev.password_enc:
        return None
    if not secret:
        log.warning("device %s has a stored password but no instance secret is available", dev.code)
        return None
    try:
        return decrypt(secret, dev.password_enc)
    except ValueError as exc:
        log.warning("device %s: %s", dev.code, exc)
        return None


def raise_admission_alert(session: Session, code: str, host: str, port: int, transport: str, reason: str,
                          user_agent: str | None, now: datetime) -> tuple[GbAdmissionAlert, bool]:
    """Record (or count again) a refused device; returns the alert and whether it is new."""
    code = code[:64]
    alert = session.execute(select(GbAdmissionAlert).where(
        GbAdmissionAlert.code == code, GbAdmissionAlert.remote_host == host)).scalar_one_or_none()
    if alert is None:
        alert = GbAdmissionAlert(code=code, remote_host=host, remote_port=port, transport=transport,
                                 reason=reason[:255], user_agent=(user_agent or "")[:128] or None,
                                 first_seen=now, last_seen=now, attempts=1)
        session.add(alert)
        session.flush()
        return alert, True
    alert.attempts += 1
    alert.last_seen, alert.remote_port, alert.reason = now, port, reason[:255]
    return alert, False


def save_registration(session: Session, adm: Admission, host: str, port: int, transport: str,
                      contact: str | None, user_agent: str | None, expires_s: int, now: datetime) -> GbRegistration:
    reg = session.execute(select(GbRegistration).where(GbRegistration.code == adm.code)).scalar_one_or_none()
    if reg is None:
        reg = GbRegistration(code=adm.code)
        session.add(reg)
    reg.device_id, reg.channel_id = adm.device_id if adm.kind == "device" else None, adm.channel_id
    reg.transport, reg.remote_host, reg.remote_port = transport, host, port
    reg.contact, reg.user_agent = contact, (user_agent or "")[:128] or None
    reg.expires_s, reg.registered_at, reg.expires_at = expires_s, now, now + timedelta(seconds=expires_s)
    session.flush()
    return reg


def end_registration(session: Session, code: str, now: datetime) -> None:
    reg = session.execute(select(GbRegistration).where(GbRegistration.code == code)).scalar_one_or_none()
    if reg is not None:
        reg.expires_at = now


def load_registrations(session: Session) -> list[GbRegistration]:
    return list(session.execute(select(GbRegistration)).scalars())


def _reaches_channel():
    """A registration that reaches ``Channel``: its own (a camera registered by itself) or its recorder's."""
    from sqlalchemy import and_, or_

    return or_(GbRegistration.channel_id == Channel.id,
               and_(Channel.device_id.is_not(None), GbRegistration.device_id == Channel.device_id))


def registration_for(session: Session, channel: Channel, now: datetime) -> GbRegistration | None:
    """The live registration ``channel`` is reached through (its own before its recorder's), or None."""
    return session.execute(select(GbRegistration).join(Channel, _reaches_channel())
                           .where(Channel.id == channel.id, GbRegistration.expires_at > now)
                           .order_by(GbRegistration.channel_id.is_(None)).limit(1)).scalar_one_or_none()


def reachable_channels(session: Session, channel_ids: list[int], now: datetime) -> set[int]:
    """Those of ``channel_ids`` whose camera a front-end command can reach now (a live registration)."""
    from sqlalchemy import exists

    if not channel_ids:
        return set()
    live = exists().where(GbRegistration.expires_at > now, _reaches_channel())
    return set(session.execute(select(Channel.id).where(Channel.id.in_(channel_ids), live)).scalars())


def flush_keepalives(session: Session, seen: dict[str, datetime]) -> int:
    codes = list(seen)
    n = 0
    for i in range(0, len(codes), 500):  # bounded IN lists
        for reg in session.execute(select(GbRegistration).where(GbRegistration.code.in_(codes[i:i + 500]))).scalars():
            reg.last_keepalive_at = seen[reg.code]
            n += 1
    return n


# ---- status --------------------------------------------------------------------------------------


def _payload(ch: Channel, now: datetime) -> Publish:
    return (f"channel.{ch.id}.status", {"channel_id": ch.id, "code": ch.code, "status": ch.status,
                                        "reason": ch.status_reason, "at": now.isoformat(), "source": ACTOR})


def _set_channel_status(session: Session, ch: Channel, status: str, reason: str, now: datetime,
                        code: str, pubs: list[Publish], audits: list) -> bool:
    if ch.status == status and ch.status_reason == reason:
        return False
    before = {"status": ch.status, "status_reason": ch.status_reason}
    changed = ch.status != status
    ch.status, ch.status_reason = status, reason[:255]
    if changed:
        ch.status_changed_at = now
        session.add(GbStatusEvent(code=code, device_id=ch.device_id, channel_id=ch.id, status=status,
                                  reason=reason[:255], at=now))
        audits.append(("status", "channel", ch.id, before, {"status": status, "status_reason": ch.status_reason}))
        pubs.append(_payload(ch, now))
    return changed


def apply_transition(session: Session, t: Transition) -> list[Publish]:
    """Store a device's online/offline change and carry it to the device's channels."""
    status = "online" if t.online else "offline"
    pubs: list[Publish] = []
    audits: list = []
    reg = session.execute(select(GbRegistration).where(GbRegistration.code == t.code)).scalar_one_or_none()
    if reg is None:
        return pubs
    reg.online, reg.status_reason, reg.status_changed_at = t.online, t.reason[:255], t.at
    session.add(GbStatusEvent(code=t.code, device_id=reg.device_id, channel_id=reg.channel_id, status=status,
                              reason=t.reason[:255], at=t.at))
    down_reason = f"{DEVICE_OFFLINE_PREFIX}: {t.reason}"
    if reg.device_id is not None:
        dev = session.get(Device, reg.device_id)
        if dev is not None and dev.status != status:
            audits.append(("status", "device", dev.id, {"status": dev.status}, {"status": status, "reason": t.reason}))
            dev.status = status
        channels = session.execute(select(Channel).where(Channel.device_id == reg.device_id)).scalars()
    else:
        channels = session.execute(select(Channel).where(Channel.id == reg.channel_id)).scalars()
    for ch in channels:
        if not t.online:
            _set_channel_status(session, ch, "offline", down_reason, t.at, t.code, pubs, audits)
        elif ch.status_reason and ch.status_reason.startswith(DEVICE_OFFLINE_PREFIX) or reg.channel_id == ch.id:
            # only what this server took down comes back; the catalog answer refreshes the rest
            _set_channel_status(session, ch, "online", f"{DEVICE_ONLINE_PREFIX}: {t.reason}", t.at, t.code,
                                pubs, audits)
    audit.record_many(session, ACTOR, audits, now=t.at)
    return pubs


# ---- catalog -------------------------------------------------------------------------------------


@dataclass
class CatalogResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    not_channels: list[str] = field(default_factory=list)  # groups, alarm inputs …: kept as catalog items only
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (code, why)
    publish: list[Publish] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"created": len(self.created), "updated": len(self.updated), "unchanged": len(self.unchanged),
                "not_channels": len(self.not_channels), "rejected": [list(r) for r in self.rejected]}


def _registrant(session: Session, code: str) -> tuple[Device | None, Channel | None, Site | None]:
    dev = session.execute(select(Device).where(Device.code == code)).scalar_one_or_none()
    if dev is not None:
        return dev, None, dev.site
    ch = session.execute(select(Channel).where(Channel.code == code)).scalar_one_or_none()
    if ch is not None:
        return ch.device, ch, ch.site
    return None, None, None


def apply_catalog(session: Session, device_code: str, items: list[CatalogItem], now: datetime,
                  sum_num: int | None = None, complete: bool = True) -> CatalogResult:
    """Upsert a catalog answer or catalog events into the registry (channels by code), audited."""
    res = CatalogResult()
    audits: list = []
    dev, own_channel, site = _registrant(session, device_code)
    if site is None:
        res.rejected = [(it.device_id, "reporting device is not in the registry") for it in items]
        return res
    for it in items:
        try:
            _apply_item(session, it, device_code, dev, own_channel, site, now, res, audits)
        except ValueError as exc:
            res.rejected.append((it.device_id[:20], str(exc)))
    if sum_num is not None:
        reg = session.execute(select(GbRegistration).where(GbRegistration.code == device_code)).scalar_one_or_none()
        if reg is not None:
            reg.catalog_sum, reg.catalog_received, reg.catalog_at = sum_num, len(items), now
    audit.record_many(session, ACTOR, audits, now=now)
    if res.rejected:
        log.warning("catalog of %s: %d item(s) rejected: %s", device_code, len(res.rejected), res.rejected[:5])
    if not complete:
        log.warning("catalog of %s incomplete: %d of %s items arrived", device_code, len(items), sum_num)
    return res


def _store_item(session: Session, it: CatalogItem, device_code: str, now: datetime) -> GbCatalogItem:
    row = session.execute(select(GbCatalogItem).where(GbCatalogItem.code == it.device_id)).scalar_one_or_none()
    if row is None:
        row = GbCatalogItem(code=it.device_id, parent_code=device_code)
        session.add(row)
    row.parent_code = device_code
    if it.name is not None:
        row.name = it.name[:128]
    if it.status is not None:
        row.status = it.status[:16]
    if it.event is not None:
        row.last_event = it.event
    if it.longitude is not None and it.latitude is not None:
        row.longitude, row.latitude = it.longitude, it.latitude
    if it.event in (None, "ADD", "UPDATE") or row.data is None:
        row.data = it.raw
    row.updated_at = now
    return row


def _apply_item(session: Session, it: CatalogItem, device_code: str, dev: Device | None,
                own_channel: Channel | None, site: Site, now: datetime, res: CatalogResult, audits: list) -> None:
    code = it.device_id.strip()
    if len(code) != 20 or not code.isdigit():
        raise ValueError(f"'{code[:24]}' is not a 20-digit code")
    row = _store_item(session, it, device_code, now)
    g = gbcode.split(code)
    if code == device_code and own_channel is None:
        res.not_channels.append(code)  # the NVR listing itself
        return
    if g.type not in CAMERA_TYPES and (own_channel is None or code != own_channel.code):
        res.not_channels.append(code)
        return
    gbcode.parse(code)  # raises GBCodeError (a ValueError) naming the bad part
    ch = session.execute(select(Channel).where(Channel.code == code)).scalar_one_or_none()
    parent = dev
    if it.parent_id and dev is not None and it.parent_id != dev.code:
        other = session.execute(select(Device).where(Device.code == it.parent_id)).scalar_one_or_none()
        if other is not None and other.site_id == site.id:
            parent = other
    status = reason = None
    if it.event in EVENT_STATUS:
        status, reason = EVENT_STATUS[it.event]
    elif it.event == "DEL":
        status, reason = "offline", REASON_CATALOG_DEL
    elif it.status in ("ON", "OFF"):
        status = "online" if it.status == "ON" else "offline"
        reason = f"{CATALOG_STATUS_PREFIX}{it.status}"
    if ch is None:
        if it.event in EVENT_STATUS or it.event == "DEL":
            if it.name is None:  # a status event for a channel we have never seen: keep it as an item only
                res.unchanged.append(code)
                return
        ch = Channel(site_id=site.id, device_id=parent.id if parent else None, code=code,
                     name=(it.name or code)[:128], longitude=it.longitude, latitude=it.latitude,
                     retention_days=default_retention_days(site.category, False),
                     status=status or "unknown", status_reason=(reason or "")[:255] or None,
                     status_changed_at=now if status else None)
        session.add(ch)
        session.flush()
        row.channel_id = ch.id
        audits.append(("create", "channel", ch.id, None, audit.snapshot(ch)))
        if status:
            session.add(GbStatusEvent(code=device_code, device_id=ch.device_id, channel_id=ch.id, status=status,
                                      reason=reason[:255], at=now))
            res.publish.append(_payload(ch, now))
        res.created.append(code)
        return
    if ch.site_id != site.id or (ch.device_id is not None and parent is not None and ch.device_id != parent.id
                                 and own_channel is None):
        raise ValueError(f"channel {code} belongs to another site or device in the registry")
    row.channel_id = ch.id
    before = audit.snapshot(ch)
    changed = False
    if it.event in (None, "ADD", "UPDATE"):
        if it.name and ch.name != it.name[:128]:
            ch.name, changed = it.name[:128], True
        if it.longitude is not None and it.latitude is not None and (ch.longitude, ch.latitude) != (
                it.longitude, it.latitude):
            ch.longitude, ch.latitude, changed = it.longitude, it.latitude, True
        if ch.device_id is None and parent is not None:
            ch.device_id, changed = parent.id, True
    if changed:
        session.flush()
        audits.append(("update", "channel", ch.id, before, audit.snapshot(ch)))
    status_changed = bool(status) and _set_channel_status(session, ch, status, reason, now, device_code,
                                                          res.publish, audits)
    (res.updated if changed or status_changed else res.unchanged).append(code)
