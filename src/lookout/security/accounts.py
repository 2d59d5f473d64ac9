"""Account administration (used by the CLI, the API and the demo)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from lookout.security import audit
from lookout.security.models import ROLES, ApiKey, User
from lookout.security.passwords import hash_password
from lookout.security.secrets import new_api_key


def add_user(session: Session, actor: str, username: str, password: str, role: str = "viewer", *,
             display_name: str | None = None, scope_org_id: int | None = None, scope_site_id: int | None = None,
             clearance: int = 3, email: str | None = None, phone: str | None = None) -> User:
    if role not in ROLES:
        raise ValueError(f"role: '{role}' must be one of {', '.join(ROLES)}")
    if clearance not in (1, 2, 3):
        raise ValueError("clearance: must be 1 (police), 2 (government) or 3 (social)")
    if role == "site_manager" and scope_site_id is None:
        raise ValueError("scope_site_id: a site manager must be given a site")
    if session.execute(select(User).where(User.username == username)).scalar_one_or_none():
        raise ValueError(f"username: '{username}' already exists")
    user = User(username=username, password_hash=hash_password(password), role=role, display_name=display_name,
                scope_org_id=scope_org_id, scope_site_id=scope_site_id, clearance=clearance, email=email, phone=phone)
    session.add(user)
    session.flush()
    audit.record(session, actor, "create", "user", user.id, None, audit.snapshot(user))
    return user


def set_password(session: Session, actor: str, user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    session.flush()
    audit.record(session, actor, "update", "user", user.id, None, {"password": "changed"})


def issue_api_key(session: Session, actor: str, name: str, site_id: int) -> tuple[ApiKey, str]:
    """A new key for one site's counters; the plain key is returned once and never stored."""
    key, prefix, digest = new_api_key()
    row = ApiKey(name=name, prefix=prefix, key_hash=digest, site_id=site_id, created_by=actor)
    session.add(row)
    session.flush()
    audit.record(session, actor, "create", "api_key", row.id, None, {"name": name, "prefix": prefix, "site_id": site_id})
    return row, key
