"""Work orders: open on a fault seen in two patrols in a row, re-check on close, escalate when overdue.

Rules (pure, :func:`decide_patrol` and :func:`decide_escalations`, ``now`` passed in):

- A fault (a picture fault of the diagnosis, or ``offline`` when no picture could be had) present in
  each of a channel's last two diagnoses opens a work order, unless the channel already has a
  not-closed order for that fault (one live order per channel and fault; the ``open_key`` unique
  column enforces it in the database too).
- A diagnosis made without the channel's reference picture opens orders only for the faults that
  are reliable without one (``Policy.without_reference``: no picture, frozen, blur, too bright,
  snow, with precision ≥ 0.96 without a reference on the evaluation corpus) or that leave the
  picture unusable whatever the view should show (too dark, 0.86: the corpus counts dimmed night
  scenes as clean). Occlusion, colour cast and stripes (0.49–0.75) are still stored and shown,
  and count once a reference is marked (bench/README.md).
- The order is assigned to the site's O&M contact (``Site.om_contact``) with a deadline of 24 h, or
  4 h for key areas (a ``key_area`` channel or a ``key_unit`` site), and told to them (in Chinese, by
  the e-mail and phone of their account, through the crowd-safety outbox); so is a re-opened order,
  and the engineer an order is handed to (:func:`reassign`).
- Closing an order (:func:`request_close`) sets it ``rechecking`` and asks for an immediate patrol
  of the channel; the first diagnosis after the close request is the re-check. It passes when the
  fault is gone (and, for a picture fault, a picture was had): the order is ``closed`` and its repair
  time counts. Otherwise the order re-opens (``open``) with a note saying what the re-check saw.
- An ``open`` order past its deadline escalates: level 1 at the deadline, level 2 when overdue by as
  long again as the time it was given. Each level sets ``escalated``/``escalation_level``, adds a
  ``work_order_escalations`` row and publishes ``site.<site_id>.workorder_escalated``; and it is told
  (in Chinese, once per level) to whoever is on duty above the assignee: level 1 the site's duty
  roster, level 2 the district's, or the first tier further up with somebody on duty
  (``safety.duty.notify_roster``, through the outbox in the same transaction). The row records who
  was told.
- Whoever was told takes the overdue order in hand (:func:`acknowledge`): its escalations not yet
  acknowledged record who and when, and the order's story says so. An escalation nobody
  acknowledged is what ``filter_orders(unacknowledged=True)`` lists.

Every order change is audited (entity ``work_order``) and published on the bus as
``channel.<channel_id>.workorder`` with ``{"order_id", "kind", "fault", "status", …}`` — kind one of
``opened``, ``close_requested``, ``recheck_passed``, ``recheck_failed``, ``escalated``, ``acknowledged``,
``reassigned``.

Repair statistics (:func:`repair_statistics`, :func:`repair_stats`): per site or device vendor, the
orders opened in a period, how many closed, mean / median / 90th-percentile / longest repair hours
(opened → re-check passed), the share closed by the deadline, and the open and overdue counts.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from lookout.health.models import (OFFLINE_FAULT, DiagnosisRecord, WorkOrder, WorkOrderEscalation,
                                   WorkOrderEvent)
from lookout.optional import optional_module
from lookout.registry.models import Channel, Device, Site

log = logging.getLogger(__name__)
Publish = tuple[str, dict[str, Any]]
ACTOR = "patrol"


# --------------------------------------------------------------------------- pure logic
#: Faults that open orders without a reference picture: reliable without one (precision without a
#: reference on the evaluation corpus's dev splits 0.96–0.99), or, too dark (0.86), unusable whatever
#: the view; occlusion (0.55), colour cast (0.49) and stripes (0.75) wait for a reference.
WITHOUT_REFERENCE = frozenset({"signal_loss", "frozen", "blur", "too_bright", "noise", "too_dark"})


@dataclass(frozen=True)
class Policy:
    deadline_h: float = 24.0
    key_deadline_h: float = 4.0
    consecutive: int = 2  # patrols in a row that must show a fault before an order opens
    escalation_levels: int = 2
    without_reference: frozenset[str] = WITHOUT_REFERENCE  # faults that open orders with no reference picture

    def deadline(self, opened: datetime, key: bool) -> datetime:
        return opened + timedelta(hours=self.key_deadline_h if key else self.deadline_h)


@dataclass(frozen=True)
class Seen:
    """A diagnosis as the rules see it."""

    diagnosis_id: int
    at: datetime
    online: bool
    faults: frozenset[str]
    scores: dict[str, float] = field(default_factory=dict, hash=False, compare=False)
    used_reference: bool = True

    @property
    def effective(self) -> frozenset[str]:
        """The faults an order can be about: ``offline`` when there was no picture."""
        return frozenset({OFFLINE_FAULT}) if not self.online else self.faults

    def opening(self, policy: Policy) -> frozenset[str]:
        """The faults that may open an order: without a reference picture, only the reliable ones."""
        if not self.online:
            return self.effective
        return frozenset(trusted_faults(self.faults, self.used_reference, policy))


def trusted_faults(faults: Iterable[str], used_reference: bool, policy: Policy) -> list[str]:
    """Of a diagnosis' picture faults, those that count (open orders, make the camera "fault"):
    all of them with a reference picture, without one only ``policy.without_reference``."""
    return [f for f in faults if used_reference or f in policy.without_reference]


@dataclass(frozen=True)
class ChannelInfo:
    channel_id: int
    site_id: int
    key: bool
    assignee: str | None
    vendor: str | None = None


@dataclass(frozen=True)
class OrderState:
    order_id: int
    channel_id: int
    site_id: int
    fault: str
    status: str
    opened_at: datetime
    deadline_at: datetime
    close_requested_at: datetime | None = None
    escalation_level: int = 0


@dataclass(frozen=True)
class Open:
    channel_id: int
    site_id: int
    fault: str
    deadline_at: datetime
    assignee: str | None
    key: bool
    vendor: str | None
    diagnosis_id: int


@dataclass(frozen=True)
class RecheckPassed:
    order_id: int
    diagnosis_id: int
    note: str


@dataclass(frozen=True)
class RecheckFailed:
    order_id: int
    diagnosis_id: int
    note: str


@dataclass(frozen=True)
class Escalate:
    order_id: int
    level: int
    overdue_s: float


Action = Open | RecheckPassed | RecheckFailed | Escalate


def _describe(seen: Seen, fault: str) -> str:
    if fault == OFFLINE_FAULT or not seen.online:
        return "no picture (offline)"
    score = seen.scores.get(fault)
    return f"{fault}" + (f" (score {score:.0f})" if score is not None else "")


def decide_patrol(now: datetime, channels: dict[int, ChannelInfo], recent: dict[int, Sequence[Seen]],
                  orders: Iterable[OrderState], policy: Policy | None = None) -> list[Action]:
    """What the latest diagnoses of these channels mean for their work orders.

    ``recent`` holds each channel's latest diagnoses, newest first (at least ``policy.consecutive``
    when there are that many); ``orders`` the channels' not-closed orders.
    """
    p = policy or Policy()
    live: dict[tuple[int, str], OrderState] = {}
    for o in orders:
        if o.status != "closed":
            live[(o.channel_id, o.fault)] = o
    actions: list[Action] = []
    for cid, seen in recent.items():
        if not seen or cid not in channels:
            continue
        latest = seen[0]
        # the re-check: the first diagnosis after a close request
        for (ocid, fault), o in sorted(live.items(), key=lambda kv: kv[1].order_id):
            if ocid != cid or o.status != "rechecking" or o.close_requested_at is None:
                continue
            if latest.at < o.close_requested_at:
                continue
            when = latest.at.isoformat(timespec="seconds")
            if fault in latest.effective:
                actions.append(RecheckFailed(o.order_id, latest.diagnosis_id,
                                             f"re-check at {when} still shows {_describe(latest, fault)}"))
            elif not latest.online:
                actions.append(RecheckFailed(o.order_id, latest.diagnosis_id,
                                             f"re-check at {when}: no picture (offline), the repair cannot be confirmed"))
            else:
                actions.append(RecheckPassed(o.order_id, latest.diagnosis_id, f"re-check at {when}: {fault} gone"))
        if len(seen) < p.consecutive:
            continue
        common = frozenset.intersection(*(s.opening(p) for s in seen[: p.consecutive]))
        info = channels[cid]
        for fault in sorted(common):
            if (cid, fault) in live:
                continue
            actions.append(Open(cid, info.site_id, fault, p.deadline(now, info.key), info.assignee, info.key,
                                info.vendor, latest.diagnosis_id))
    return actions


def decide_escalations(now: datetime, orders: Iterable[OrderState], policy: Policy | None = None) -> list[Escalate]:
    """Open orders past their deadline that reached a new escalation level."""
    p = policy or Policy()
    out = []
    for o in orders:
        if o.status != "open" or now <= o.deadline_at:
            continue
        overdue = now - o.deadline_at
        allowed = max(o.deadline_at - o.opened_at, timedelta(minutes=1))
        level = min(p.escalation_levels, 1 + int(overdue / allowed))
        if level > o.escalation_level:
            out.append(Escalate(o.order_id, level, overdue.total_seconds()))
    return out


@dataclass(frozen=True)
class RepairRow:
    group_id: Any
    group_name: str
    opened_at: datetime
    deadline_at: datetime
    closed_at: datetime | None


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def repair_statistics(rows: Iterable[RepairRow], now: datetime) -> list[dict[str, Any]]:
    """Per group: orders, closed, open, overdue open, repair hours (mean/median/p90/max), on-time share."""
    groups: dict[Any, dict[str, Any]] = {}
    for r in rows:
        g = groups.setdefault(r.group_id, {"id": r.group_id, "name": r.group_name, "orders": 0, "closed": 0,
                                           "open": 0, "overdue_open": 0, "on_time": 0, "_hours": []})
        g["orders"] += 1
        if r.closed_at is not None:
            g["closed"] += 1
            g["_hours"].append((r.closed_at - r.opened_at).total_seconds() / 3600.0)
            g["on_time"] += int(r.closed_at <= r.deadline_at)
        else:
            g["open"] += 1
            g["overdue_open"] += int(now > r.deadline_at)
    out = []
    for g in groups.values():
        h = g.pop("_hours")
        on_time = g.pop("on_time")
        g.update(mean_h=round(statistics.fmean(h), 3) if h else None,
                 median_h=round(statistics.median(h), 3) if h else None,
                 p90_h=round(_pct(h, 0.9), 3) if h else None,
                 max_h=round(max(h), 3) if h else None,
                 on_time_rate=round(on_time / len(h), 5) if h else None)
        out.append(g)
    return sorted(out, key=lambda g: (str(g["name"]), str(g["id"])))


# --------------------------------------------------------------------------- adapters
def _state(o: WorkOrder) -> OrderState:
    return OrderState(o.id, o.channel_id, o.site_id, o.fault, o.status, o.opened_at, o.deadline_at,
                      o.close_requested_at, o.escalation_level)


def _seen(d: DiagnosisRecord) -> Seen:
    return Seen(d.id, d.at, d.online, frozenset(d.faults or []), dict(d.scores or {}), bool(d.used_reference))


def _order_json(o: WorkOrder) -> dict[str, Any]:
    return {"id": o.id, "channel_id": o.channel_id, "site_id": o.site_id, "fault": o.fault, "status": o.status,
            "assignee": o.assignee, "deadline_at": o.deadline_at.isoformat(), "reopen_count": o.reopen_count,
            "escalation_level": o.escalation_level}


def _event(o: WorkOrder, kind: str, now: datetime, **extra: Any) -> Publish:
    return (f"channel.{o.channel_id}.workorder", {"order_id": o.id, "kind": kind, "fault": o.fault,
                                                   "status": o.status, "site_id": o.site_id,
                                                   "assignee": o.assignee, "at": now.isoformat(), **extra})


def load_recent(session: Session, channel_ids: Sequence[int], n: int) -> dict[int, list[Seen]]:
    """The latest ``n`` diagnoses of each channel, newest first."""
    if not channel_ids:
        return {}
    rn = func.row_number().over(partition_by=DiagnosisRecord.channel_id,
                                order_by=(DiagnosisRecord.at.desc(), DiagnosisRecord.id.desc())).label("rn")
    sub = select(DiagnosisRecord.id, rn).where(DiagnosisRecord.channel_id.in_(list(channel_ids))).subquery()
    rows = session.execute(select(DiagnosisRecord).join(sub, sub.c.id == DiagnosisRecord.id).where(sub.c.rn <= n)
                           .order_by(DiagnosisRecord.channel_id, DiagnosisRecord.at.desc(), DiagnosisRecord.id.desc())
                           ).scalars()
    out: dict[int, list[Seen]] = {}
    for d in rows:
        out.setdefault(d.channel_id, []).append(_seen(d))
    return out


def load_channel_info(session: Session, channel_ids: Sequence[int]) -> dict[int, ChannelInfo]:
    if not channel_ids:
        return {}
    rows = session.execute(
        select(Channel.id, Channel.site_id, Channel.key_area, Site.key_unit, Site.om_contact, Device.vendor)
        .join(Site, Site.id == Channel.site_id).outerjoin(Device, Device.id == Channel.device_id)
        .where(Channel.id.in_(list(channel_ids))))
    return {cid: ChannelInfo(cid, sid, bool(ka or ku), om, vendor) for cid, sid, ka, ku, om, vendor in rows}


#: what ``filter_orders`` takes as a status: an order's own, or ``live`` (not closed)
ORDER_STATUS_FILTERS = ("live", "open", "rechecking", "closed")


def filter_orders(stmt: Select, now: datetime, *, status: str | None = None, site_id: int | None = None,
                  channel_id: int | None = None, fault: str | None = None, assignee: str | None = None,
                  overdue: bool | None = None, escalated: bool | None = None,
                  unacknowledged: bool | None = None) -> Select:
    """``stmt`` (a select over ``WorkOrder``) limited by the filters given, ordered open first, newest
    first: what the work-order API and the orders page list. ``unacknowledged``: orders not closed
    with an escalation nobody acknowledged yet (True) or without one (False)."""
    if status == "live":
        stmt = stmt.where(WorkOrder.status != "closed")
    elif status:
        stmt = stmt.where(WorkOrder.status == status)
    for col, val in ((WorkOrder.site_id, site_id), (WorkOrder.channel_id, channel_id), (WorkOrder.fault, fault),
                     (WorkOrder.assignee, assignee), (WorkOrder.escalated, escalated)):
        if val is not None:
            stmt = stmt.where(col == val)
    if overdue is True:
        stmt = stmt.where(WorkOrder.status != "closed", WorkOrder.deadline_at < now)
    elif overdue is False:
        stmt = stmt.where((WorkOrder.status == "closed") | (WorkOrder.deadline_at >= now))
    if unacknowledged is not None:
        waiting = WorkOrder.id.in_(select(WorkOrderEscalation.order_id)
                                   .where(WorkOrderEscalation.acknowledged_at.is_(None)))
        stmt = stmt.where(WorkOrder.status != "closed", waiting) if unacknowledged else stmt.where(
            (WorkOrder.status == "closed") | ~waiting)
    return stmt.order_by(case((WorkOrder.status == "closed", 1), else_=0), WorkOrder.id.desc())


def live_orders(session: Session, channel_ids: Sequence[int] | None = None) -> list[WorkOrder]:
    stmt = select(WorkOrder).where(WorkOrder.status != "closed")
    if channel_ids is not None:
        stmt = stmt.where(WorkOrder.channel_id.in_(list(channel_ids)))
    return list(session.execute(stmt).scalars())


def _order_place(session: Session, o: WorkOrder) -> tuple[Site, Channel, str] | None:
    """The order's site and camera, and how a message names them with the fault, in Chinese
    ("A景区 北门(5001…)图像模糊")."""
    site, ch = session.get(Site, o.site_id), session.get(Channel, o.channel_id)
    if site is None or ch is None:
        return None
    from lookout.web.i18n import t  # the fault's Chinese name, as the pages show it

    return site, ch, f"{site.name} {ch.name}({ch.code}){t('fault.' + o.fault)}"


def _tell_assignee(session: Session, o: WorkOrder, now: datetime, why: str = "opened") -> bool:
    """An order told to its assignee (``why``: opened, reopened by a failed re-check, or reassigned to
    them) by the e-mail and phone of their account, through the crowd-safety outbox (queued in this
    transaction); False when nobody could be told."""
    duty, place = optional_module("lookout.safety.duty"), _order_place(session, o)
    if duty is None or place is None or not o.assignee:
        return False
    site, ch, what = place
    due = o.deadline_at if o.deadline_at.tzinfo else o.deadline_at.replace(tzinfo=timezone.utc)
    due_local = due.astimezone(ZoneInfo(site.timezone or "Asia/Shanghai")).strftime("%m-%d %H:%M")
    text = (f"{what}工单 {o.id} 复核未通过，已重新打开，请继续处理，期限 {due_local}。" if why == "reopened" else
            f"{what}：已向您派发工单 {o.id}，请于 {due_local} 前修复，修复后在平台关单复核。")
    key = f"workorder:{o.id}:" + {"opened": "opened", "reopened": f"reopened:{o.reopen_count}",
                                  "reassigned": f"assigned:{o.assignee}:{len(o.events)}"}[why]
    return duty.notify_account(session, o.assignee, now, key=key, subject=f"[Lookout] {site.name} 工单 {o.id}",
                               text=text, payload={"type": f"work_order_{why}",
                                                   "order_id": o.id, "channel_id": ch.id, "site_id": site.id,
                                                   "fault": o.fault, "deadline": due.isoformat()})


def _tell_duty_roster(session: Session, o: WorkOrder, a: Escalate, now: datetime) -> str | None:
    """An overdue order's escalation told to the people on duty above its assignee: level 1 the site's
    roster, level 2 the district's (the first tier up the chain with somebody on duty), through the
    crowd-safety outbox (e-mail, SMS, webhook; queued in this transaction). Returns who was told."""
    duty, place = optional_module("lookout.safety.duty"), _order_place(session, o)
    if duty is None or place is None:
        return None
    site, ch, what = place
    text = (f"{what}工单 {o.id} 超期 {a.overdue_s / 3600:.1f} 小时"
            f"未修复，负责人 {o.assignee or '未指派'}，已升级至第 {a.level} 级。请在平台的工单 {o.id} 页面确认知悉。")
    told = duty.notify_roster(session, site, now, key=f"workorder:{o.id}:level:{a.level}",
                              subject=f"[Lookout] {site.name} 工单超期", text=text, tier_index=a.level - 1,
                              payload={"type": "work_order_escalated", "order_id": o.id, "channel_id": ch.id,
                                       "site_id": site.id, "site": site.name, "fault": o.fault, "level": a.level,
                                       "overdue_h": round(a.overdue_s / 3600, 1), "assignee": o.assignee})
    if told is None:
        log.warning("work order %s escalated to level %s: nobody on duty to tell", o.id, a.level)
        return None
    return f"{told.tier}: {'、'.join(told.names)}"[:255]


def apply_actions(session: Session, actions: Sequence[Action], now: datetime, actor: str = ACTOR) -> list[Publish]:
    """Carry out the decisions in the caller's transaction (audited); returns the events to publish."""
    from lookout.security import audit

    pubs: list[Publish] = []
    audits: list = []
    for a in actions:
        if isinstance(a, Open):
            o = WorkOrder(channel_id=a.channel_id, site_id=a.site_id, fault=a.fault, status="open",
                          open_key=f"{a.channel_id}:{a.fault}", assignee=a.assignee, key_area=a.key,
                          opened_at=now, deadline_at=a.deadline_at, opened_by_diagnosis_id=a.diagnosis_id,
                          vendor=a.vendor)
            session.add(o)
            session.flush()
            o.events.append(WorkOrderEvent(at=now, kind="opened", actor=actor, diagnosis_id=a.diagnosis_id,
                                           note=f"{a.fault} seen in consecutive patrols"))
            audits.append(("open", "work_order", o.id, None, _order_json(o)))
            pubs.append(_event(o, "opened", now))
            _tell_assignee(session, o, now)
            continue
        o = session.get(WorkOrder, a.order_id)
        if o is None:
            log.warning("work order %s vanished before %s", a.order_id, type(a).__name__)
            continue
        before = _order_json(o)
        if isinstance(a, RecheckPassed):
            o.status, o.open_key, o.closed_at = "closed", None, now
            o.recheck_at, o.recheck_passed, o.recheck_diagnosis_id, o.recheck_note = now, True, a.diagnosis_id, a.note
            o.events.append(WorkOrderEvent(at=now, kind="recheck_passed", actor=actor, note=a.note,
                                           diagnosis_id=a.diagnosis_id))
            audits.append(("recheck_passed", "work_order", o.id, before, _order_json(o)))
            pubs.append(_event(o, "recheck_passed", now, note=a.note))
        elif isinstance(a, RecheckFailed):
            o.status, o.reopen_count = "open", o.reopen_count + 1
            o.recheck_at, o.recheck_passed, o.recheck_diagnosis_id, o.recheck_note = now, False, a.diagnosis_id, a.note
            o.events.append(WorkOrderEvent(at=now, kind="recheck_failed", actor=actor, note=a.note,
                                           diagnosis_id=a.diagnosis_id))
            audits.append(("recheck_failed", "work_order", o.id, before, _order_json(o)))
            _tell_assignee(session, o, now, "reopened")
            pubs.append(_event(o, "recheck_failed", now, note=a.note))
        elif isinstance(a, Escalate):
            o.escalated, o.escalation_level, o.escalated_at = True, a.level, now
            told = _tell_duty_roster(session, o, a, now)
            session.add(WorkOrderEscalation(order_id=o.id, site_id=o.site_id, at=now, level=a.level,
                                            overdue_s=a.overdue_s, assignee=o.assignee, notified=told))
            note = f"overdue by {a.overdue_s / 3600:.1f} h: escalated to level {a.level}" + (f"; told {told}" if told else "")
            o.events.append(WorkOrderEvent(at=now, kind="escalated", actor=actor, note=note))
            audits.append(("escalate", "work_order", o.id, before, _order_json(o)))
            pubs.append(_event(o, "escalated", now, level=a.level))
            pubs.append((f"site.{o.site_id}.workorder_escalated",
                         {"order_id": o.id, "channel_id": o.channel_id, "fault": o.fault, "level": a.level,
                          "assignee": o.assignee, "overdue_s": round(a.overdue_s), "at": now.isoformat()}))
    audit.record_many(session, actor, audits, now=now)
    return pubs


