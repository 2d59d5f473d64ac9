"""Shared fixtures.

Database: every test that asks for ``db_url`` gets a fresh, fully migrated database:
SQLite by default, PostgreSQL when ``LOOKOUT_TEST_DATABASE_URL`` names a server database
(``scripts/test`` runs the suite once each way). Migrations run once into a template;
each test gets a copy (a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from lookout.store import db as store_db  # noqa: E402
from lookout.store.migrate import upgrade

PG_URL = os.environ.get("LOOKOUT_TEST_DATABASE_URL")
os.environ.setdefault("LOOKOUT_ARGON2_TIME_COST", "1")
os.environ.setdefault("LOOKOUT_ARGON2_MEMORY_KIB", "1024")
REPO = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    return Path(os.environ.get("LOOKOUT_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def pets_video() -> Path:
    """The PETS 2009 S2.L1 video (evaluation data, never committed); skips when absent."""
    p = _shared_data_dir() / "pets09-s2l1.avi"
    if not p.exists():
        pytest.skip(f"evaluation video not found at {p} (set LOOKOUT_SHARED_DATA)")
    return p


OPENCV_DOC_VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


@pytest.fixture(scope="session")
def real_footage() -> Path:
    """Real pedestrian footage: the PETS video from the evaluation data, else the same clip as Debian's
    opencv-doc ships it; skips when neither is present."""
    for p in (_shared_data_dir() / "pets09-s2l1.avi", OPENCV_DOC_VIDEO):
        if p.exists():
            return p
    pytest.skip("no real footage (PETS video in LOOKOUT_SHARED_DATA, or Debian's opencv-doc)")


@pytest.fixture(scope="session")
def pets_gt() -> Path:
    p = _shared_data_dir() / "pets09-s2l1-gt.txt"
    if not p.exists():
        pytest.skip(f"ground truth not found at {p} (set LOOKOUT_SHARED_DATA)")
    return p


@pytest.fixture(scope="session")
def _template_db(tmp_path_factory):
    if PG_URL:
        admin = make_url(PG_URL)
        name = f"lookout_tpl_{uuid.uuid4().hex[:8]}"
        eng = create_engine(admin, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        tpl_url = admin.set(database=name).render_as_string(hide_password=False)
        upgrade(tpl_url)
        store_db.dispose_all()
        yield ("pg", name)
        with eng.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        eng.dispose()
    else:
        path = tmp_path_factory.mktemp("tpl") / "template.db"
        upgrade(f"sqlite:///{path}")
        store_db.dispose_all()
        yield ("sqlite", path)


@pytest.fixture
def db_url(_template_db, tmp_path):
    kind, tpl = _template_db
    if kind == "sqlite":
        target = tmp_path / "lookout.db"
        shutil.copy(tpl, target)
        url = f"sqlite:///{target}"
        yield url
        store_db.dispose_all()
        return
    admin = make_url(PG_URL)
    name = f"lookout_t_{uuid.uuid4().hex[:10]}"
    eng = create_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{tpl}"'))
    url = admin.set(database=name).render_as_string(hide_password=False)
    yield url
    store_db.dispose_all()
    with eng.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


@pytest.fixture
def data_dir(tmp_path, monkeypatch, db_url):
    """A data folder for one run, with LOOKOUT_DATA_DIR/LOOKOUT_DATABASE_URL pointing at it."""
    d = tmp_path / "data"
    d.mkdir()
    monkeypatch.setenv("LOOKOUT_DATA_DIR", str(d))
    monkeypatch.setenv("LOOKOUT_DATABASE_URL", db_url)
    monkeypatch.setenv("LOOKOUT_SECRET_KEY", "test-secret-key-0123456789abcdef")
    from lookout.settings import get_settings

    get_settings.cache_clear()
    yield d
    get_settings.cache_clear()


def pytest_collection_modifyitems(config, items):
    """Tests that touch the database are marked `db`: scripts/test runs them again on PostgreSQL."""
    for item in items:
        if "db_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)
