"""The warning engine: pure logic, time passed in.

Measures: ``instant`` (visitors in the site now against the instantaneous capacity),
``daily`` (the day's cumulative visitors against the approved daily maximum) and one
``zone:<name>`` per zone with a capacity. Each measure has its own level; a site's level
is the highest of them.

Rules (defaults, configurable per site through ``Site.thresholds``):
- levels yellow ≥ 80 %, orange ≥ 90 %, red ≥ 95 %;
- escalate at once when a ratio reaches a threshold (straight to the highest one reached);
- de-escalate one step only after the ratio has stayed below that level's threshold minus
  5 points for 10 continuous minutes; the hold restarts after every step, so red → none
  takes at least three holds;
- a new business day (``Occupancy.day`` changes) starts the daily measure afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

LEVELS = ("none", "yellow", "orange", "red")
RANK = {name: i for i, name in enumerate(LEVELS)}
COLOURS = {"none": "#2e7d32", "yellow": "#f9a825", "orange": "#ef6c00", "red": "#c62828"}
NAMES_ZH = {"none": "正常", "yellow": "三级(黄色)", "orange": "二级(橙色)", "red": "一级(红色)"}
_EPS = 1e-9


class ThresholdError(ValueError):
    pass


def higher(a: str, b: str) -> str:
    return a if RANK[a] >= RANK[b] else b


@dataclass(frozen=True)
class Thresholds:
    yellow: float = 80.0
    orange: float = 90.0
    red: float = 95.0
    hysteresis: float = 5.0  # percentage points below a threshold before the hold starts
    hold: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        if not (0 < self.yellow < self.orange < self.red):
            raise ThresholdError(
                f"thresholds must rise: 0 < yellow ({self.yellow}) < orange ({self.orange}) < red ({self.red})"
            )
        if self.hysteresis < 0:
            raise ThresholdError(f"hysteresis must be ≥ 0, got {self.hysteresis}")
        if self.hold < timedelta(0):
            raise ThresholdError(f"hold must be ≥ 0, got {self.hold}")

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Thresholds:
        """From ``Site.thresholds`` such as {"yellow": 80, "orange": 90, "red": 95,
        "hysteresis": 5, "hold_minutes": 10}; missing keys keep their defaults."""
        if not d:
            return cls()
        unknown = set(d) - {"yellow", "orange", "red", "hysteresis", "hold_minutes"}
        if unknown:
            raise ThresholdError(f"unknown threshold keys: {sorted(unknown)}")
        kw: dict[str, Any] = {}
        for k in ("yellow", "orange", "red", "hysteresis"):
            if k in d:
                try:
                    kw[k] = float(d[k])
                except (TypeError, ValueError) as exc:
                    raise ThresholdError(f"threshold {k}: not a number: {d[k]!r}") from exc
        if "hold_minutes" in d:
            kw["hold"] = timedelta(minutes=float(d["hold_minutes"]))
        return cls(**kw)

    def to_dict(self) -> dict[str, float]:
        return {
            "yellow": self.yellow,
            "orange": self.orange,
            "red": self.red,
            "hysteresis": self.hysteresis,
            "hold_minutes": self.hold.total_seconds() / 60,
        }

    def of(self, level: str) -> float:
        return {"yellow": self.yellow, "orange": self.orange, "red": self.red}[level]

    def level_for(self, ratio: float) -> str:
        for name in ("red", "orange", "yellow"):
            if ratio + _EPS >= self.of(name):
                return name
        return "none"


@dataclass(frozen=True)
class Occupancy:
    """What the engine needs from counting: people inside now, the day's entries, zones."""

    present: int
    entered_today: int = 0
    zones: dict[str, int] = field(default_factory=dict)
    day: str | None = None  # business-day key (e.g. "2026-10-01"); a change resets the daily measure

    def to_dict(self) -> dict[str, Any]:
        return {"present": self.present, "entered_today": self.entered_today, "zones": dict(self.zones), "day": self.day}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Occupancy:
        return cls(
            present=int(d.get("present", 0)),
            entered_today=int(d.get("entered_today", 0)),
            zones={str(k): int(v) for k, v in (d.get("zones") or {}).items()},
            day=d.get("day"),
        )


@dataclass(frozen=True)
class Limits:
    instant_max: int | None = None
    daily_max: int | None = None
    zones: dict[str, int] = field(default_factory=dict)  # zone name -> capacity


@dataclass
class MeasureState:
    level: str = "none"
    below_since: datetime | None = None
    ratio: float = 0.0


