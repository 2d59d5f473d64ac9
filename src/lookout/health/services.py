"""Background service of camera health: the patrol scheduler (``lookout serve`` runs it under
``lookout.runtime.supervisor``, which restarts it with backoff when it fails).

Every ``tick_s`` seconds it patrols the channels that are due (30 min; 10 min for key areas), at most
``concurrency`` at once, stores the diagnoses, statuses and work-order decisions, escalates overdue
orders, and every ``daily_refresh_s`` refreshes yesterday's and today's online history.
Settings: ``LOOKOUT_PATROL_*`` (:class:`lookout.health.patrol.PatrolConfig`); ``LOOKOUT_PATROL_ENABLED=false``
turns it off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

from lookout.runtime.supervisor import Service
from lookout.settings import Settings

log = logging.getLogger(__name__)


class PatrolScheduler:
    """One tick: patrol what is due, escalate, refresh the daily history now and then."""

    def __init__(self, settings: Settings, cfg=None, now_fn: Callable[[], datetime] | None = None) -> None:
        from lookout.health.patrol import PatrolConfig, ReferenceCache
        from lookout.store.base import utcnow

        self.settings = settings
        self.cfg = cfg or PatrolConfig()
        self.now_fn = now_fn or utcnow
        self.refs = ReferenceCache()
        self._last_refresh = float("-inf")

    def tick(self) -> dict:
        from lookout.health.patrol import escalate_and_refresh, patrol_once

        summary = patrol_once(self.settings, self.cfg, now_fn=self.now_fn, refs=self.refs)
        if summary["channels"]:
            log.info("patrol: %d channel(s), %d online, %d with faults, %.1f s CPU", summary["channels"],
                     summary["online"], summary["faulty"], summary["cpu_s"])
        refresh = time.monotonic() - self._last_refresh >= self.cfg.daily_refresh_s
        extra = escalate_and_refresh(self.settings, self.now_fn(), self.cfg, refresh_daily=refresh)
        if refresh:
            self._last_refresh = time.monotonic()
        if extra["escalated"]:
            log.warning("work orders: %d escalated (overdue)", extra["escalated"])
        return {**summary, **extra}


def services(settings: Settings) -> list[Service]:
    from lookout.health.patrol import PatrolConfig

    cfg = PatrolConfig()
    if not cfg.enabled:
        return []
    state: dict[str, PatrolScheduler] = {}

    async def run() -> None:
        scheduler = state.setdefault("scheduler", PatrolScheduler(settings, cfg))
        while True:
            started = time.monotonic()
            await asyncio.to_thread(scheduler.tick)
            await asyncio.sleep(max(1.0, cfg.tick_s - (time.monotonic() - started)))

    return [Service("patrol", run)]
