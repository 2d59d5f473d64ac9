"""Background services of a running instance, supervised: a service that fails is logged and restarted
with backoff; the web process keeps serving.

Each capability may offer ``lookout.<capability>.services.services(settings) -> list[Service]``;
``lookout serve`` and ``lookout demo`` start them all (tests start only what they need).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lookout.optional import optional_module
from lookout.settings import Settings

log = logging.getLogger(__name__)

CAPABILITIES = ("media", "health", "counting", "safety", "federation")


@dataclass
class Service:
    """A long-running coroutine; ``run`` should loop until cancelled."""

    name: str
    run: Callable[[], Awaitable[None]]
    stop: Callable[[], Awaitable[None]] | None = None


async def run_until_cancelled(start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]) -> None:
    """Start, wait until cancelled (or interrupted), stop: the ``run`` of something with start and stop."""
    await start()
    try:
        await asyncio.Event().wait()
    finally:
        await stop()


def discover(settings: Settings) -> list[Service]:
    found: list[Service] = []
    for cap in CAPABILITIES:
        mod = optional_module(f"lookout.{cap}.services")
        if mod is not None:
            found.extend(mod.services(settings))
    return found


class Supervisor:
    def __init__(self, services: list[Service], max_backoff_s: float = 60.0) -> None:
        self.services = services
        self.max_backoff = max_backoff_s
        self.tasks: dict[str, asyncio.Task] = {}
        self.restarts: dict[str, int] = {}

    async def _keep_running(self, svc: Service) -> None:
        delay = min(1.0, self.max_backoff)
        while True:
            try:
                await svc.run()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                self.restarts[svc.name] = self.restarts.get(svc.name, 0) + 1
                log.exception("service %s failed; restarting in %.0f s", svc.name, delay)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, self.max_backoff)

    def start(self) -> None:
        for svc in self.services:
            self.tasks[svc.name] = asyncio.create_task(self._keep_running(svc), name=svc.name)
            log.info("service %s started", svc.name)

    async def stop(self) -> None:
        for svc in self.services:
            if svc.stop is not None:
                try:
                    await svc.stop()
                except Exception:
                    log.exception("service %s did not stop cleanly", svc.name)
        for t in self.tasks.values():
            t.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self.tasks.clear()
