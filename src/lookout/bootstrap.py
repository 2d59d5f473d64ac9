"""`lookout init`: the data folder, the secret key, the database schema, the first administrator."""

from __future__ import annotations

from sqlalchemy import select

from lookout.security import accounts
from lookout.security.models import User
from lookout.security.secrets import ensure_secret_file
from lookout.settings import Settings
from lookout.store.db import session_scope
from lookout.store.migrate import upgrade


def initialise(settings: Settings, admin_user: str | None = None, admin_password: str | None = None) -> dict:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    created_secret = False
    if not settings.secret_key and not settings.secret_file.exists():
        ensure_secret_file(settings.secret_file)
        created_secret = True
    upgrade(settings.db_url)
    admin_created = False
    if admin_user and admin_password:
        with session_scope(settings.db_url) as s:
            if s.execute(select(User).where(User.username == admin_user)).scalar_one_or_none() is None:
                accounts.add_user(s, "init", admin_user, admin_password, "admin", clearance=1,
                                  display_name="管理员")
                admin_created = True
    return {"data_dir": str(settings.data_dir.resolve()), "database": settings.db_url.split("@")[-1],
            "secret_created": created_secret, "admin_created": admin_created}


def has_admin(settings: Settings) -> bool:
    with session_scope(settings.db_url) as s:
        return s.execute(select(User.id).where(User.role == "admin").limit(1)).first() is not None
