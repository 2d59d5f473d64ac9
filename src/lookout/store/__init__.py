"""Persistence: SQLAlchemy 2 engine and sessions, the declarative base, Alembic migrations."""