def process_diagnoses(session: Session, channel_ids: Sequence[int], now: datetime, policy: Policy | None = None,
                      actor: str = ACTOR) -> list[Publish]:
    """After diagnoses of these channels were stored: open orders, settle re-checks."""
    p = policy or Policy()
    ids = list(channel_ids)
    actions = decide_patrol(now, load_channel_info(session, ids), load_recent(session, ids, p.consecutive),
                            [_state(o) for o in live_orders(session, ids)], p)
    return apply_actions(session, actions, now, actor)


def escalate_overdue(session: Session, now: datetime, policy: Policy | None = None,
                     actor: str = ACTOR) -> list[Publish]:
    stmt = select(WorkOrder).where(WorkOrder.status == "open", WorkOrder.deadline_at < now)
    actions = decide_escalations(now, [_state(o) for o in session.execute(stmt).scalars()], policy)
    return apply_actions(session, actions, now, actor)


class OrderError(ValueError):
    """A work-order request that cannot be done (the message says why)."""


def request_close(session: Session, order: WorkOrder, actor: str, note: str | None, now: datetime) -> list[Publish]:
    """The engineer says it is repaired: the order waits for its re-check (an immediate patrol)."""
    from lookout.security import audit

    if order.status == "closed":
        raise OrderError(f"work order {order.id} is already closed")
    if order.status == "rechecking":
        raise OrderError(f"work order {order.id} is already waiting for its re-check")
    before = _order_json(order)
    order.status = "rechecking"
    order.close_requested_at, order.close_requested_by, order.close_note = now, actor, (note or None)
    order.events.append(WorkOrderEvent(at=now, kind="close_requested", actor=actor, note=note or None))
    audit.record(session, actor, "close", "work_order", order.id, before, {**_order_json(order), "note": note},
                 now=now)
    return [_event(order, "close_requested", now, by=actor)]


