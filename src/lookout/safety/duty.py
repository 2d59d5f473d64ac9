"""Duty rosters and alert escalation.

An alert goes to the people on duty at one tier: the site, then its district, then its
city. It must be acknowledged within the site's timeout (3 minutes by default), or it
escalates to the next tier; a tier with nobody on duty is skipped at once. Acknowledgement
times are stored (``Alert.ack_seconds``) for the duty-response reports seed 000 asks for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from lookout.registry.models import OrgUnit, Site
from lookout.safety.engine import NAMES_ZH
from lookout.safety.incidents import SYSTEM_ACTOR, add_event
from lookout.safety.models import Alert, DutyMember, Incident, SafetySiteConfig
from lookout.safety.outbox import enqueue
from lookout.security.models import User

TIERS = ("site", "district", "city")
DEFAULT_ACK_TIMEOUT = timedelta(minutes=3)


@dataclass(frozen=True)
class TierRef:
    tier: str
    site_id: int | None
    org_unit_id: int | None


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def on_shift(start: str | None, end: str | None, local_minutes: int) -> bool:
    """Pure: is a local time (minutes after midnight) inside a shift? Shifts may cross midnight."""
    if not start or not end:
        return True
    s, e = _minutes(start), _minutes(end)
    if s == e:
        return True
    return s <= local_minutes < e if s < e else (local_minutes >= s or local_minutes < e)


def tiers_for(session: Session, site: Site) -> list[TierRef]:
    """The chain site → district → city for a site (tiers that exist in the registry)."""
    refs = [TierRef("site", site.id, None)]
    unit = session.get(OrgUnit, site.org_unit_id)
    district = city = None
    while unit is not None:
        if unit.tier == "district" and district is None:
            district = unit
        if unit.tier == "city" and city is None:
            city = unit
        unit = session.get(OrgUnit, unit.parent_id) if unit.parent_id else None
    if district is not None:
        refs.append(TierRef("district", None, district.id))
    if city is not None:
        refs.append(TierRef("city", None, city.id))
    return refs


def members_on_duty(session: Session, ref: TierRef, now: datetime, tz: str) -> list[DutyMember]:
    stmt = select(DutyMember).where(DutyMember.active.is_(True))
    stmt = stmt.where(DutyMember.site_id == ref.site_id) if ref.site_id else stmt.where(DutyMember.org_unit_id == ref.org_unit_id)
    local = now.astimezone(ZoneInfo(tz))
    minute = local.hour * 60 + local.minute
    return [m for m in session.execute(stmt.order_by(DutyMember.id)).scalars() if on_shift(m.shift_start, m.shift_end, minute)]


def ack_timeout(session: Session, site_id: int) -> timedelta:
    cfg = session.get(SafetySiteConfig, site_id)
    return timedelta(seconds=cfg.ack_timeout_s) if cfg and cfg.ack_timeout_s else DEFAULT_ACK_TIMEOUT


def _send(session: Session, members: list[DutyMember] | list[User], base: str, payload: dict, subject: str, text: str,
          now: datetime, incident_id: int | None = None) -> int:
    """Queue one message per person (a duty roster member or an account) and way of reaching them
    (webhook, e-mail, SMS); returns how many."""
    n = 0
    for m in members:
        key = f"{base}:{'user' if isinstance(m, User) else 'member'}:{m.id}"
        if getattr(m, "webhook_url", None):
            enqueue(session, key=f"{key}:webhook", channel="webhook", target=m.webhook_url, payload=payload, now=now,
                    incident_id=incident_id)
            n += 1
        if m.email:
            enqueue(session, key=f"{key}:email", channel="email", target=m.email,
                    payload={"to": [m.email], "subject": subject, "body": text}, now=now, incident_id=incident_id)
            n += 1
        if m.phone:
            enqueue(session, key=f"{key}:sms", channel="sms", target=m.phone, payload={"text": text}, now=now,
                    incident_id=incident_id)
            n += 1
    return n


def _notify(session: Session, alert: Alert, members: list[DutyMember], site: Site, now: datetime) -> int:
    text = alert.message or ""
    payload = {
        "type": "alert",
        "alert_id": alert.id,
        "incident_id": alert.incident_id,
        "site_id": site.id,
        "site": site.name,
        "level": alert.level,
        "tier": alert.tier,
        "text": text,
        "deadline": alert.deadline_at.isoformat(),
    }
    return _send(session, members, f"alert:{alert.id}", payload, f"[Lookout] {site.name} {NAMES_ZH[alert.level]}",
                 text, now, alert.incident_id)


@dataclass(frozen=True)
class Told:
    tier: str  # site, district or city
    names: list[str]


def notify_roster(session: Session, site: Site, now: datetime, *, key: str, subject: str, text: str,
                  payload: dict, tier_index: int = 0) -> Told | None:
    """Tell everybody on duty at the first tier, from ``tier_index`` up the chain site → district →
    city, that has somebody on duty (messages queued in the caller's transaction, each once per
    ``key``); None when nobody is on duty at any of them."""
    refs = tiers_for(session, site)
    for ref in refs[min(tier_index, len(refs) - 1):]:
        members = members_on_duty(session, ref, now, site.timezone or "Asia/Shanghai")
        if members:
            _send(session, members, key, {**payload, "tier": ref.tier, "text": text}, subject, text, now)
            return Told(ref.tier, [m.name for m in members])
    return None


def notify_account(session: Session, username: str, now: datetime, *, key: str, subject: str, text: str,
                   payload: dict) -> bool:
    """Tell one account by the e-mail and phone it has (queued in the caller's transaction, once per
    ``key``); False when there is no such active account or it has neither."""
    user = session.execute(select(User).where(User.username == username, User.active.is_(True))).scalar_one_or_none()
    if user is None:
        return False
    return _send(session, [user], key, {**payload, "text": text}, subject, text, now) > 0


def open_alert(
    session: Session,
    site: Site,
    level: str,
    now: datetime,
    *,
    incident: Incident | None = None,
    tier_index: int = 0,
    parent: Alert | None = None,
    message: str | None = None,
) -> Alert | None:
    """Create an alert for the first tier (from ``tier_index``) with somebody on duty and
    queue its notifications. Returns None when no tier has anybody on duty."""
    refs = tiers_for(session, site)
    timeout = ack_timeout(session, site.id)
    text = message or f"{site.name}:{NAMES_ZH[level]}预警,请在{int(timeout.total_seconds() // 60)}分钟内确认。"
    for i in range(tier_index, len(refs)):
        ref = refs[i]
        members = members_on_duty(session, ref, now, site.timezone or "Asia/Shanghai")
        if not members:
            if incident is not None:
                add_event(session, incident, now, "escalation", level=level, detail={"skipped_tier": ref.tier, "reason": "nobody on duty"}, actor=SYSTEM_ACTOR)
            continue
        alert = Alert(
            incident_id=incident.id if incident else None,
            site_id=site.id,
            level=level,
            tier=ref.tier,
            org_unit_id=ref.org_unit_id,
            status="open",
            created_at=now,
            deadline_at=now + timeout,
            parent_alert_id=parent.id if parent else None,
            message=text,
        )
        session.add(alert)
        session.flush()
        _notify(session, alert, members, site, now)
        if incident is not None:
            add_event(session, incident, now, "alert", level=level, detail={"alert_id": alert.id, "tier": ref.tier, "members": [m.name for m in members]}, actor=SYSTEM_ACTOR)
        return alert
    return None


def acknowledge(session: Session, alert_id: int, actor: str, now: datetime) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise LookupError(f"alert {alert_id} not found")
    if alert.status == "acked":
        return alert
    alert.status, alert.acked_at, alert.acked_by = "acked", now, actor
    alert.ack_seconds = (now - alert.created_at).total_seconds()
    if alert.incident_id:
        inc = session.get(Incident, alert.incident_id)
        add_event(session, inc, now, "ack", level=alert.level, detail={"alert_id": alert.id, "tier": alert.tier, "ack_seconds": alert.ack_seconds}, actor=actor)
    try:
        from lookout.security.audit import record
    except ImportError:  # pragma: no cover - the audit log lands with the foundation
        record = None
    if record is not None:
        record(session, actor, "acknowledge", "safety_alert", alert.id, after={"ack_seconds": alert.ack_seconds, "tier": alert.tier}, now=now)
    return alert


def escalate_due(session: Session, now: datetime) -> list[Alert]:
    """Escalate every open alert past its deadline to the next tier; returns the new alerts."""
    new: list[Alert] = []
    due = session.execute(select(Alert).where(Alert.status == "open", Alert.deadline_at <= now).order_by(Alert.id)).scalars().all()
    for alert in due:
        site = session.get(Site, alert.site_id)
        inc = session.get(Incident, alert.incident_id) if alert.incident_id else None
        refs = tiers_for(session, site)
        idx = next((i for i, r in enumerate(refs) if r.tier == alert.tier), len(refs) - 1)
        alert.escalated_at = now
        nxt = None
        if idx + 1 < len(refs):
            nxt = open_alert(session, site, alert.level, now, incident=inc, tier_index=idx + 1, parent=alert, message=(alert.message or "") + f"(上一级{alert.tier}未在时限内确认,已升级)")
        alert.status = "escalated" if nxt else "expired"
        if inc is not None:
            add_event(session, inc, now, "escalation", level=alert.level, detail={"from_alert": alert.id, "from_tier": alert.tier, "to_alert": nxt.id if nxt else None, "to_tier": nxt.tier if nxt else None}, actor=SYSTEM_ACTOR)
        if nxt:
            new.append(nxt)
    return new