@dataclass
class EngineState:
    level: str = "none"
    measures: dict[str, MeasureState] = field(default_factory=dict)
    day: str | None = None
    last_eval: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "day": self.day,
            "last_eval": self.last_eval.isoformat() if self.last_eval else None,
            "measures": {
                k: {
                    "level": m.level,
                    "below_since": m.below_since.isoformat() if m.below_since else None,
                    "ratio": m.ratio,
                }
                for k, m in self.measures.items()
            },
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> EngineState:
        if not d:
            return cls()

        def _t(v: str | None) -> datetime | None:
            return datetime.fromisoformat(v) if v else None

        return cls(
            level=d.get("level", "none"),
            day=d.get("day"),
            last_eval=_t(d.get("last_eval")),
            measures={
                k: MeasureState(level=m["level"], below_since=_t(m.get("below_since")), ratio=float(m.get("ratio", 0)))
                for k, m in (d.get("measures") or {}).items()
            },
        )


@dataclass(frozen=True)
class Transition:
    ts: datetime
    level: str
    previous: str
    measure: str  # "instant", "daily" or "zone"
    measure_key: str  # "instant", "daily" or "zone:<name>"
    ratio: float  # percent, of the measure that caused the change

    @property
    def escalation(self) -> bool:
        return RANK[self.level] > RANK[self.previous]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ts": self.ts.isoformat(),
            "level": self.level,
            "previous": self.previous,
            "measure": self.measure,
            "measure_key": self.measure_key,
            "ratio": round(self.ratio, 2),
        }


@dataclass(frozen=True)
class Evaluation:
    state: EngineState
    transitions: list[Transition]
    ratios: dict[str, float]
    next_check: datetime | None  # when a de-escalation falls due if nothing changes


def ratios_of(occ: Occupancy, limits: Limits) -> dict[str, float]:
    """Percent of capacity for each measure that has a capacity."""
    out: dict[str, float] = {}
    if limits.instant_max and limits.instant_max > 0:
        out["instant"] = 100.0 * max(occ.present, 0) / limits.instant_max
    if limits.daily_max and limits.daily_max > 0:
        out["daily"] = 100.0 * max(occ.entered_today, 0) / limits.daily_max
    for name, cap in sorted(limits.zones.items()):
        if cap and cap > 0 and name in occ.zones:
            out[f"zone:{name}"] = 100.0 * max(occ.zones[name], 0) / cap
    return out


def _measure_kind(key: str) -> str:
    return "zone" if key.startswith("zone:") else key


def _order(key: str) -> tuple[int, str]:
    return ({"instant": 0, "daily": 1}.get(key, 2), key)


def evaluate(state: EngineState, occ: Occupancy, limits: Limits, thr: Thresholds, now: datetime) -> Evaluation:
    """Grade one occupancy snapshot at time ``now``; returns the new state and any site transition."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    measures = {k: MeasureState(m.level, m.below_since, m.ratio) for k, m in state.measures.items()}
    reset: set[str] = set()
    if occ.day is not None and state.day is not None and occ.day != state.day and "daily" in measures:
        measures.pop("daily")  # a new business day
        reset.add("daily")
    ratios = ratios_of(occ, limits)
    for gone in set(measures) - set(ratios):  # capacity removed or zone no longer reported
        measures.pop(gone)
        reset.add(gone)

    escalated: set[str] = set()
    stepped_down: set[str] = set()
    for key, ratio in ratios.items():
        m = measures.setdefault(key, MeasureState())
        m.ratio = ratio
        target = thr.level_for(ratio)
        if RANK[target] > RANK[m.level]:
            m.level, m.below_since = target, None
            escalated.add(key)
            continue
        if m.level == "none":
            m.below_since = None
            continue
        if ratio + _EPS >= thr.of(m.level) - thr.hysteresis:
            m.below_since = None
            continue
        if m.below_since is None:
            m.below_since = now
        if now - m.below_since >= thr.hold:
            m.level = LEVELS[RANK[m.level] - 1]
            stepped_down.add(key)
            still_below = m.level != "none" and ratio + _EPS < thr.of(m.level) - thr.hysteresis
            m.below_since = now if still_below else None

    new_level = "none"
    for m in measures.values():
        new_level = higher(new_level, m.level)

    transitions: list[Transition] = []
    if new_level != state.level:
        if RANK[new_level] > RANK[state.level]:
            cands = [k for k in escalated if measures[k].level == new_level] or [
                k for k, m in measures.items() if m.level == new_level
            ]
        else:
            was = {k: state.measures[k].level for k in stepped_down | reset if k in state.measures}
            cands = [k for k, lv in was.items() if lv == state.level] or sorted(was)
        key = sorted(cands, key=_order)[0] if cands else "instant"
        transitions.append(
            Transition(
                ts=now,
                level=new_level,
                previous=state.level,
                measure=_measure_kind(key),
                measure_key=key,
                ratio=ratios.get(key, 0.0),
            )
        )

    deadlines = [m.below_since + thr.hold for m in measures.values() if m.below_since is not None]
    new_state = EngineState(level=new_level, measures=measures, day=occ.day if occ.day is not None else state.day, last_eval=now)
    return Evaluation(new_state, transitions, ratios, min(deadlines) if deadlines else None)
