"""REST for GB/T 28181 device access: registrations (scoped by site), admission alerts, and a
channel's PTZ presets (set, call, delete) through the SIP server running in this process.

Mounted under /api/v1 as ``/gb28181/...``. Admission alerts concern devices that are in no site, so
only accounts without a site or org-unit scope see and acknowledge them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from lookout.api.deps import current_user, get_db, require_roles
from lookout.federation.gb28181 import presets, ptz
from lookout.federation.models import GbAdmissionAlert, GbRegistration
from lookout.registry.models import Channel, Device
from lookout.security import audit, scope
from lookout.security.models import User
from lookout.store.base import utcnow

router = APIRouter(prefix="/gb28181", tags=["gb28181"])


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


@router.get("/devices")
def devices(db: Session = Depends(get_db), user: User = Depends(current_user)) -> list[dict]:
    """Registered GB/T 28181 devices the account may see, with online state and last keepalive."""
    site = func.coalesce(Device.site_id, Channel.site_id)
    stmt = (select(GbRegistration, site.label("site_id"))
            .outerjoin(Device, GbRegistration.device_id == Device.id)
            .outerjoin(Channel, GbRegistration.channel_id == Channel.id)
            .where(or_(GbRegistration.channel_id.is_(None), Channel.resource_class >= user.clearance))
            .order_by(GbRegistration.code))
    stmt = scope.site_filter(stmt, user, site)
    now = utcnow()
    out = []
    for reg, site_id in db.execute(stmt):
        registered = bool(reg.expires_at and reg.expires_at > now)
        out.append({"code": reg.code, "site_id": site_id, "device_id": reg.device_id, "channel_id": reg.channel_id,
                    "transport": reg.transport, "address": f"{reg.remote_host}:{reg.remote_port}",
                    "registered": registered, "online": bool(reg.online and registered),
                    "registered_at": _iso(reg.registered_at), "expires_at": _iso(reg.expires_at),
                    "last_keepalive": _iso(reg.last_keepalive_at), "status_reason": reg.status_reason,
                    "status_changed_at": _iso(reg.status_changed_at), "catalog_sum": reg.catalog_sum,
                    "catalog_at": _iso(reg.catalog_at)})
    return out


def _alert(a: GbAdmissionAlert) -> dict:
    return {"id": a.id, "code": a.code, "host": a.remote_host, "port": a.remote_port, "transport": a.transport,
            "reason": a.reason, "user_agent": a.user_agent, "first_seen": _iso(a.first_seen),
            "last_seen": _iso(a.last_seen), "attempts": a.attempts, "acknowledged": a.acknowledged}


def _unscoped(user: User) -> bool:
    return scope.visible_site_ids(user) is None


@router.get("/alerts")
def alerts(all: bool = False, db: Session = Depends(get_db), user: User = Depends(current_user)) -> list[dict]:
    """Devices refused at registration (not in the registry or a malformed ID), newest first."""
    if not _unscoped(user):
        return []
    q = select(GbAdmissionAlert).order_by(GbAdmissionAlert.last_seen.desc())
    if not all:
        q = q.where(GbAdmissionAlert.acknowledged.is_(False))
    return [_alert(a) for a in db.execute(q).scalars()]


@router.post("/alerts/{alert_id}/ack")
def acknowledge(alert_id: int, db: Session = Depends(get_db),
                user: User = Depends(require_roles("operator", "om_engineer", "official"))) -> dict:
    a = db.get(GbAdmissionAlert, alert_id)
    if a is None or not _unscoped(user):
        raise HTTPException(404, f"no admission alert {alert_id}")
    if not a.acknowledged:
        a.acknowledged = True
        audit.record(db, user.username, "acknowledge", "gb_admission_alert", a.id, {"acknowledged": False},
                     {"acknowledged": True, "code": a.code, "host": a.remote_host})
        db.commit()
    return _alert(a)


# ---- PTZ presets ------------------------------------------------------------------------------------

PTZ_ROLES = ("operator", "om_engineer", "site_manager", "official")


class PresetCommand(BaseModel):
    action: Literal["call", "set", "delete"] = Field("call", description="call: move the camera to the preset")
    number: int = Field(ge=1, le=ptz.MAX_PRESET, description="the preset's number on the camera, 1–255")


@router.post("/channels/{channel_id}/preset")
def preset(channel_id: int, cmd: PresetCommand, request: Request, db: Session = Depends(get_db),
           user: User = Depends(require_roles(*PTZ_ROLES))) -> dict:
    """Send a preset command to a channel's camera over GB/T 28181 (DeviceControl, ``PTZCmd``): ``call``
    turns it back to a marked view (a camera found showing the road instead of the attraction).
    Answers the device's reply; 409 when the channel is not reachable over GB/T 28181 here, 504 when
    the device does not answer, 502 when it refuses. Audited once sent, with the device's answer."""
    ch = db.get(Channel, channel_id)
    if ch is None or not scope.can_see_channel(user, ch):
        raise HTTPException(404, f"channel {channel_id} not found")
    db.commit()  # nothing held open while the device answers
    try:
        out = presets.send_preset(request.app.state.settings.db_url, channel_id, cmd.action, cmd.number,
                                  user.username)
    except presets.PresetUnreachable as exc:
        raise HTTPException(409, str(exc)) from exc
    if out.answer is None:
        raise HTTPException(504, f"device {out.device} did not answer the PTZ command {out.ptz_cmd}")
    if not out.accepted:
        raise HTTPException(502, f"device {out.device} refused the PTZ command {out.ptz_cmd}: "
                                 f"{out.answer['status']} {out.answer['reason']}")
    return {"channel_id": channel_id, "device": out.device, "action": cmd.action, "number": cmd.number,
            "ptz_cmd": out.ptz_cmd, "answer": out.answer}
