"""Sign-in, accounts, API keys and the audit log over REST."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from lookout.api.crud import paginate
from lookout.api.deps import SESSION_COOKIE, current_user, get_db, require_roles
from lookout.registry.models import Site
from lookout.security import accounts, audit, scope
from lookout.security.models import ROLES, ApiKey, AuditRecord, User
from lookout.security.passwords import verify_password
from lookout.security.secrets import make_token

router = APIRouter(tags=["accounts"])
Role = Literal[ROLES]  # type: ignore[valid-type]


class LoginIn(BaseModel):
    username: str
    password: str


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    display_name: str | None
    role: str
    scope_org_id: int | None
    scope_site_id: int | None
    clearance: int
    email: str | None
    phone: str | None
    language: str | None
    active: bool


class UserIn(BaseModel):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[\w.@-]+$")
    password: str = Field(min_length=6)
    role: Role = "viewer"
    display_name: str | None = None
    scope_org_id: int | None = None
    scope_site_id: int | None = None
    clearance: Literal[1, 2, 3] = 3
    email: str | None = None
    phone: str | None = None


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    site_id: int


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    ts: datetime
    actor: str
    action: str
    entity: str
    entity_id: str | None
    before: dict | None
    after: dict | None
    hash: str


@router.post("/auth/login")
def login(body: LoginIn, request: Request, response: Response, db: Session = Depends(get_db)):
    client = request.client.host if request.client else "?"
    wait = request.app.state.login_limiter.hit(f"{client}|{body.username}")
    if wait:
        raise HTTPException(429, f"too many sign-in attempts; try again in {int(wait) + 1} s",
                            headers={"Retry-After": str(int(wait) + 1)})
    user = db.execute(select(User).where(User.username == body.username)).scalar_one_or_none()
    if user is None or not user.active or not verify_password(user.password_hash, body.password):
        audit.record(db, body.username[:64], "login_failed", "user", None, None, {"client": client})
        db.commit()
        raise HTTPException(401, "wrong user name or password")
    request.app.state.login_limiter.reset(f"{client}|{body.username}")
    token = make_token(request.app.state.secret, user.id)
    audit.record(db, user.username, "login", "user", user.id, None, {"client": client})
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", max_age=12 * 3600)
    return {"token": token, "user": UserOut.model_validate(user)}


@router.post("/auth/logout", status_code=204, response_class=Response)
def logout(response: Response):
    response.delete_cookie(SESSION_COOKIE)
    return Response(status_code=204, headers=response.headers)


@router.get("/auth/me", response_model=UserOut)
def me(user: User = Depends(current_user)):
    return user


@router.get("/users")
def list_users(page: int = Query(1, ge=1), page_size: int = Query(50, ge=1, le=500),
               db: Session = Depends(get_db), user: User = Depends(require_roles())):
    return paginate(db, select(User).order_by(User.id), page, page_size, UserOut.model_validate)


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, db: Session = Depends(get_db), user: User = Depends(require_roles())):
    try:
        return accounts.add_user(db, user.username, **body.model_dump())
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.post("/api-keys", status_code=201)
def create_api_key(body: ApiKeyIn, db: Session = Depends(get_db),
                   user: User = Depends(require_roles("site_manager"))):
    site = db.execute(scope.site_filter(select(Site).where(Site.id == body.site_id), user)).scalar_one_or_none()
    if site is None:
        raise HTTPException(404, f"site {body.site_id} not found")
    row, key = accounts.issue_api_key(db, user.username, body.name, site.id)
    return {"id": row.id, "name": row.name, "site_id": row.site_id, "key": key}


@router.delete("/api-keys/{key_id}", status_code=204, response_class=Response)
def revoke_api_key(key_id: int, db: Session = Depends(get_db), user: User = Depends(require_roles("site_manager"))):
    row = db.execute(scope.site_filter(select(ApiKey).where(ApiKey.id == key_id), user, ApiKey.site_id)).scalar_one_or_none()
    if row is None:
        raise HTTPException(404, f"API key {key_id} not found")
    row.revoked = True
    audit.record(db, user.username, "revoke", "api_key", row.id, {"revoked": False}, {"revoked": True})
    return Response(status_code=204)


@router.get("/audit")
def list_audit(page: int = Query(1, ge=1), page_size: int = Query(50, ge=1, le=500), entity: str | None = None,
               actor: str | None = None, db: Session = Depends(get_db),
               user: User = Depends(require_roles("official"))):
    stmt = select(AuditRecord).order_by(AuditRecord.id.desc())
    if entity:
        stmt = stmt.where(AuditRecord.entity == entity)
    if actor:
        stmt = stmt.where(AuditRecord.actor == actor)
    return paginate(db, stmt, page, page_size, AuditOut.model_validate)


@router.get("/audit/verify")
def verify_audit(db: Session = Depends(get_db), user: User = Depends(require_roles("official"))):
    r = audit.verify(db)
    return {"ok": r.ok, "checked": r.checked, "first_broken_id": r.first_broken_id, "reason": r.reason}
