"""Assembling a catalog answer that arrives split over several MESSAGEs. Pure: time is passed in.

Parts are keyed by (device, SN); the answer is complete when SumNum distinct items have arrived.
A part that repeats an item (UDP retransmission) does not count twice. An answer that stays
incomplete past the timeout is handed back as partial so that what did arrive is not lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lookout.federation.gb28181.manscdp import CatalogItem


@dataclass
class Pending:
    device_code: str
    sn: str
    sum_num: int
    started: datetime
    items: dict[str, CatalogItem] = field(default_factory=dict)
    parts: int = 0


@dataclass(frozen=True)
class Assembled:
    device_code: str
    sn: str
    sum_num: int
    items: list[CatalogItem]
    parts: int
    complete: bool


class CatalogAssembler:
    def __init__(self, timeout_s: float = 30.0, max_items: int = 100_000) -> None:
        self.timeout = timedelta(seconds=timeout_s)
        self.max_items = max_items
        self.pending: dict[tuple[str, str], Pending] = {}

    def add(self, device_code: str, sn: str, sum_num: int, items: list[CatalogItem],
            now: datetime) -> Assembled | None:
        """Add one part; returns the whole answer once complete."""
        if sum_num > self.max_items:
            raise ValueError(f"SumNum {sum_num} exceeds the limit of {self.max_items} items")
        key = (device_code, sn)
        p = self.pending.get(key)
        if p is None:
            p = self.pending[key] = Pending(device_code, sn, sum_num, now)
        p.parts += 1
        for it in items:
            p.items[it.device_id] = it
        if len(p.items) >= p.sum_num:
            del self.pending[key]
            return Assembled(device_code, sn, p.sum_num, list(p.items.values()), p.parts, True)
        return None

    def expire(self, now: datetime) -> list[Assembled]:
        out = []
        for key, p in list(self.pending.items()):
            if now - p.started >= self.timeout:
                del self.pending[key]
                out.append(Assembled(p.device_code, p.sn, p.sum_num, list(p.items.values()), p.parts, False))
        return out
