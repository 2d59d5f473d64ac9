"""Directed counting lines with per-track hysteresis (pure logic).

For the directed line P1→P2 and a person's anchor p (box bottom-centre),
``s(p) = (X2−X1)(py−Y1) − (Y2−Y1)(px−X1)``; ``s / |P1P2|`` is the signed distance in
pixels. "in" is a crossing from s < 0 to s > 0, "out" the reverse.

A crossing is counted only when a *confirmed* track's anchor, *observed* (not predicted) and
averaged over its last ``smooth`` observations, goes from beyond the margin on one side to
beyond the margin on the other and stays there for ``settle`` consecutive observations
(the pipeline sets ``settle`` and ``smooth`` from durations in seconds and its analysis rate,
``Line.at_rate``). The
margin is ``margin`` pixels or ``relative_margin`` of the person's box height, the larger. Anchors inside the ±margin band never change the
side a track is on, so boxes that flicker across the line, and a person who stops on the
line and turns back, count nothing. A track first seen inside the band has no side until it
leaves it; a new track id (after a tracker loss) starts without a side, so one walk is not
counted twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from collections import deque
from dataclasses import dataclass, field, replace

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
    relink_seconds: float = 2.0  # a new track id this soon after and near a vanished one continues it
    smooth: int = 3  # anchors averaged over this many observations of a track
    relative_margin: float = 0.15  # the band is at least this share of the person's box height
    # the same two rules in seconds, for ``at_rate``: 2 and 3 observations at 10 fps
    settle_seconds: float = 0.2
    smooth_seconds: float = 0.3

    def __post_init__(self) -> None:
        if math.hypot(self.x2 - self.x1, self.y2 - self.y1) < 1e-6:
            raise ValueError(f"line {self.name!r}: P1 and P2 are the same point")
        if self.margin < 0:
            raise ValueError(f"line {self.name!r}: margin must be ≥ 0, got {self.margin}")
        if self.settle < 1:
            raise ValueError(f"line {self.name!r}: settle must be ≥ 1, got {self.settle}")

    def at_rate(self, fps: float) -> Line:
        """This line with ``settle`` and ``smooth`` taken from their durations at an analysis
        rate of ``fps``, so that a slower rate neither waits longer on the new side nor
        averages a longer stretch of walk. At least one settling observation, and at least two
        averaged, so a box alternating sides from one frame to the next still averages onto
        the line at any rate."""
        if fps <= 0:
            raise ValueError(f"line {self.name!r}: analysis rate must be > 0, got {fps}")
        return replace(self, settle=max(1, math.floor(self.settle_seconds * fps + 0.5)),
                       smooth=max(2, math.floor(self.smooth_seconds * fps + 0.5)))

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

    def zone(self, px: float, py: float, height: float = 0.0) -> int:
        """+1 beyond the margin on the "in" side, -1 on the other, 0 inside the band (the band
        widens with the person's box height: a foot point is only as steady as the box)."""
        d = self.distance(px, py)
        margin = max(self.margin, self.relative_margin * height)
        if d > margin:
            return 1
        if d < -margin:
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
    recent: deque = field(default_factory=deque)
    cross_point: tuple[float, float] | None = None


@dataclass
class LineCounter:
    """Counts crossings of one line by tracks; feed it every analysed frame's tracks."""

    line: Line
    entered: int = 0
    exited: int = 0
    states: dict[int, _TrackState] = field(default_factory=dict)

    def update(self, observations: Iterable[tuple[float, ...]], ts: float | None = None) -> list[Crossing]:
        """``observations``: (track_id, anchor_x, anchor_y[, box_height]) of confirmed tracks
        matched to a detection in this frame. Returns the crossings completed in this frame."""
        out: list[Crossing] = []
        for obs in observations:
            tid, px, py = int(obs[0]), float(obs[1]), float(obs[2])
            height = float(obs[3]) if len(obs) > 3 else 0.0
            st = self.states.get(tid)
            if st is None:
                st = self.states[tid] = self._relink(px, py, height, ts)
            st.recent.append((px, py))
            while len(st.recent) > self.line.smooth:
                st.recent.popleft()
            px = sum(p[0] for p in st.recent) / len(st.recent)
            py = sum(p[1] for p in st.recent) / len(st.recent)
            z = self.line.zone(px, py, height)
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

    def _relink(self, px: float, py: float, height: float, ts: float | None) -> _TrackState:
        """State for a new track id: the side of the nearest track that vanished moments ago
        close by (the tracker lost a person behind a pole and gave them a new id), or none."""
        st = _TrackState()
        if ts is None:
            return st
        reach = max(40.0, 1.5 * height)
        best, best_d = None, reach
        for tid, old in self.states.items():
            if old.last_seen is None or old.last_point is None or old.last_seen >= ts:
                continue
            if ts - old.last_seen > self.line.relink_seconds or old.side == 0:
                continue
            d = math.hypot(old.last_point[0] - px, old.last_point[1] - py)
            if d < best_d:
                best, best_d = tid, d
        if best is not None:
            old = self.states.pop(best)
            st.side = old.side
            st.recent = deque(old.recent)
            st.cross_point = old.cross_point
        return st

    def flush(self, ts: float, after: float = 1.0) -> list[Crossing]:
        """Complete the crossings of tracks that went beyond the margin on the new side and
        then vanished (left the picture, were occluded, or lost their id) before settling:
        no observation for ``after`` seconds while a side change was pending."""
        out = []
        for tid, st in self.states.items():
            if st.pending_count and st.last_seen is not None and ts - st.last_seen >= after:
                z = st.pending
                st.side, st.pending, st.pending_count = z, 0, 0
                if self.line.bounded and not self._within(st.cross_point, st.last_point or (0.0, 0.0)):
                    continue
                direction = IN if z > 0 else OUT
                if direction == IN:
                    self.entered += 1
                else:
                    self.exited += 1
                out.append(Crossing(self.line.name, tid, direction, st.last_seen))
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
