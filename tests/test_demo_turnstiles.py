from lookout.demo.turnstiles import CYCLE_MIN, gate_flows, surge_fraction


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
