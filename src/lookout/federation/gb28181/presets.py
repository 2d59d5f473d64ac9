"""Preset commands to a channel's camera through the GB/T 28181 server running in this process,
for the REST API (an operator's call) and the patrol (its preset tour): the live registration the
channel is reached by, the command sent, the device's answer, an audit record."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from lookout.federation.gb28181 import ptz
from lookout.federation.gb28181 import store as gbstore
from lookout.federation.gb28181.server import control_ptz_from_thread, running
from lookout.registry.models import Channel
from lookout.security import audit
from lookout.store.base import utcnow
from lookout.store.db import session_scope

log = logging.getLogger(__name__)
_called_at: dict[int, float] = {}  # channel id -> time.monotonic() of the last accepted preset call from here


class PresetUnreachable(LookupError):
    """The channel's camera cannot be reached over GB/T 28181 from here; the message says why."""


@dataclass(frozen=True)
class PresetOutcome:
    device: str  # the registered device the command went to
    ptz_cmd: str
    answer: dict[str, Any] | None  # {"status", "reason"} of the device's reply; None: no reply

    @property
    def accepted(self) -> bool:
        return self.answer is not None and self.answer["status"] == 200


def reachable(session, channel_ids: list[int]) -> set[int]:
    """The channels whose camera a preset command can reach now (none when no server runs here)."""
    if running() is None:
        return set()
    return gbstore.reachable_channels(session, channel_ids, utcnow())


def send_preset(db_url: str, channel_id: int, action: str, number: int, actor: str, *,
                note_call: bool = True) -> PresetOutcome:
    """Send ``action`` ("set", "call", "delete") of preset ``number`` to the channel's camera and wait
    for its device's answer (up to about 37 s); audited once sent. An accepted call is noted for
    ``still_settling`` unless ``note_call`` is false (a caller that waits for the camera itself).
    Call it from a worker thread, not the server's loop. Raises PresetUnreachable, or ptz.PtzError
    for a bad action or number."""
    command = ptz.preset(action, number)
    server = running()
    if server is None:
        raise PresetUnreachable("the GB/T 28181 server is not running in this process")
    with session_scope(db_url) as s:
        ch = s.get(Channel, channel_id)
        if ch is None:
            raise PresetUnreachable(f"no channel {channel_id}")
        reg = gbstore.registration_for(s, ch, utcnow())
        if reg is None:
            raise PresetUnreachable(f"channel {ch.code} has no registered GB/T 28181 device")
        device, code = reg.code, ch.code
    try:
        resp = control_ptz_from_thread(server, device, code, command)
    except LookupError as exc:  # registered in the database, but this server never heard from it
        raise PresetUnreachable(str(exc)) from exc
    outcome = PresetOutcome(device, ptz.encode(command),
                            {"status": resp.status, "reason": resp.reason} if resp is not None else None)
    with session_scope(db_url) as s:
        audit.record(s, actor, f"ptz_preset_{action}", "channel", channel_id, None,
                     {"number": number, "ptz_cmd": outcome.ptz_cmd, "device": device, "answer": outcome.answer})
    if outcome.accepted and action == "call" and note_call:
        _called_at[channel_id] = time.monotonic()
    if not outcome.accepted:
        log.warning("preset %s %s of channel %s: device %s answered %s", action, number, code, device, outcome.answer)
    return outcome


def still_settling(channel_id: int, settle_s: float) -> float:
    """Seconds until the channel's camera, sent to a preset from this process, has had ``settle_s``
    to turn, zoom and refocus (0: no call that recent)."""
    at = _called_at.get(channel_id)
    return 0.0 if at is None else max(0.0, at + settle_s - time.monotonic())
