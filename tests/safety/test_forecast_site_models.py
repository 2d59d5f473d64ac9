from datetime import datetime, timedelta, timezone


def test_one_model_per_site_and_day_trained_off_the_request(db_url):
    from lookout.demo import seed
    from lookout.demo.seed import seed_history
    from lookout.safety import forecast
    from lookout.store.db import session_scope

    now = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)  # 10:00 in Chongqing
    with session_scope(db_url) as s:
        seed(s)
        seed_history(s, now)
    forecast._SITE_MODELS.clear()
    assert forecast.warm_site_models(db_url, now) == 2  # both scenic areas have enough history
    day_keys = sorted(forecast._SITE_MODELS)
    # per site, the day's 24-hour model (the site page) and 72-hour model (the API's default)
    assert [k[:2] + (k[3],) for k in day_keys] == [(1, "2026-11-22", 24), (1, "2026-11-22", 72),
                                                   (2, "2026-11-22", 24), (2, "2026-11-22", 72)]
    warmed = dict(forecast._SITE_MODELS)
    with session_scope(db_url) as s:
        first = forecast.forecast_for_site(s, 1, hours=14, now=now)
        later = forecast.forecast_for_site(s, 1, hours=10, now=now + timedelta(hours=4))
        forecast.forecast_for_site(s, 1, hours=72, now=now)
    assert forecast._SITE_MODELS == warmed  # the page's and the API's requests reuse the day's models
    assert len(first["hours"]) == 14 and len(later["hours"]) == 10
    assert first["hours"][4]["ts"] == later["hours"][0]["ts"]
    assert forecast.warm_site_models(db_url, now + timedelta(days=1)) == 2  # a new day, new models
    assert {k[1] for k in forecast._SITE_MODELS} == {"2026-11-23"}  # yesterday's are let go


def test_a_site_model_learns_from_the_other_sites_unless_it_has_inputs(db_url, monkeypatch):
    from lookout.demo import seed
    from lookout.demo.seed import seed_history
    from lookout.registry.models import Site
    from lookout.safety import forecast
    from lookout.safety import forecast_inputs as fi
    from lookout.store.db import session_scope

    now = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)
    with session_scope(db_url) as s:
        seed(s)
        seed_history(s, now)
    seen = []
    real_fit = forecast.fit

    def spy(series, **kw):
        seen.append([p.name for p in kw.get("pool", ())])
        return real_fit(series, **kw)

    monkeypatch.setattr(forecast, "fit", spy)
    forecast._SITE_MODELS.clear()
    with session_scope(db_url) as s:
        forecast.forecast_for_site(s, 1, hours=14, now=now)
        other = s.get(Site, 2).name
        assert seen[-1] == [other]  # the other scenic area with history; the hotel has none
        days = [f"2026-{m:02d}-{d:02d}" for m, d in ((10, 3), (10, 17), (11, 22))]
        fi.store(s, 1, fi.validate([{"day": d, "name": "event", "value": 1} for d in days]), "manager", now)
        fc = forecast.forecast_for_site(s, 1, hours=14, now=now)
    assert fc["inputs"] == ["event"] and seen[-1] == []  # a site's own inputs: its own model