def reassign(session: Session, order: WorkOrder, assignee: str, actor: str, note: str | None, now: datetime
             ) -> list[Publish]:
    """The order handed to another engineer (转派; who may take it is the caller's to check): a story
    step "old → new" with the note, audited, and the new assignee told."""
    from lookout.security import audit

    if order.status == "closed":
        raise OrderError(f"work order {order.id} is already closed")
    if order.assignee == assignee:
        raise OrderError(f"work order {order.id} is already assigned to {assignee}")
    before = _order_json(order)
    moved = f"{order.assignee or '—'} → {assignee}"
    order.assignee = assignee
    order.events.append(WorkOrderEvent(at=now, kind="reassigned", actor=actor,
                                       note=moved + (f"：{note}" if note else "")))
    audit.record(session, actor, "reassign", "work_order", order.id, before, {**_order_json(order), "note": note},
                 now=now)
    _tell_assignee(session, order, now, "reassigned")
    return [_event(order, "reassigned", now, by=actor)]


def acknowledge(session: Session, order: WorkOrder, actor: str, now: datetime) -> list[Publish]:
    """Someone told of the order's escalation takes it in hand: each of its escalations not yet
    acknowledged records who and when (audited, a step of the order's story)."""
    from lookout.security import audit

    if order.status == "closed":
        raise OrderError(f"work order {order.id} is already closed")
    waiting = list(session.execute(select(WorkOrderEscalation).where(WorkOrderEscalation.order_id == order.id,
                                                                     WorkOrderEscalation.acknowledged_at.is_(None))
                                   .order_by(WorkOrderEscalation.level)).scalars())
    if not waiting:
        raise OrderError(f"work order {order.id} has no escalation waiting to be acknowledged")
    for e in waiting:
        e.acknowledged_at, e.acknowledged_by = now, actor
    levels = [e.level for e in waiting]
    order.events.append(WorkOrderEvent(at=now, kind="acknowledged", actor=actor,
                                       note=f"escalation level {', '.join(map(str, levels))} acknowledged"))
    audit.record(session, actor, "acknowledge", "work_order", order.id, None,
                 {**_order_json(order), "levels": levels}, now=now)
    return [_event(order, "acknowledged", now, by=actor, level=max(levels))]


