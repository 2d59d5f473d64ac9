"""Information-screen data (seed 001 §5(二)4): visitors now, percent of capacity, level
colour, per-zone counts and queue waits at gates (queue length ÷ service rate). Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from lookout.safety.engine import COLOURS, NAMES_ZH, Limits, Occupancy
from lookout.safety.plans import SCREEN_TEXT


@dataclass(frozen=True)
class GateQueue:
    name: str
    queue_length: int | None
    service_rate_per_min: float


def queue_wait_minutes(length: int | None, rate_per_min: float) -> float | None:
    """Expected wait for a newcomer: people ahead ÷ people served per minute."""
    if length is None or rate_per_min is None or rate_per_min <= 0:
        return None
    return round(max(length, 0) / rate_per_min, 1)


def _pct(n: int, cap: int | None) -> float | None:
    return round(100.0 * n / cap, 1) if cap else None


def build_screen(
    *,
    site_id: int,
    site_name: str,
    tz: str,
    occ: Occupancy | None,
    limits: Limits,
    level: str,
    gates: list[GateQueue],
    now: datetime,
    trend: dict[str, Any] | None = None,
    updated_at: datetime | None = None,
) -> dict[str, Any]:
    occ = occ or Occupancy(0)
    zh, en = SCREEN_TEXT.get(level, SCREEN_TEXT["none"])
    zones = []
    for name in sorted(set(limits.zones) | set(occ.zones)):
        n = occ.zones.get(name)
        cap = limits.zones.get(name)
        zones.append({"name": name, "count": n, "capacity": cap, "percent": _pct(n, cap) if n is not None else None})
    zones.sort(key=lambda z: -(z["percent"] or 0))
    queues = [
        {
            "gate": g.name,
            "queue_length": g.queue_length,
            "service_rate_per_min": g.service_rate_per_min,
            "wait_minutes": queue_wait_minutes(g.queue_length, g.service_rate_per_min),
        }
        for g in gates
    ]
    local = now.astimezone(ZoneInfo(tz))
    return {
        "site_id": site_id,
        "site": site_name,
        "ts": now.isoformat(),
        "local_time": local.strftime("%H:%M"),
        "updated_at": updated_at.isoformat() if updated_at else None,
        "level": level,
        "level_zh": NAMES_ZH[level],
        "colour": COLOURS[level],
        "present": occ.present,
        "entered_today": occ.entered_today,
        "instant_max": limits.instant_max,
        "daily_max": limits.daily_max,
        "percent": _pct(occ.present, limits.instant_max),
        "daily_percent": _pct(occ.entered_today, limits.daily_max),
        "zones": zones,
        "queues": queues,
        "message_zh": zh,
        "message_en": en,
        "trend": trend,
    }


def wait_text_zh(minutes: float | None) -> str:
    if minutes is None:
        return "—"
    if minutes < 1:
        return "无需排队"
    return f"约{math.ceil(minutes)}分钟"
