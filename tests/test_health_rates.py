"""Online-rate arithmetic with a controlled clock: seconds online per window and per local day, group rates
against the 98 % / 95 % targets, networking rate and zone coverage."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from lookout.health.rates import (ChannelFacts, DayOnline, Seconds, daily_online, networking_groups,
                                  online_rate_groups, online_seconds, zone_coverage)

UTC = timezone.utc
SH = ZoneInfo("Asia/Shanghai")


def t(h: float, day: int = 22) -> datetime:
    return datetime(2026, 11, day, tzinfo=UTC) + timedelta(hours=h)


def test_window_before_the_first_change_is_unobserved():
    changes = [(t(2), True), (t(5), False), (t(6), True)]
    s = online_seconds(changes, t(0), t(10))
    assert (s.unknown, s.online, s.offline) == (2 * 3600, 7 * 3600, 1 * 3600)
    assert s.fraction == pytest.approx(7 / 8)


def test_state_at_the_window_start_comes_from_the_last_earlier_change():
    changes = [(t(-30), False), (t(-1), True), (t(3), False)]
    s = online_seconds(changes, t(0), t(4))
    assert (s.online, s.offline, s.unknown) == (3 * 3600, 3600, 0)
    assert online_seconds(changes, t(4), t(4)) == Seconds()


def test_unknown_state_counts_as_unobserved_and_changes_after_the_window_are_ignored():
    changes = [(t(0), True), (t(1), None), (t(2), True), (t(20), False)]
    s = online_seconds(changes, t(0), t(4))
    assert (s.online, s.unknown, s.offline) == (3 * 3600, 3600, 0)


def test_a_faulty_picture_is_online_but_not_normal():
    changes = [(t(0), True, False), (t(2), True, True), (t(5), False), (t(6), True, True), (t(8), True)]
    s = online_seconds(changes, t(1), t(10))
    assert (s.online, s.offline, s.fault) == (8 * 3600, 3600, 5 * 3600)
    assert s.fraction == pytest.approx(8 / 9) and s.normal_fraction == pytest.approx(3 / 9)
    assert online_seconds(changes, t(3), t(4)).fault == 3600  # the state the window opens in is faulty
    (d,) = daily_online(changes, date(2026, 11, 22), date(2026, 11, 22), UTC, t(10))
    assert d.fault_s == 5 * 3600 and d.seconds.normal == 4 * 3600


def test_normal_rate_is_held_to_the_same_targets():
    day = 86400.0
    sec = {1: Seconds(day, 0, 0, 0.03 * day)}  # always online, but 3 % of the day with a faulty picture
    (g,) = online_rate_groups([facts(1, 1, True)], sec, "site")
    assert g["rate"] == 1.0 and g["meets"] is True
    assert g["normal_rate"] == pytest.approx(0.97) and g["key"]["normal_meets"] is False and g["normal_meets"] is False
    (g,) = online_rate_groups([facts(1, 1, False)], sec, "site")
    assert g["industry"]["normal_meets"] is True and g["normal_meets"] is True


def test_local_days_today_cut_at_now():
    # offline from 23:00 to 01:00 Beijing time, across midnight; now is 06:00 on the 23rd (Beijing)
    changes = [(datetime(2026, 11, 21, 0, 0, tzinfo=SH), True), (datetime(2026, 11, 22, 23, 0, tzinfo=SH), False),
               (datetime(2026, 11, 23, 1, 0, tzinfo=SH), True)]
    now = datetime(2026, 11, 23, 6, 0, tzinfo=SH)
    days = daily_online(changes, date(2026, 11, 22), date(2026, 11, 24), SH, now)
    assert [d.day for d in days] == [date(2026, 11, 22), date(2026, 11, 23)]  # the 24th has not begun
    d22, d23 = days
    assert (d22.online_s, d22.offline_s, d22.complete) == (23 * 3600, 3600, True)
    assert d22.fraction == pytest.approx(23 / 24)
    assert (d23.online_s, d23.offline_s, d23.complete) == (5 * 3600, 3600, False)
    assert d23.fraction == pytest.approx(5 / 6)


def test_never_observed_day_has_no_fraction():
    (d,) = daily_online([], date(2026, 11, 22), date(2026, 11, 22), SH, datetime(2026, 11, 30, tzinfo=UTC))
    assert d == DayOnline(date(2026, 11, 22), 0.0, 0.0, 86400.0, True) and d.fraction is None


def facts(cid: int, site: int, key: bool, **kw) -> ChannelFacts:
    return ChannelFacts(cid, site, f"site{site}", 10, "district", kw.get("category", "scenic_area"),
                        kw.get("rc", 3), key, kw.get("has_url", True), kw.get("zone"))


def test_group_rates_split_key_and_industry_against_their_targets():
    day = 86400.0
    fs = [facts(1, 1, True), facts(2, 1, True), facts(3, 1, False), facts(4, 2, False)]
    sec = {1: Seconds(day, 0), 2: Seconds(0.97 * day, 0.03 * day), 3: Seconds(0.96 * day, 0.04 * day),
           4: Seconds(0.94 * day, 0.06 * day)}
    by_site = {g["id"]: g for g in online_rate_groups(fs, sec, "site")}
    s1 = by_site[1]
    assert s1["channels"] == 3
    assert s1["key"]["rate"] == pytest.approx(0.985, abs=1e-5) and s1["key"]["target"] == 0.98 and s1["key"]["meets"]
    assert s1["industry"]["rate"] == pytest.approx(0.96) and s1["industry"]["meets"]
    assert s1["rate"] == pytest.approx((1 + 0.97 + 0.96) / 3, abs=1e-5) and s1["meets"] is True
    s2 = by_site[2]
    assert s2["key"]["channels"] == 0 and s2["industry"]["meets"] is False and s2["meets"] is False
    (everything,) = online_rate_groups(fs, sec, "district")
    assert everything["channels"] == 4 and everything["rate"] == pytest.approx((1 + 0.97 + 0.96 + 0.94) / 4, abs=1e-5)


def test_key_channels_below_98_fail_even_above_95():
    sec = {1: Seconds(0.97, 0.03)}
    (g,) = online_rate_groups([facts(1, 1, True)], sec, "site")
    assert g["rate"] == pytest.approx(0.97) and g["meets"] is False
    (g,) = online_rate_groups([facts(1, 1, False)], sec, "site")
    assert g["meets"] is True


def test_unobserved_channel_counts_but_gives_no_rate():
    (g,) = online_rate_groups([facts(1, 1, False)], {}, "resource_class")
    assert g["channels"] == 1 and g["rate"] is None and g["meets"] is None
    with pytest.raises(ValueError, match="unknown grouping"):
        online_rate_groups([facts(1, 1, False)], {}, "colour")


def test_networking_rate_and_zone_coverage():
    fs = [facts(1, 1, False, zone=100), facts(2, 1, False, has_url=False, zone=101), facts(3, 1, False, zone=101),
          facts(4, 2, False, category="hotel")]
    seen = {1, 2, 4}  # channel 2 was seen online (by GB/T 28181) but has no stream URL
    by_site = {g["id"]: g for g in networking_groups(fs, seen, "site")}
    assert (by_site[1]["ledger"], by_site[1]["with_url"], by_site[1]["networked"]) == (3, 2, 1)
    assert by_site[1]["rate"] == pytest.approx(1 / 3, abs=1e-5) and by_site[2]["rate"] == 1.0
    by_cat = {g["id"]: g["rate"] for g in networking_groups(fs, seen, "category")}
    assert by_cat == {"hotel": 1.0, "scenic_area": pytest.approx(1 / 3, abs=1e-5)}
    cov = zone_coverage([(1, 100), (1, 101), (1, 102)], fs, seen)
    assert cov[1] == {"zones": 3, "covered": 1, "rate": pytest.approx(1 / 3, abs=1e-5)}
