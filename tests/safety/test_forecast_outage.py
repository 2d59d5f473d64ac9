from datetime import datetime

import numpy as np
import pytest

from lookout.safety.forecast import HolidayCalendar, HourlySeries, fit, mape_pairs
from lookout.safety.forecast_outage import OFF, OutageRule, collapsed_hours, feature_values

WEEK = 168
DAY_SCALE = np.array([1.0, 1.0, 1.0, 1.0, 1.1, 0.7, 0.5])  # Monday … Sunday


def normal_counts(days: int, seed: int = 3) -> np.ndarray:
    """Hourly counts from a Monday midnight: a midday peak, quieter weekends, 10 % noise."""
    h = np.arange(24)
    profile = 40 + 460 * np.exp(-(((h - 13) / 4.0) ** 2))
    rng = np.random.default_rng(seed)
    v = np.concatenate([profile * DAY_SCALE[d % 7] for d in range(days)])
    return np.round(v * rng.lognormal(0, 0.1, v.size))


def with_outage(v: np.ndarray, first_day: int, days: int, level: float = 0.01) -> np.ndarray:
    out = v.copy()
    out[first_day * 24:(first_day + days) * 24] = np.round(out[first_day * 24:(first_day + days) * 24] * level)
    return out


def day_flags(mask: np.ndarray) -> np.ndarray:
    return mask.reshape(-1, 24).all(axis=1)


def test_collapsed_days_are_found_from_earlier_days_only():
    v = with_outage(normal_counts(70), 42, 5)  # a counter at 1 % for five days in week 7
    v[30 * 24:31 * 24] *= 0.15  # a holiday at 15 % of the usual level is real
    v[20 * 24:21 * 24] *= 0.5  # so is a quiet day at half the level
    holidays = np.zeros(70, dtype=bool)
    holidays[30] = True
    rule = OutageRule(day_frac=0.2)
    flags = day_flags(collapsed_hours(v, 0, rule, holidays))
    assert list(np.flatnonzero(flags)) == [42, 43, 44, 45, 46]
    assert not day_flags(collapsed_hours(v, 0, rule))[20]
    assert day_flags(collapsed_hours(v, 0, rule))[30]  # without the holiday it would count as an outage
    for end in (43 * 24, 45 * 24 + 13, 60 * 24):  # a prefix is judged the same: nothing later is used
        assert np.array_equal(collapsed_hours(v[:end], 0, rule, holidays), collapsed_hours(v, 0, rule, holidays)[:end])
    assert not collapsed_hours(v[:50 * 24 + 9], 0, rule, holidays)[-9:].any()  # a normal morning so far is not an outage
    shifted = collapsed_hours(v[5:], 5, rule, holidays)  # series starting at 05:00
    assert np.array_equal(shifted, collapsed_hours(v, 0, rule, holidays)[5:])


def test_a_drop_that_lasts_becomes_the_new_level():
    v = with_outage(normal_counts(140), 56, 84, level=0.1)  # 8 normal weeks, then 12 weeks at 10 %
    flags = day_flags(collapsed_hours(v, 0, OutageRule(day_frac=0.2)))
    assert flags[56:56 + 7 * 6].all()  # the first six weeks are an outage
    assert not flags[-14:].any()  # after eight weeks the reference is the new level


def test_dead_hours_inside_an_ordinary_day():
    v = normal_counts(35)
    v[30 * 24 + 12:30 * 24 + 17] = 0  # the counter stops from 12:00 to 16:59
    assert not collapsed_hours(v, 0, OutageRule(day_frac=0.2)).any()
    mask = collapsed_hours(v, 0, OutageRule(day_frac=0.2, zero_run=4))
    assert list(np.flatnonzero(mask)) == list(range(30 * 24 + 12, 30 * 24 + 17))


def test_feature_values_hide_or_replace_collapsed_hours():
    v = np.arange(3 * WEEK, dtype=float)
    mask = np.zeros_like(v, dtype=bool)
    mask[2 * WEEK + 5] = mask[WEEK + 5] = True  # the same hour two weeks running
    assert np.isnan(feature_values(v, mask, "nan")[2 * WEEK + 5])
    filled = feature_values(v, mask, "fill")
    assert filled[2 * WEEK + 5] == 5 and filled[WEEK + 5] == 5 and filled[7] == 7
    assert feature_values(v, mask, "raw") is v


