from sqlalchemy import inspect

from lookout.store.db import get_engine
from lookout.store.migrate import alembic_config


def test_migrations_create_the_schema(db_url):
    tables = set(inspect(get_engine(db_url)).get_table_names())
    assert {"org_units", "sites", "devices", "channels", "zones", "counting_lines", "users", "audit_log"} <= tables


def test_models_match_migrations(db_url):
    """Every model change comes with its migration (scripts/new-migration)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from lookout.store.models import metadata

    with get_engine(db_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), metadata)
    assert diff == [], f"models differ from migrations: {diff}"
    assert alembic_config(db_url)