def repair_rows(session: Session, by: str, start: datetime, end: datetime,
                channel_ids: Select | Sequence[int] | None = None) -> list[RepairRow]:
    """Orders opened in [start, end), grouped by ``site`` or ``vendor``."""
    if by == "site":
        stmt = select(WorkOrder.site_id, Site.name, WorkOrder.opened_at, WorkOrder.deadline_at,
                      WorkOrder.closed_at).join(Site, Site.id == WorkOrder.site_id)
    elif by == "vendor":
        stmt = select(WorkOrder.vendor, WorkOrder.vendor, WorkOrder.opened_at, WorkOrder.deadline_at,
                      WorkOrder.closed_at)
    else:
        raise ValueError(f"unknown grouping {by!r}: use site or vendor")
    stmt = stmt.where(WorkOrder.opened_at >= start, WorkOrder.opened_at < end)
    if channel_ids is not None:
        stmt = stmt.where(WorkOrder.channel_id.in_(channel_ids if isinstance(channel_ids, Select)
                                                   else list(channel_ids)))
    return [RepairRow(g if g is not None else "unknown", n or "unknown", o, d, c)
            for g, n, o, d, c in session.execute(stmt)]


def repair_stats(session: Session, by: str, start: datetime, end: datetime, now: datetime,
                 channel_ids: Select | Sequence[int] | None = None) -> list[dict[str, Any]]:
    return repair_statistics(repair_rows(session, by, start, end, channel_ids), now)
