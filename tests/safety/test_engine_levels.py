from datetime import datetime, timedelta, timezone

import pytest

from lookout.safety.engine import EngineState, Limits, Occupancy, Thresholds, ThresholdError, evaluate

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=timezone(timedelta(hours=8)))
LIM = Limits(instant_max=1000, daily_max=10000, zones={"plaza": 100})
THR = Thresholds()


def run(series, limits=LIM, thr=THR, state=None):
    """series: list of (minute, Occupancy); returns (state, transitions) with deadline ticks."""
    state = state or EngineState()
    out = []
    last = None
    for minute, occ in series:
        now = T0 + timedelta(minutes=minute)
        ev = evaluate(state, occ, limits, thr, now)
        state = ev.state
        out += ev.transitions
        last = occ
    return state, out, last


def test_escalates_at_once_per_threshold():
    series = [(0, Occupancy(700)), (1, Occupancy(800)), (2, Occupancy(899)), (3, Occupancy(900)), (4, Occupancy(950))]
    _, tr, _ = run(series)
    assert [(t.ts, t.level, t.measure) for t in tr] == [
        (T0 + timedelta(minutes=1), "yellow", "instant"),
        (T0 + timedelta(minutes=3), "orange", "instant"),
        (T0 + timedelta(minutes=4), "red", "instant"),
    ]


def test_jumps_straight_to_red():
    _, tr, _ = run([(0, Occupancy(960))])
    assert [(t.previous, t.level) for t in tr] == [("none", "red")]


def test_deescalates_one_step_after_ten_minutes_below_threshold_minus_five():
    series = [(0, Occupancy(960))]  # red
    series += [(m, Occupancy(890)) for m in range(1, 12)]  # below 95-5=90 from minute 1
    series += [(m, Occupancy(700)) for m in range(12, 45)]
    _, tr, _ = run(series)
    assert [(int((t.ts - T0).total_seconds() // 60), t.level) for t in tr] == [
        (0, "red"),
        (11, "orange"),  # below 90 since minute 1, 10 min later
        (22, "yellow"),  # 890 is not below 85; 700 from minute 12 is
        (32, "none"),  # the hold restarts at the step; 700 < 75
    ]


def test_ratio_between_floor_and_threshold_holds_level():
    series = [(0, Occupancy(910))] + [(m, Occupancy(860)) for m in range(1, 60)]
    _, tr, _ = run(series)
    assert [t.level for t in tr] == ["orange"]


def test_hover_around_80_percent_for_an_hour_does_not_flap():
    import math

    series = [(m, Occupancy(int(800 + 30 * math.sin(m / 3.0)))) for m in range(0, 61)]
    _, tr, _ = run(series)
    assert [t.level for t in tr] == ["yellow"]


def test_site_level_is_highest_measure_and_zone_measure_named():
    occ = Occupancy(present=500, entered_today=8100, zones={"plaza": 96})
    ev = evaluate(EngineState(), occ, LIM, THR, T0)
    assert ev.state.level == "red"
    assert ev.transitions[0].measure == "zone" and ev.transitions[0].measure_key == "zone:plaza"
    assert ev.state.measures["daily"].level == "yellow"
    assert ev.state.measures["instant"].level == "none"


def test_daily_measure_escalates_and_new_day_resets():
    st, tr, _ = run([(0, Occupancy(100, 9000, day="2026-10-01"))])
    assert tr[0].level == "orange" and tr[0].measure == "daily"
    ev = evaluate(st, Occupancy(100, 0, day="2026-10-02"), LIM, THR, T0 + timedelta(hours=20))
    assert ev.state.level == "none" and ev.transitions[0].measure == "daily"


def test_next_check_reports_deadline():
    st, _, _ = run([(0, Occupancy(960)), (1, Occupancy(500))])
    ev = evaluate(st, Occupancy(500), LIM, THR, T0 + timedelta(minutes=2))
    assert ev.next_check == T0 + timedelta(minutes=11)


def test_state_round_trips():
    st, _, _ = run([(0, Occupancy(960)), (1, Occupancy(500))])
    again = EngineState.from_dict(st.to_dict())
    assert again.to_dict() == st.to_dict()


def test_site_thresholds_configurable_and_validated():
    thr = Thresholds.from_dict({"yellow": 70, "orange": 85, "red": 92, "hold_minutes": 5})
    assert thr.level_for(71) == "yellow" and thr.level_for(92) == "red"
    with pytest.raises(ThresholdError, match="rise"):
        Thresholds.from_dict({"yellow": 90, "orange": 85})
    with pytest.raises(ThresholdError, match="unknown"):
        Thresholds.from_dict({"purple": 1})
