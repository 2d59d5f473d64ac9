"""Registry writes with audit: org units (with their materialized path), and generic create/update/delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lookout.registry.gbcode import check_division
from lookout.registry.models import TIERS, OrgUnit
from lookout.security import audit

DEFAULT_CITY = ("重庆市", "500100")
DEFAULT_DISTRICT = ("默认区县", "500101")


def create_org_unit(session: Session, actor: str, tier: str, name: str, division_code: str,
                    parent_id: int | None = None) -> OrgUnit:
    if tier not in TIERS:
        raise ValueError(f"tier: '{tier}' must be one of {', '.join(TIERS)}")
    if not division_code.isdigit() or len(division_code) not in (6, 8, 9, 12):
        raise ValueError(f"division_code: '{division_code}' must be a 6-digit GB/T 2260 code (8, 9 or 12 for units)")
    check_division(division_code.ljust(8, "0")[:8])
    parent = session.get(OrgUnit, parent_id) if parent_id else None
    if parent_id and parent is None:
        raise ValueError(f"parent_id: no org unit {parent_id}")
    if parent is not None and TIERS.index(tier) <= TIERS.index(parent.tier):
        raise ValueError(f"tier: a {tier} cannot sit under a {parent.tier}")
    org = OrgUnit(tier=tier, name=name, division_code=division_code, parent_id=parent_id)
    session.add(org)
    session.flush()
    org.path = (parent.path if parent else "/") + f"{org.id}/"
    session.flush()
    audit.record(session, actor, "create", "org_unit", org.id, None, audit.snapshot(org))
    return org


def ensure_default_district(session: Session, actor: str = "system") -> OrgUnit:
    """The first district, creating a city and a district when none exists."""
    d = session.execute(select(OrgUnit).where(OrgUnit.tier == "district").order_by(OrgUnit.id)).scalars().first()
    if d is not None:
        return d
    city = session.execute(select(OrgUnit).where(OrgUnit.tier == "city").order_by(OrgUnit.id)).scalars().first()
    if city is None:
        city = create_org_unit(session, actor, "city", *DEFAULT_CITY)
    return create_org_unit(session, actor, "district", *DEFAULT_DISTRICT, parent_id=city.id)


def create(session: Session, actor: str, model: type, values: dict[str, Any], entity: str) -> Any:
    obj = model(**values)
    session.add(obj)
    session.flush()
    audit.record(session, actor, "create", entity, obj.id, None, audit.snapshot(obj))
    return obj


def update(session: Session, actor: str, obj: Any, values: dict[str, Any], entity: str) -> Any:
    before = audit.snapshot(obj)
    for k, v in values.items():
        setattr(obj, k, v)
    session.flush()
    after = audit.snapshot(obj)
    changed = {k for k in after if before.get(k) != after.get(k) and k != "updated_at"}
    if changed:
        audit.record(session, actor, "update", entity, obj.id,
                     {k: before[k] for k in changed}, {k: after[k] for k in changed})
    return obj


def delete(session: Session, actor: str, obj: Any, entity: str) -> None:
    before = audit.snapshot(obj)
    session.delete(obj)
    session.flush()
    audit.record(session, actor, "delete", entity, before.get("id"), before, None)
