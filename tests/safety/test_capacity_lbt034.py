import pytest

from lookout.safety.capacity import CapacityError, Spot, daily, instantaneous, opening_minutes, site_capacity


def test_c1_c2_by_lbt034():
    spots = [Spot("core", 2000, 2.0), Spot("walkway", 900, 1.5), Spot("lawn", 10000, 100)]
    c1 = instantaneous(spots)
    assert c1 == 1000 + 600 + 100
    # open 08:00-18:00 (600 min), average visit 180 min -> Int(600/180) = 3 turns
    assert daily(c1, opening_minutes("08:00", "18:00"), 180) == 5100


def test_approved_maximum_overrides_computed():
    cap = site_capacity(
        [Spot("core", 2000, 2.0)], opening="09:00", closing="01:00", avg_visit_min=120, approved_daily=5000
    )
    assert cap.c1_computed == 1000
    assert cap.turnover == 8  # 16 h open, past midnight
    assert cap.c2_computed == 8000
    assert cap.daily_max == 5000 and cap.daily_source == "approved"
    assert cap.instant_max == 1000 and cap.instant_source == "computed"


@pytest.mark.parametrize(
    "spot, msg",
    [(Spot("a", 100, 0), "per_capita_m2"), (Spot("b", -1, 2), "area_m2")],
)
def test_bad_figures_are_named(spot, msg):
    with pytest.raises(CapacityError, match=msg):
        instantaneous([spot])


def test_bad_time_is_named():
    with pytest.raises(CapacityError, match="25:00"):
        opening_minutes("25:00", "18:00")
