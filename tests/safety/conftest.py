"""Fixtures for crowd-safety tests: a city → district → site registry on a fresh database."""

from __future__ import annotations

import pytest

from lookout.registry.models import OrgUnit, Site, Zone
from lookout.safety.models import DutyMember, SafetySiteConfig
from lookout.store.db import session_scope


@pytest.fixture
def safety_site(db_url):
    """Returns a function making a site; keyword arguments set Site columns, ``config`` the
    SafetySiteConfig, ``zones`` [(name, area, per_capita)], ``duty`` [(tier, name, webhook)]."""

    def make(config=None, zones=(), duty=(), **site_kw):
        with session_scope(db_url) as s:
            city = OrgUnit(tier="city", name="重庆市", division_code="500000", path="/")
            s.add(city)
            s.flush()
            district = OrgUnit(tier="district", parent_id=city.id, name="渝中区", division_code="500103", path=f"/{city.id}/")
            s.add(district)
            s.flush()
            kw = {"name": "洪崖洞民俗风貌区", "daily_max": 10000, "instant_max": 1000}
            kw.update(site_kw)
            site = Site(org_unit_id=district.id, **kw)
            s.add(site)
            s.flush()
            for name, area, pc in zones:
                s.add(Zone(site_id=site.id, name=name, area_m2=area, per_capita_m2=pc))
            if config is not None:
                s.add(SafetySiteConfig(site_id=site.id, **config))
            for tier, name, hook in duty:
                owner = {"site_id": site.id} if tier == "site" else {"org_unit_id": district.id if tier == "district" else city.id}
                s.add(DutyMember(name=name, webhook_url=hook, **owner))
            return {"site_id": site.id, "district_id": district.id, "city_id": city.id}

    return make