def test_outage_settings_parse():
    assert OutageRule.parse("off") == OFF and not OFF.active
    assert OutageRule.parse("fill@0.35+z4") == OutageRule(day_frac=0.35, zero_run=4, lags="fill")
    assert OutageRule.parse("drop@0.2").lags == "raw" and OutageRule.parse("drop@0.2").drop_targets
    assert OutageRule.parse("nan@0.3").label() == "nan@0.3"
    with pytest.raises(ValueError, match="outage setting"):
        OutageRule.parse("mask")


def test_forecast_right_after_an_outage():
    """Two outages in the training data and one that ends at the forecast origin: with the
    collapsed days left out and hidden from the lags, the forecast is the ordinary level."""
    days = 203
    v = normal_counts(days, seed=5)
    for first, n in ((70, 10), (130, 12), (186, 10)):
        v = with_outage(v, first, n)
    s = HourlySeries(datetime(2024, 9, 2), v)  # a Monday; no New Zealand public holiday in the outages
    origin, horizon = 196 * 24, 72
    cal = HolidayCalendar("NZ")
    actual = v[origin:origin + horizon]

    def error(outage: OutageRule | None) -> float:
        model = fit(s, until=origin, horizon=horizon, country="NZ", cal=cal, outage=outage, seeds=1)
        return mape_pairs(actual, model.predict(s, origin, cal), actual)[0]

    assert error(OutageRule.parse("nan@0.2")) < 0.2
    assert error(OutageRule.parse("fill@0.2")) < 0.2
    assert error(OFF) > 0.5  # the collapsed week is read as the level to expect


def test_outage_episodes_need_a_recovery():
    from lookout.safety.forecast_outage import outage_episodes

    v = normal_counts(140)
    v = with_outage(v, 60, 6, level=0.3)  # six days at 30 %, then back to normal
    v = with_outage(v, 100, 2, level=0.1)  # two days only: not an episode
    eps = outage_episodes(v, 0)
    assert [(e.first, e.last, e.low_days) for e in eps] == [(60, 65, 6)]
    assert 0.9 < eps[0].recovery < 1.1
    gap = with_outage(with_outage(normal_counts(140), 60, 3, level=0.3), 65, 3, level=0.3)  # two ordinary days between
    assert [(e.first, e.last, e.low_days) for e in outage_episodes(gap, 0)] == [(60, 67, 6)]
    stays_low = with_outage(normal_counts(140), 60, 80, level=0.3)  # never comes back
    assert outage_episodes(stays_low, 0) == []


def test_recovery_inputs_use_earlier_hours_only():
    from lookout.safety.forecast_outage import recovery_inputs

    v = with_outage(normal_counts(84), 63, 4, level=0.1)  # days 63–66 at 10 %
    rule = OutageRule(recovery_features=True)
    origins = np.array([63 * 24, 65 * 24, 67 * 24, 70 * 24, 75 * 24])
    share, last3 = recovery_inputs(v[:75 * 24], 0, origins, rule)
    assert share[0] == 0 and share[1] == pytest.approx(2 / 7) and share[2] == pytest.approx(4 / 7)
    assert share[4] == 0  # a week after the last low day
    assert abs(last3[0]) < 0.15 and last3[2] < -1.5 and abs(last3[4]) < 0.15
    full_share, full_last3 = recovery_inputs(v, 0, origins, rule)  # later data changes nothing
    assert np.allclose(share, full_share) and np.allclose(last3, full_last3)


def test_lag_only_and_recovery_settings_parse():
    r = OutageRule.parse("lagfill@0.5")
    assert r == OutageRule(day_frac=0.5, lags="fill", drop_targets=False) and r.label() == "lagfill@0.5"
    assert OutageRule.parse("rec") == OutageRule(drop_targets=False, lags="raw", recovery_features=True)
    assert OutageRule.parse("rec").label() == "off+rec" and OutageRule.parse("off+rec").active
    assert OutageRule.parse("fill@0.2+rec").label() == "fill@0.2+rec"
    assert OutageRule.parse("fill@0.2+z4+rec") == OutageRule(zero_run=4, lags="fill", recovery_features=True)


def test_recovery_features_reach_the_model():
    v = with_outage(normal_counts(120, seed=4), 80, 8, level=0.05)
    s = HourlySeries(datetime(2024, 9, 2), v)
    cal = HolidayCalendar("NZ")
    model = fit(s, until=100 * 24, horizon=24, country="NZ", cal=cal, outage=OutageRule.parse("rec"), seeds=1)
    assert model.features[-2:] == ("low_share_7d", "last3d_vs_usual")
    assert model.predict(s, 100 * 24, cal).shape == (24,)
    assert model.predict(s, 100 * 24 + 5, cal).shape == (24,)  # an origin that is not a midnight
