"""Work-order rules as pure decisions: two patrols in a row, one live order per channel and fault,
deadlines, the re-check after a close request, escalation levels, repair statistics."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from lookout.health.patrol import PatrolConfig, due_channels
from lookout.health.workorders import (ChannelInfo, Escalate, Open, OrderState, Policy, RecheckFailed, RecheckPassed,
                                       RepairRow, Seen, decide_escalations, decide_patrol, repair_statistics)

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc)
CH = {1: ChannelInfo(1, 10, key=False, assignee="om_li", vendor="Dahua"),
      2: ChannelInfo(2, 10, key=True, assignee="om_li", vendor="Hikvision")}


def seen(i: int, minutes: float, faults=(), online=True, **scores) -> Seen:
    return Seen(i, T0 + timedelta(minutes=minutes), online, frozenset(faults), scores)


def test_one_patrol_is_not_enough_two_in_a_row_open_an_order():
    assert decide_patrol(T0, CH, {1: [seen(1, 0, ["blur"])]}, []) == []
    acts = decide_patrol(T0, CH, {1: [seen(2, 30, ["blur"]), seen(1, 0, ["blur", "noise"])]}, [])
    assert acts == [Open(1, 10, "blur", T0 + timedelta(hours=24), "om_li", False, "Dahua", 2)]


def test_a_gap_between_sightings_does_not_count():
    acts = decide_patrol(T0, CH, {1: [seen(3, 60, ["blur"]), seen(2, 30, []), seen(1, 0, ["blur"])]}, [])
    assert acts == []


def test_key_area_deadline_is_four_hours_and_offline_is_a_fault():
    acts = decide_patrol(T0, CH, {2: [seen(2, 10, online=False), seen(1, 0, online=False)]}, [])
    assert acts == [Open(2, 10, "offline", T0 + timedelta(hours=4), "om_li", True, "Hikvision", 2)]


def test_no_second_order_while_one_is_live():
    live = [OrderState(7, 1, 10, "blur", "open", T0, T0 + timedelta(hours=24))]
    assert decide_patrol(T0, CH, {1: [seen(2, 30, ["blur"]), seen(1, 0, ["blur"])]}, live) == []
    closed = [OrderState(7, 1, 10, "blur", "closed", T0, T0 + timedelta(hours=24))]
    assert len(decide_patrol(T0, CH, {1: [seen(2, 30, ["blur"]), seen(1, 0, ["blur"])]}, closed)) == 1


def test_recheck_passes_when_the_fault_is_gone():
    o = OrderState(7, 1, 10, "blur", "rechecking", T0, T0 + timedelta(hours=24), close_requested_at=T0 + timedelta(minutes=40))
    # a diagnosis older than the close request is not the re-check
    assert decide_patrol(T0, CH, {1: [seen(2, 30, [])]}, [o]) == []
    (a,) = decide_patrol(T0, CH, {1: [seen(3, 41, ["noise"]), seen(2, 30, [])]}, [o])
    assert isinstance(a, RecheckPassed) and a.order_id == 7 and a.diagnosis_id == 3


def test_recheck_fails_when_the_fault_remains_or_there_is_no_picture():
    o = OrderState(7, 1, 10, "blur", "rechecking", T0, T0 + timedelta(hours=24), close_requested_at=T0 + timedelta(minutes=40))
    (a,) = decide_patrol(T0, CH, {1: [seen(3, 41, ["blur"], blur=87.0)]}, [o])
    assert isinstance(a, RecheckFailed) and "still shows blur (score 87)" in a.note
    (a,) = decide_patrol(T0, CH, {1: [seen(3, 41, online=False)]}, [o])
    assert isinstance(a, RecheckFailed) and "cannot be confirmed" in a.note
    # a failed re-check re-opens the same order: two sightings in a row do not open another one
    acts = decide_patrol(T0, CH, {1: [seen(3, 41, ["blur"]), seen(2, 30, ["blur"])]}, [o])
    assert [type(x) for x in acts] == [RecheckFailed]


def test_escalation_levels():
    o = OrderState(7, 1, 10, "blur", "open", T0, T0 + timedelta(hours=4))
    assert decide_escalations(T0 + timedelta(hours=4), [o]) == []  # at the deadline: not yet
    (e,) = decide_escalations(T0 + timedelta(hours=5), [o])
    assert e == Escalate(7, 1, 3600.0)
    lvl1 = OrderState(7, 1, 10, "blur", "open", T0, T0 + timedelta(hours=4), escalation_level=1)
    assert decide_escalations(T0 + timedelta(hours=7), [lvl1]) == []
    assert decide_escalations(T0 + timedelta(hours=8), [lvl1]) == [Escalate(7, 2, 4 * 3600.0)]
    lvl2 = OrderState(7, 1, 10, "blur", "open", T0, T0 + timedelta(hours=4), escalation_level=2)
    assert decide_escalations(T0 + timedelta(days=5), [lvl2]) == []  # the last level
    waiting = OrderState(8, 1, 10, "blur", "rechecking", T0, T0 + timedelta(hours=4))
    assert decide_escalations(T0 + timedelta(hours=9), [waiting]) == []
    assert decide_escalations(T0 + timedelta(hours=9), [o], Policy(escalation_levels=1)) == [Escalate(7, 1, 5 * 3600.0)]


def test_repair_statistics():
    h = timedelta(hours=1)
    rows = [RepairRow("Dahua", "Dahua", T0, T0 + 24 * h, T0 + 2 * h),
            RepairRow("Dahua", "Dahua", T0, T0 + 24 * h, T0 + 30 * h),
            RepairRow("Dahua", "Dahua", T0, T0 + 24 * h, T0 + 4 * h),
            RepairRow("Dahua", "Dahua", T0, T0 + 4 * h, None),
            RepairRow("Hik", "Hik", T0, T0 + 24 * h, None)]
    by = {g["id"]: g for g in repair_statistics(rows, now=T0 + 5 * h)}
    d = by["Dahua"]
    assert (d["orders"], d["closed"], d["open"], d["overdue_open"]) == (4, 3, 1, 1)
    assert d["mean_h"] == pytest.approx(12.0) and d["median_h"] == pytest.approx(4.0) and d["max_h"] == 30.0
    assert d["p90_h"] == pytest.approx(4 + 0.8 * 26) and d["on_time_rate"] == pytest.approx(2 / 3, abs=1e-5)
    assert by["Hik"]["mean_h"] is None and by["Hik"]["overdue_open"] == 0


def test_due_channels_every_30_minutes_key_areas_every_10():
    cfg = PatrolConfig(interval_s=1800, key_interval_s=600)
    now = T0
    entries = [(1, False, now - timedelta(minutes=29)), (2, False, now - timedelta(minutes=45)),
               (3, True, now - timedelta(minutes=11)), (4, True, None), (5, True, now - timedelta(minutes=9))]
    assert due_channels(entries, now, cfg) == [4, 2, 3]


def test_without_a_reference_only_reliable_faults_open_orders():
    """Occlusion, colour cast and stripes are unreliable without the reference picture:
    they are stored and shown, but open an order only once the view has a reference."""
    def noref(i, minutes, faults):
        return Seen(i, T0 + timedelta(minutes=minutes), True, frozenset(faults), {}, used_reference=False)

    acts = decide_patrol(T0, CH, {1: [noref(2, 30, ["occlusion", "color_cast", "blur"]),
                                      noref(1, 0, ["occlusion", "color_cast", "blur"])]}, [])
    assert [a.fault for a in acts] == ["blur"]
    # with the reference the same findings open orders
    acts = decide_patrol(T0, CH, {1: [seen(2, 30, ["occlusion", "color_cast"]), seen(1, 0, ["occlusion", "color_cast"])]},
                         [])
    assert sorted(a.fault for a in acts) == ["color_cast", "occlusion"]
    # a site may trust more faults without a reference
    acts = decide_patrol(T0, CH, {1: [noref(2, 30, ["occlusion"]), noref(1, 0, ["occlusion"])]}, [],
                         Policy(without_reference=frozenset({"occlusion"})))
    assert [a.fault for a in acts] == ["occlusion"]


def test_a_preset_tour_takes_the_presets_named_by_numbers_in_order():
    from pathlib import Path

    from lookout.health.patrol import tour_of

    refs = [("", Path("fixed.jpg")), ("12", Path("b.jpg")), ("2", Path("a.jpg")), ("观景台", Path("c.jpg")),
            ("256", Path("d.jpg")), ("07", Path("e.jpg")), ("1", Path("h.jpg"))]
    assert tour_of(refs) == ((1, Path("h.jpg")), (2, Path("a.jpg")), (12, Path("b.jpg")))
    assert tour_of([("", Path("fixed.jpg"))]) == ()


def test_fault_thresholds_are_configurable_and_checked(monkeypatch):
    monkeypatch.setenv("LOOKOUT_PATROL_VQD_THRESHOLDS", '{"blur": 65, "noise": 80}')
    cfg = PatrolConfig()
    assert cfg.vqd.threshold("blur") == 65 and cfg.vqd.threshold("noise") == 80 and cfg.vqd.threshold("frozen") == 50
    monkeypatch.setenv("LOOKOUT_PATROL_VQD_THRESHOLDS", '{"frozen": null}')  # not judged anywhere
    assert PatrolConfig().vqd.threshold("frozen") == float("inf") and PatrolConfig().vqd.threshold("blur") == 50
    for bad, what in (('{"snow": 60}', "'snow': no such fault"), ('{"blur": -1}', "blur: -1")):
        monkeypatch.setenv("LOOKOUT_PATROL_VQD_THRESHOLDS", bad)
        with pytest.raises(ValueError, match=what):
            PatrolConfig()


def test_the_preset_tour_runs_only_in_its_hours():
    from lookout.health.patrol import touring_now, tour_window

    at = lambda h: datetime(2026, 12, 5, h, 30)  # noqa: E731
    assert all(touring_now("", at(h)) for h in range(24))
    assert [h for h in range(24) if touring_now("01-05", at(h))] == [1, 2, 3, 4]
    assert [h for h in range(24) if touring_now("22-02", at(h))] == [0, 1, 22, 23]
    for bad in ("1", "01-01", "25-03", "a-b"):
        with pytest.raises(ValueError, match="preset tour hours"):
            tour_window(bad)
    with pytest.raises(ValueError, match="preset tour hours"):
        PatrolConfig(preset_tour_hours="9-9")
