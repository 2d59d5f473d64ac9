"""In-process publish/subscribe for live events (levels, counts, camera states).

Publishers are any thread; subscribers are asyncio consumers (the WebSocket relay, the UI).
Topics are dotted strings such as ``site.3.level`` or ``channel.42.status``; a subscriber
names a prefix (``site.3.`` or ``""`` for everything).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Event:
    topic: str
    payload: dict[str, Any]
    ts: float = field(default_factory=time.time)


class _Subscription:
    def __init__(self, bus: EventBus, prefix: str, loop: asyncio.AbstractEventLoop, maxsize: int) -> None:
        self.bus, self.prefix, self.loop = bus, prefix, loop
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0

    def offer(self, ev: Event) -> None:
        try:
            self.queue.put_nowait(ev)
        except asyncio.QueueFull:  # a slow consumer loses its oldest events, never blocks publishers
            self.dropped += 1
            try:
                self.queue.get_nowait()
                self.queue.put_nowait(ev)
            except (asyncio.QueueEmpty, asyncio.QueueFull):
                pass

    async def get(self) -> Event:
        return await self.queue.get()

    def close(self) -> None:
        self.bus._remove(self)


class EventBus:
    def __init__(self) -> None:
        self._subs: list[_Subscription] = []
        self._lock = threading.Lock()

    def subscribe(self, prefix: str = "", maxsize: int = 1000) -> _Subscription:
        """Call from a running event loop; events arrive on that loop."""
        sub = _Subscription(self, prefix, asyncio.get_running_loop(), maxsize)
        with self._lock:
            self._subs.append(sub)
        return sub

    def _remove(self, sub: _Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def publish(self, topic: str, payload: dict[str, Any]) -> Event:
        ev = Event(topic, payload)
        with self._lock:
            subs = [s for s in self._subs if topic.startswith(s.prefix)]
        for s in subs:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is s.loop:
                s.offer(ev)
            elif not s.loop.is_closed():
                s.loop.call_soon_threadsafe(s.offer, ev)
        return ev


bus = EventBus()
