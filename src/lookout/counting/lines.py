"""Directed counting lines with per-track hysteresis (pure logic).

For the directed line P1→P2 and a person's anchor p (box bottom-centre),
``s(p) = (X2−X1)(py−Y1) − (Y2−Y1)(px−X1)``; ``s / |P1P2|`` is the signed distance in
pixels. "in" is a crossing from s < 0 to s > 0, "out" the reverse.

A crossing is counted only when a *confirmed* track's anchor, *observed* (not predicted),
goes from beyond ``margin`` on one side to beyond ``margin`` on the other and stays there
for ``settle`` consecutive observations. Anchors inside the ±margin band never change the
side a track is on, so boxes that flicker across the line, and a person who stops on the
line and turns back, count nothing. A track first seen inside the band has no side until it
leaves it; a new track id (after a tracker loss) starts without a side, so one walk is not
counted twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

IN, OUT = "in", "out"


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    margin: float = 10.0  # pixels either side
    name: str = "line"
    bounded: bool = False  # only crossings between P1 and P2 (plus the margin) count
    settle: int = 2  # consecutive observations on the new side before a crossing counts

    def __post_init__(self) -> None:
        if math.hypot(self.x2 - self.x1, self.y2 - self.y1) < 1e-6:
            raise ValueError(f"line {self.name!r}: P1 and P2 are the same point")
        if self.margin < 0:
            raise ValueError(f"line {self.name!r}: margin must be ≥ 0, got {self.margin}")
        if self.settle < 1:
            raise ValueError(f"line {self.name!r}: settle must be ≥ 1, got {self.settle}")

    @classmethod
    def parse(cls, text: str, **kw: object) -> Line:
        """``"X1,Y1,X2,Y2"`` (the CLI's --line)."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 4:
            raise ValueError(f"--line needs X1,Y1,X2,Y2 (4 numbers), got {text!r}")
        try:
            x1, y1, x2, y2 = (float(p) for p in parts)
        except ValueError as exc:
            raise ValueError(f"--line needs numbers, got {text!r}") from exc
        return cls(x1, y1, x2, y2, **kw)  # type: ignore[arg-type]

    @property
    def length(self) -> float:
        return math.hypot(self.x2 - self.x1, self.y2 - self.y1)

    def s(self, px: float, py: float) -> float:
        return (self.x2 - self.x1) * (py - self.y1) - (self.y2 - self.y1) * (px - self.x1)

    def distance(self, px: float, py: float) -> float:
        """Signed distance in pixels (positive on the "in" side)."""
        return self.s(px, py) / self.length

    def along(self, px: float, py: float) -> float:
        """Position along the segment: 0 at P1, 1 at P2."""
        dx, dy = self.x2 - self.x1, self.y2 - self.y1
        return ((px - self.x1) * dx + (py - self.y1) * dy) / (self.length ** 2)

    def zone(self, px: float, py: float) -> int:
        """+1 beyond the margin on the "in" side, -1 on the other, 0 inside the band."""
        d = self.distance(px, py)
        if d > self.margin:
            return 1
        if d < -self.margin:
            return -1
        return 0


@dataclass(frozen=True)
class Crossing:
    line: str
    track_id: int
    direction: str  # "in" or "out"
    ts: float | None = None


@dataclass
class _TrackState:
    side: int = 0  # committed side: -1, +1, or 0 (not yet known)
    pending: int = 0  # side being confirmed
    pending_count: int = 0
    last_point: tuple[float, float] | None = None
    last_seen: float | None = None
    cross_point: tuple[float, float] | None = None


@dataclass
class LineCounter:
    """Counts crossings of one line by tracks; feed it every analysed frame's tracks."""

    line: Line
    entered: int = 0
    exited: int = 0
    states: dict[int, _TrackState] = field(default_factory=dict)

    def update(self, observations: Iterable[tuple[int, float, float]], ts: float | None = None) -> list[Crossing]:
        """``observations``: (track_id, anchor_x, anchor_y) of confirmed tracks matched to a
        detection in this frame. Returns the crossings completed in this frame."""
        out: list[Crossing] = []
        for tid, px, py in observations:
            st = self.states.setdefault(tid, _TrackState())
            z = self.line.zone(px, py)
            prev_point = st.last_point
            st.last_point, st.last_seen = (px, py), ts
            if z == 0:
                st.pending, st.pending_count = 0, 0
                continue
            if st.side == 0:
                st.side = z
                continue
            if z == st.side:
                st.pending, st.pending_count = 0, 0
                continue
            if st.pending != z:
                st.pending, st.pending_count = z, 0
                st.cross_point = prev_point
            st.pending_count += 1
            if st.pending_count < self.line.settle:
                continue
            st.side, st.pending, st.pending_count = z, 0, 0
            if self.line.bounded and not self._within(st.cross_point, (px, py)):
                continue
            direction = IN if z > 0 else OUT
            if direction == IN:
                self.entered += 1
            else:
                self.exited += 1
            out.append(Crossing(self.line.name, tid, direction, ts))
        return out

    def _within(self, a: tuple[float, float] | None, b: tuple[float, float]) -> bool:
        """Whether the path crossed the line between P1 and P2 (with the margin as tolerance)."""
        tol = self.line.margin / self.line.length
        pts = [b] if a is None else [a, b]
        return any(-tol <= self.line.along(*p) <= 1 + tol for p in pts)

    def forget(self, older_than: float) -> None:
        """Drop the state of tracks not seen since ``older_than`` (bounded memory)."""
        stale = [t for t, s in self.states.items() if s.last_seen is not None and s.last_seen < older_than]
        for t in stale:
            del self.states[t]
