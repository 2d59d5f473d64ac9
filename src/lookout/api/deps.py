"""FastAPI dependencies: settings, a database session per request, the current account, API keys."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, Header, HTTPException, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from lookout.security.models import ApiKey, User
from lookout.security.secrets import hash_api_key, read_token
from lookout.settings import Settings
from lookout.store.db import session_scope

SESSION_COOKIE = "lookout_session"


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back on error."""
    with session_scope(request.app.state.settings.db_url) as session:
        yield session


def token_from(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.cookies.get(SESSION_COOKIE) or request.query_params.get("token")


def user_from_token(session: Session, secret: str, token: str | None) -> User | None:
    if not token:
        return None
    uid = read_token(secret, token)
    if uid is None:
        return None
    user = session.get(User, uid)
    return user if user is not None and user.active else None


def current_user(request: Request, db: Session = Depends(get_db)) -> User:
    user = user_from_token(db, request.app.state.secret, token_from(request))
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not signed in (send a Bearer token or the session cookie)",
                            headers={"WWW-Authenticate": "Bearer"})
    return user


def require_roles(*roles: str):
    def dep(user: User = Depends(current_user)) -> User:
        if not user.has_role(roles):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role '{user.role}' may not do this")
        return user

    return dep


def api_key(db: Session = Depends(get_db), x_api_key: str | None = Header(default=None)) -> ApiKey:
    if not x_api_key:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "X-API-Key header is required")
    key = db.execute(select(ApiKey).where(ApiKey.key_hash == hash_api_key(x_api_key))).scalar_one_or_none()
    if key is None or key.revoked:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked API key")
    return key
