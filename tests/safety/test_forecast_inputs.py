"""Daily forecast inputs (weather, events): validation, storage, and a forecast that uses them."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from lookout.safety import forecast_inputs as fi


def test_validation_names_the_row_and_field():
    ok = fi.validate([{"day": "2026-12-05", "name": "event", "value": 1}, {"day": "2026-12-05", "name": "rain_mm", "value": 12.5}])
    assert ok == [(date(2026, 12, 5), "event", 1.0), (date(2026, 12, 5), "rain_mm", 12.5)]
    bad = [
        ([{"day": "2026-13-01", "name": "event", "value": 1}], "row 1: day '2026-13-01'"),
        ([{"day": "2026-12-05", "name": "event", "value": 1}, {"day": "2026-12-06", "name": "snow", "value": 1}],
         "row 2: name 'snow'"),
        ([{"day": "2026-12-05", "name": "rain_mm", "value": -3}], "row 1: value -3 of rain_mm is outside 0…500"),
        ([{"day": "2026-12-05", "name": "temp_max_c", "value": "hot"}], "row 1: value 'hot'"),
        ([{"day": "2026-12-05", "name": "event", "value": True}], "is not a number"),
        ([{"day": "2026-12-05", "name": "event", "value": 1}, {"day": "2026-12-05", "name": "event", "value": 2}],
         "row 2: event of 2026-12-05 is given twice"),
    ]
    for rows, msg in bad:
        with pytest.raises(fi.ForecastInputError, match=msg):
            fi.validate(rows)


def test_an_input_enters_the_model_only_when_it_can_teach_and_be_used():
    d0 = date(2026, 10, 1)
    days = [d0 + timedelta(days=k) for k in range(40)]
    until, ahead = date(2026, 11, 10), [date(2026, 11, 10), date(2026, 11, 11)]
    rain = {d: 1.0 for d in days} | {d: 5.0 for d in ahead}
    assert set(fi.usable({"rain_mm": rain}, until, ahead)) == {"rain_mm"}
    assert fi.usable({"rain_mm": {d: 1.0 for d in days}}, until, ahead) == {}  # no value for the days ahead
    assert fi.usable({"rain_mm": {d: 1.0 for d in days[:10]} | {d: 5.0 for d in ahead}}, until, ahead) == {}  # too few
    one_event = {days[3]: 1.0}
    assert fi.usable({"event": one_event}, until, ahead) == {}  # one past event teaches nothing
    two = fi.usable({"event": {days[3]: 1.0, days[20]: 2.0, ahead[1]: 1.0}}, until, ahead)
    assert two["event"](datetime(2026, 11, 11, 10)) == 1.0 and two["event"](datetime(2026, 11, 10, 10)) == 0.0
    assert np.isnan(fi.usable({"rain_mm": rain}, until, ahead)["rain_mm"](datetime(2025, 1, 1, 9)))


def _history(db_url, site_id: int, tz: ZoneInfo, first: date, days: int, event_days: set[date]) -> None:
    """Opening hours 8–17 with a midday peak; twice the visitors on event days."""
    from lookout.safety.models import HourlyHistory
    from lookout.store.db import session_scope

    rng = np.random.default_rng(3)
    with session_scope(db_url) as s:
        for k in range(days):
            d = first + timedelta(days=k)
            gain = 2.0 if d in event_days else 1.0
            for h in range(8, 18):
                base = 100 + 60 * np.sin(np.pi * (h - 8) / 10)
                n = int(rng.poisson(base * gain * (1.15 if d.weekday() >= 5 else 1.0)))
                start = datetime(d.year, d.month, d.day, h, tzinfo=tz).astimezone(timezone.utc)
                s.add(HourlyHistory(site_id=site_id, hour_start=start, arrivals=n, peak_present=n))


@pytest.mark.db
def test_a_planned_event_raises_the_site_forecast(db_url, safety_site):
    from lookout.safety import forecast
    from lookout.store.db import session_scope

    site_id = safety_site()["site_id"]
    tz = ZoneInfo("Asia/Shanghai")
    first, today = date(2026, 9, 1), date(2026, 11, 30)
    events = {first + timedelta(days=k) for k in (20, 33, 47, 58, 71, 83)}
    _history(db_url, site_id, tz, first, (today - first).days, events)
    tomorrow = today + timedelta(days=1)
    now = datetime(today.year, today.month, today.day, 23, 30, tzinfo=tz)
    rows = [{"day": d.isoformat(), "name": "event", "value": 1} for d in sorted(events)]
    forecast._SITE_MODELS.clear()
    with session_scope(db_url) as s:
        plain = forecast.forecast_for_site(s, site_id, hours=24, now=now)
        assert plain["inputs"] == []
        fi.store(s, site_id, fi.validate(rows), "manager", now)  # past events only: nothing ahead yet
        past_only = forecast.forecast_for_site(s, site_id, hours=24, now=now)
        fi.store(s, site_id, fi.validate([{"day": tomorrow.isoformat(), "name": "event", "value": 1}]), "manager", now)
        with_event = forecast.forecast_for_site(s, site_id, hours=24, now=now)
    assert past_only["inputs"] == ["event"] and with_event["inputs"] == ["event"]
    total = {k: sum(h["arrivals"] for h in fc["hours"]) for k, fc in
             (("plain", plain), ("past_only", past_only), ("event", with_event))}
    ordinary = sum(100 + 60 * np.sin(np.pi * (h - 8) / 10) for h in range(8, 18))  # tomorrow is a Tuesday
    assert total["event"] > 1.5 * total["past_only"], total
    # knowing which past days were events, the model no longer spreads their crowds over ordinary days
    assert abs(total["past_only"] / ordinary - 1) < 0.1, (total, ordinary)
    assert abs(total["past_only"] - ordinary) < abs(total["plain"] - ordinary), (total, ordinary)


@pytest.mark.db
def test_api_stores_all_rows_or_none_and_audits(data_dir, db_url, safety_site):
    from sqlalchemy import select

    from foundation_helpers import login, make_client
    from lookout.safety.models import ForecastInput
    from lookout.security import accounts
    from lookout.security.models import AuditRecord
    from lookout.store.db import session_scope

    c = make_client(data_dir)
    site_id = safety_site()["site_id"]
    with session_scope(db_url) as s:
        accounts.add_user(s, "t", "mgr", "pw-123456789", "site_manager", clearance=3, scope_site_id=site_id)
    h = login(c, "mgr", "pw-123456789")
    url = f"/api/v1/sites/{site_id}/forecast-inputs"
    r = c.put(url, json=[{"day": "2026-12-05", "name": "rain_mm", "value": 3}, {"day": "2026-12-06", "name": "wind", "value": 1}],
              headers=h)
    assert r.status_code == 422 and "row 2: name 'wind'" in r.json()["detail"]
    with session_scope(db_url) as s:
        assert s.scalars(select(ForecastInput)).first() is None  # row 1 was not stored either
    r = c.put(url, json=[{"day": "2026-12-05", "name": "rain_mm", "value": 3}, {"day": "2026-12-06", "name": "event", "value": 1}],
              headers=h)
    assert r.status_code == 200 and r.json()["changed"] == 2
    assert c.put(url, json=[{"day": "2026-12-05", "name": "rain_mm", "value": 3}], headers=h).json()["changed"] == 0
    got = c.get(url, params={"start": "2026-12-06"}, headers=h).json()
    assert [(x["day"], x["name"], x["value"]) for x in got["rows"]] == [("2026-12-06", "event", 1.0)]
    with session_scope(db_url) as s:
        audits = s.scalars(select(AuditRecord).where(AuditRecord.action == "set_forecast_inputs")).all()
    assert len(audits) == 1 and audits[0].actor == "mgr"
