"""Simulated turnstiles for the demo: a holiday surge that takes one scenic area through
yellow → orange → red and back, pushed through the real counts API with the gates' API keys.

The curve is pure (``surge_fraction``); the gates steer toward it from the occupancy the API
answers, so a restarted demo or people counted from video do not throw it off.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import httpx

log = logging.getLogger(__name__)

# (minute of the cycle, fraction of the instantaneous capacity present); linear in between
SURGE = ((0.0, 0.55), (1.0, 0.70), (2.0, 0.84), (3.0, 0.93), (4.0, 0.98), (5.0, 0.98), (6.0, 0.80),
         (7.0, 0.60), (8.0, 0.45), (15.0, 0.45))
CYCLE_MIN = SURGE[-1][0]


def surge_fraction(minutes: float) -> float:
    """Share of capacity present ``minutes`` into the (repeating) surge cycle."""
    m = minutes % CYCLE_MIN
    for (m0, f0), (m1, f1) in zip(SURGE, SURGE[1:]):
        if m0 <= m <= m1:
            return f0 + (f1 - f0) * (m - m0) / (m1 - m0)
    return SURGE[-1][1]


def gate_flows(target: int, present: int, base_per_gate: int, gates: int, max_per_gate: int) -> list[tuple[int, int]]:
    """(in, out) for each gate this tick: a steady turnover plus what closes the gap to the target."""
    gap = target - present
    extra_in, extra_out = max(gap, 0), max(-gap, 0)
    flows = []
    for g in range(gates):
        share_in = extra_in // gates + (1 if g < extra_in % gates else 0)
        share_out = extra_out // gates + (1 if g < extra_out % gates else 0)
        flows.append((min(base_per_gate + share_in, max_per_gate), min(base_per_gate + share_out, max_per_gate)))
    return flows


@dataclass
class Gate:
    name: str
    key: str
    seq: int = 0


class TurnstileSimulator:
    """Posts a batch per gate every ``period_s`` to ``base_url``/api/v1/counts."""

    def __init__(self, base_url: str, gates: list[Gate], capacity: int, period_s: float = 5.0,
                 base_per_gate: int = 1, max_per_gate: int = 60) -> None:
        self.base_url, self.gates, self.capacity = base_url.rstrip("/"), gates, capacity
        self.period, self.base, self.max = period_s, base_per_gate, max_per_gate
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.present = 0

    def _post(self, client: httpx.Client, gate: Gate, n_in: int, n_out: int) -> dict | None:
        gate.seq += 1
        sample = {"source": gate.name, "seq": gate.seq, "ts": datetime.now(timezone.utc).isoformat(),
                  "in": n_in, "out": n_out}
        for attempt in range(5):  # a turnstile retries; the platform stores each (source, seq) once
            try:
                r = client.post(f"{self.base_url}/api/v1/counts", json=[sample], headers={"X-API-Key": gate.key})
                if r.status_code == 200:
                    return r.json()
                log.warning("gate %s: counts API answered %s: %s", gate.name, r.status_code, r.text[:200])
                return None
            except httpx.HTTPError as exc:
                log.debug("gate %s: %s (retry %d)", gate.name, exc, attempt + 1)
                if self._stop.wait(1 + attempt):  # the demo is stopping: the platform is gone, no retry
                    return None
        return None

    def run(self) -> None:
        start = time.monotonic()
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                minutes = (time.monotonic() - start) / 60
                target = round(surge_fraction(minutes) * self.capacity)
                for gate, (n_in, n_out) in zip(self.gates, gate_flows(target, self.present, self.base,
                                                                      len(self.gates), self.max)):
                    if self._stop.is_set():
                        break
                    answer = self._post(client, gate, n_in, n_out)
                    if answer and "occupancy" in answer:
                        self.present = int(answer["occupancy"].get("present") or 0)
                self._stop.wait(self.period)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="demo-turnstiles", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=15)
