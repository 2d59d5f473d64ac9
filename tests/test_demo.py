from lookout.demo.turnstiles import CYCLE_MIN, Gate, TurnstileSimulator, gate_flows, surge_fraction


def test_surge_passes_every_level_and_comes_back():
    fr = [surge_fraction(m / 10) for m in range(int(CYCLE_MIN * 10))]
    peak = max(fr)
    assert peak >= 0.95 and fr[0] < 0.8 and fr[-1] < 0.75  # red at the peak, below yellow minus 5 after
    first_red = next(i for i, f in enumerate(fr) if f >= 0.95) / 10
    assert first_red < 5 and surge_fraction(CYCLE_MIN + 4.5) == surge_fraction(4.5)


def test_gate_flows_close_the_gap_and_respect_gate_limits():
    flows = gate_flows(target=500, present=400, base_per_gate=1, gates=2, max_per_gate=60)
    assert flows == [(51, 1), (51, 1)]
    assert sum(i - o for i, o in gate_flows(300, 310, 1, 2, 60)) == -10
    assert all(i <= 60 for i, _ in gate_flows(5000, 0, 1, 2, 60))


def test_demo_history_feeds_the_forecast(db_url):
    from datetime import datetime, timezone

    from sqlalchemy import func, select

    from lookout.demo import seed
    from lookout.demo.seed import seed_history
    from lookout.safety.forecast import forecast_for_site
    from lookout.safety.models import HourlyHistory
    from lookout.store.db import session_scope

    now = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)  # 10:00 in Chongqing
    with session_scope(db_url) as s:
        seed(s)
        assert seed_history(s, now) == 2 * 56 * 10  # two scenic areas, 56 days, 10 opening hours
        assert seed_history(s, now) == 0  # once
    with session_scope(db_url) as s:
        assert s.execute(select(func.count()).select_from(HourlyHistory)).scalar() == 1120
        fc = forecast_for_site(s, 1, hours=14, now=now)
    by_hour = {h["ts"][11:13]: h["arrivals"] for h in fc["hours"]}
    assert by_hour["14"] > 50 and by_hour["22"] < 5  # open in the afternoon, closed at night


def test_turnstiles_stop_retrying_when_the_demo_stops():
    """The platform is gone when the demo stops: a gate retrying its post gives up at once instead
    of holding the shutdown for its retries (15 s)."""
    import time

    sim = TurnstileSimulator("http://127.0.0.1:9", [Gate("g1", "k1"), Gate("g2", "k2")], 1000, period_s=0.1)
    sim.start()
    time.sleep(0.5)  # refused at once: the first gate is waiting to retry
    sim.stop()
    assert not sim._thread.is_alive()
    assert sim.gates[1].seq == 0  # the second gate was not tried after the stop
