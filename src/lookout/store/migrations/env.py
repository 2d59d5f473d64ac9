"""Alembic environment: the URL comes from the caller (lookout.store.migrate) or the settings."""

from __future__ import annotations

from alembic import context

from lookout.store.db import get_engine
from lookout.store.models import metadata

config = context.config


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from lookout.settings import get_settings

    return get_settings().db_url


def run_migrations_online() -> None:
    engine = get_engine(_url())
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
