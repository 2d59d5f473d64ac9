from datetime import date

from lookout.safety.drills import run_drill, synthetic_holiday_day


def test_synthetic_national_day_drill_escalates_to_red_and_back():
    rows = synthetic_holiday_day(date(2026, 10, 2), instant_max=1000, peak_ratio=0.97, step_minutes=5)
    res = run_drill(rows, daily_max=100000, instant_max=1000, opening="08:00")
    levels = [t.level for t in res.transitions]
    assert levels[:3] == ["yellow", "orange", "red"]
    assert levels[3:] == ["orange", "yellow", "none"]
    assert all(t.measure == "instant" for t in res.transitions)
    assert 950 <= res.peak_present <= 980
    ups = [t.ts for t in res.transitions[:3]]
    downs = [t.ts for t in res.transitions[3:]]
    assert ups == sorted(ups) and downs == sorted(downs)
    assert (downs[1] - downs[0]).total_seconds() >= 600 and (downs[2] - downs[1]).total_seconds() >= 600
