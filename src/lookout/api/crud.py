"""One way to expose a table over REST: list (paged, filtered, scoped), read, create, update, delete.

Scoping is applied to every query, so an out-of-scope id answers 404 exactly like a missing one.
Every write goes through registry.service (audited) in the request's transaction.
"""


from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lookout.api.deps import current_user, get_db
from lookout.registry import service
from lookout.security.models import User


class Page(BaseModel):
    items: list[Any]
    total: int
    page: int
    page_size: int


def paginate(db: Session, stmt: Select, page: int, page_size: int, to_out: Callable[[Any], Any]) -> dict:
    total = db.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    rows = db.execute(stmt.limit(page_size).offset((page - 1) * page_size)).scalars().all()
    return {"items": [to_out(r) for r in rows], "total": total, "page": page, "page_size": page_size}


def crud_router(
    *, model: type, entity: str, path: str, out: type[BaseModel], create: type[BaseModel], patch: type[BaseModel],
    scope: Callable[[Select, User], Select], filters: Callable[[Select, dict[str, Any]], Select],
    filter_params: Callable[..., dict[str, Any]],
    check_write: Callable[[Session, User, dict[str, Any], bool], dict[str, Any]],
    write_roles: tuple[str, ...], order_by: Any, tags: list[str],
    creator: Callable[[Session, str, dict[str, Any]], Any] | None = None,
) -> APIRouter:
    router = APIRouter(prefix=path, tags=tags)

    def to_out(obj: Any) -> Any:
        return out.model_validate(obj, from_attributes=True)

    def get_scoped(db: Session, user: User, obj_id: int) -> Any:
        obj = db.execute(scope(select(model).where(model.id == obj_id), user)).scalar_one_or_none()
        if obj is None:
            raise HTTPException(404, f"{entity} {obj_id} not found")
        return obj

    def writer(user: User) -> None:
        if not user.has_role(write_roles):
            raise HTTPException(403, f"role '{user.role}' may not change {entity} records")

    @router.get("", response_model=Page, summary=f"List {entity} records (paged, filtered)")
    def list_(page: int = Query(1, ge=1), page_size: int = Query(50, ge=1, le=500),
              f: dict = Depends(filter_params), db: Session = Depends(get_db), user: User = Depends(current_user)):
        stmt = filters(scope(select(model), user), f).order_by(order_by)
        return paginate(db, stmt, page, page_size, to_out)

    @router.get("/{obj_id}", response_model=out)
    def read(obj_id: int, db: Session = Depends(get_db), user: User = Depends(current_user)):
        return to_out(get_scoped(db, user, obj_id))

    def _write(db: Session, fn: Callable[[], Any]) -> Any:
        try:
            obj = fn()
            db.flush()
            return obj
        except IntegrityError as exc:
            db.rollback()
            raise HTTPException(409, f"{entity}: conflicts with an existing record ({exc.orig})") from exc
        except ValueError as exc:
            db.rollback()
            raise HTTPException(422, str(exc)) from exc

    @router.post("", response_model=out, status_code=201)
    def create_(body: create, request: Request, db: Session = Depends(get_db),  # type: ignore[valid-type]
                user: User = Depends(current_user)):
        writer(user)
        values = check_write(db, user, body.model_dump(exclude_unset=False), True)
        values = _secrets(request, values)
        make = creator or (lambda d, actor, v: service.create(d, actor, model, v, entity))
        return to_out(_write(db, lambda: make(db, user.username, values)))

    @router.patch("/{obj_id}", response_model=out)
    def update_(obj_id: int, body: patch, request: Request, db: Session = Depends(get_db),  # type: ignore[valid-type]
                user: User = Depends(current_user)):
        writer(user)
        obj = get_scoped(db, user, obj_id)
        values = body.model_dump(exclude_unset=True)
        merged = {c.key: getattr(obj, c.key) for c in model.__table__.columns} | values
        check_write(db, user, merged, False)
        values = _secrets(request, values)
        return to_out(_write(db, lambda: service.update(db, user.username, obj, values, entity)))

    @router.delete("/{obj_id}", status_code=204, response_class=Response)
    def delete_(obj_id: int, db: Session = Depends(get_db), user: User = Depends(current_user)):
        writer(user)
        obj = get_scoped(db, user, obj_id)
        _write(db, lambda: service.delete(db, user.username, obj, entity))
        return Response(status_code=204)

    return router


def _secrets(request: Request, values: dict[str, Any]) -> dict[str, Any]:
    """A plain `password` in a body is stored only encrypted (devices' credentials)."""
    if "password" in values:
        from lookout.security.secrets import encrypt

        pw = values.pop("password")
        if pw is not None:
            values["password_enc"] = encrypt(request.app.state.secret, pw)
    return values
