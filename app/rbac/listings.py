"""The RBAC listings, one keyset-paged query each (see :mod:`app.paging`).

Ordering. Ciphertext has no order, so a listing of encrypted values cannot be paged
by name in SQL. Each listing is ordered in SQL by a unique key that never depends on
encryption, and the cursor holds the last key served:

=====================  ===========================  ===============================
listing                SQL order (cursor key)       order inside one page
=====================  ===========================  ===============================
roles                  role name                    role name
user_roles             role name                    role name
which_roles_can        role name                    role name
members of a role      user blind index             user name
role_permissions       permission blind index       permission name
user_permissions       permission blind index       permission name
which_users_can        role name, user blind index  role name, then user name
=====================  ===========================  ===============================

Role names are stored in clear, so role-keyed listings are in name order across
pages (the database's collation). Users and permission names are stored encrypted
when encryption is on; their listings are paged in blind-index order (stable, the
same with encryption off or on) and sorted by name within each page. A listing that
fits in one page (up to 1,000 entries, the default) is therefore entirely in name
order, as the reference client has always received it.

Values are decrypted one page at a time, off the event loop for large pages
(:mod:`app.paging.decrypt`).
"""

from __future__ import annotations

from itertools import groupby
from typing import TypeVarTuple

from sqlalchemy import Select, and_, func, or_, select

from app.models import Grant, Membership, Role
from app.paging import Page, Window, open_all, open_all_optional
from app.tenants.tenancy import Tenancy

Columns = TypeVarTuple("Columns")


def _after_name(window: Window, statement: Select[*Columns]) -> Select[*Columns]:
    if window.after is not None:
        statement = statement.where(Role.name > window.after[0])
    return statement.order_by(Role.name).limit(window.fetch)


class RbacListings:
    """Read-only listings of one tenant (its session is bound to it); never gated by
    strict identity."""

    def __init__(self, tenancy: Tenancy) -> None:
        self.tenancy = tenancy
        self.session = tenancy.session
        self.cipher = tenancy.cipher

    async def roles(self, window: Window) -> Page[tuple[str, str | None]]:
        """``(name, description)`` in role-name order."""
        statement = select(Role.name, Role.description)
        rows = (await self.session.execute(_after_name(window, statement))).all()
        page = window.cut(rows, lambda row: (row[0],))
        descriptions = await open_all_optional(self.cipher, [row[1] for row in page.items])
        return Page(
            [(row[0], text) for row, text in zip(page.items, descriptions, strict=True)],
            page.next,
        )

    async def user_roles(self, user: str, window: Window) -> Page[str]:
        statement = (
            select(Role.name)
            .select_from(Membership)
            .join(Role, Role.id == Membership.role_id)
            .where(Membership.user_key == self.tenancy.user_key(user))
        )
        names = list((await self.session.execute(_after_name(window, statement))).scalars())
        return window.cut(names, lambda name: (name,))

    async def which_roles_can(self, permission: str, window: Window) -> Page[str]:
        statement = (
            select(Role.name)
            .select_from(Grant)
            .join(Role, Role.id == Grant.role_id)
            .where(Grant.permission_key == self.tenancy.permission_key(permission))
        )
        names = list((await self.session.execute(_after_name(window, statement))).scalars())
        return window.cut(names, lambda name: (name,))

    async def role_members(self, role: str, window: Window) -> Page[str]:
        """User names; ``[]`` for an unknown role."""
        statement = (
            select(Membership.user_key, Membership.user_name)
            .select_from(Membership)
            .join(Role, Role.id == Membership.role_id)
            .where(Role.name == role)
        )
        if window.after is not None:
            statement = statement.where(Membership.user_key > window.after[0])
        statement = statement.order_by(Membership.user_key).limit(window.fetch)
        page = window.cut((await self.session.execute(statement)).all(), lambda row: (row[0],))
        users = await open_all(self.cipher, [row[1] for row in page.items])
        return Page(sorted(users), page.next)

    async def role_permissions(self, role: str, window: Window) -> Page[str]:
        statement = (
            select(Grant.permission_key, Grant.permission)
            .select_from(Grant)
            .join(Role, Role.id == Grant.role_id)
            .where(Role.name == role)
        )
        if window.after is not None:
            statement = statement.where(Grant.permission_key > window.after[0])
        statement = statement.order_by(Grant.permission_key).limit(window.fetch)
        return await self._permissions(window, statement)

    async def user_permissions(self, user: str, window: Window) -> Page[str]:
        """Distinct permissions over every role of ``user`` (ungated)."""
        statement = (
            select(Grant.permission_key, func.min(Grant.permission))
            .select_from(Membership)
            .join(Grant, Grant.role_id == Membership.role_id)
            .where(Membership.user_key == self.tenancy.user_key(user))
        )
        if window.after is not None:
            statement = statement.where(Grant.permission_key > window.after[0])
        statement = (
            statement.group_by(Grant.permission_key)
            .order_by(Grant.permission_key)
            .limit(window.fetch)
        )
        return await self._permissions(window, statement)

    async def _permissions(self, window: Window, statement: Select[str, str]) -> Page[str]:
        page = window.cut((await self.session.execute(statement)).all(), lambda row: (row[0],))
        names = await open_all(self.cipher, [row[1] for row in page.items])
        return Page(sorted(names), page.next)

    async def which_users_can(self, permission: str, window: Window) -> Page[tuple[str, str]]:
        """One ``(user, role)`` pair per membership of a role that holds ``permission``."""
        statement = (
            select(Role.name, Membership.user_key, Membership.user_name)
            .select_from(Grant)
            .join(Role, Role.id == Grant.role_id)
            .join(Membership, Membership.role_id == Grant.role_id)
            .where(Grant.permission_key == self.tenancy.permission_key(permission))
        )
        if window.after is not None:
            role, user_key = window.after
            statement = statement.where(
                or_(Role.name > role, and_(Role.name == role, Membership.user_key > user_key))
            )
        statement = statement.order_by(Role.name, Membership.user_key).limit(window.fetch)
        page = window.cut(
            (await self.session.execute(statement)).all(), lambda row: (row[0], row[1])
        )
        users = await open_all(self.cipher, [row[2] for row in page.items])
        pairs: list[tuple[str, str]] = []
        for role, group in groupby(zip(users, page.items, strict=True), key=lambda it: it[1][0]):
            pairs.extend((user, role) for user in sorted(user for user, _ in group))
        return Page(pairs, page.next)
