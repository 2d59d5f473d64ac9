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


def test_preset_migration_downgrades_to_each_channels_main_reference(db_url):
    """Going back before presets keeps one reference per channel: the fixed view, else the first preset."""
    from datetime import datetime, timezone

    from alembic import command
    from sqlalchemy import select, text

    from lookout import demo
    from lookout.health.models import ChannelReference
    from lookout.registry.models import Channel
    from lookout.store.db import session_scope

    with session_scope(db_url) as s:
        demo.seed(s)
        a, b = s.execute(select(Channel.id).order_by(Channel.id).limit(2)).scalars().all()
        at = datetime(2026, 12, 5, tzinfo=timezone.utc)
        for cid, preset in ((a, ""), (a, "2"), (a, "1"), (b, "east"), (b, "b-west")):
            s.add(ChannelReference(channel_id=cid, preset=preset, path=f"r/{cid}-{preset}.jpg", taken_at=at, taken_by="om"))
    command.downgrade(alembic_config(db_url), "01008079f28a")
    with get_engine(db_url).connect() as conn:
        kept = sorted(conn.execute(text("SELECT channel_id, path FROM channel_references")).all())
    assert kept == [(a, f"r/{a}-.jpg"), (b, f"r/{b}-b-west.jpg")]
