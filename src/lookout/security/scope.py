"""What an account may see: an org-unit subtree (or one site) and a resource-class clearance.

Every query for sites, channels and what hangs off them goes through these filters, so an
account never learns of what lies outside its scope (out-of-scope ids answer 404).
"""

from __future__ import annotations

from sqlalchemy import Select, select

from lookout.registry.models import Channel, OrgUnit, Site
from lookout.security.models import User


def visible_site_ids(user: User) -> Select | None:
    """A subquery of visible site ids, or None when every site is visible."""
    if user.scope_site_id is not None:
        return select(Site.id).where(Site.id == user.scope_site_id)
    if user.scope_org_id is not None:
        root = select(OrgUnit.path).where(OrgUnit.id == user.scope_org_id).scalar_subquery()
        return select(Site.id).join(OrgUnit, Site.org_unit_id == OrgUnit.id).where(OrgUnit.path.startswith(root))
    return None


def site_filter(stmt: Select, user: User, site_col=Site.id) -> Select:
    ids = visible_site_ids(user)
    return stmt if ids is None else stmt.where(site_col.in_(ids))


def channel_filter(stmt: Select, user: User) -> Select:
    stmt = site_filter(stmt, user, Channel.site_id)
    return stmt.where(Channel.resource_class >= user.clearance)


def org_filter(stmt: Select, user: User) -> Select:
    """Org units inside the account's subtree, plus its ancestors (so the tree can be drawn)."""
    if user.scope_org_id is None and user.scope_site_id is None:
        return stmt
    if user.scope_site_id is not None:
        org = select(Site.org_unit_id).where(Site.id == user.scope_site_id).scalar_subquery()
    else:
        org = user.scope_org_id
    root = select(OrgUnit.path).where(OrgUnit.id == org).scalar_subquery()
    return stmt.where(OrgUnit.path.startswith(root))


def _site_in_scope(user: User, site: Site) -> bool:
    if user.scope_site_id is not None:
        return site.id == user.scope_site_id
    if user.scope_org_id is not None:
        org = site.org_unit
        while org is not None:
            if org.id == user.scope_org_id:
                return True
            org = org.parent
        return False
    return True


def can_see_site(user: User, site: Site) -> bool:
    return _site_in_scope(user, site)


def can_see_channel(user: User, channel: Channel) -> bool:
    return channel.resource_class >= user.clearance and _site_in_scope(user, channel.site)
