"""RBAC use cases. Every query is scoped to one tenant through :class:`TenantScope`.

Services only ``flush``/execute; the request boundary commits. Writes follow the
contract: idempotent, ``False`` (never an error) when they cannot take effect.
Grants and memberships lock their role row (``FOR SHARE`` on PostgreSQL) so a
concurrent role deletion cannot interleave with them; on SQLite the write
transaction already holds the database's write lock.
"""

from __future__ import annotations

from sqlalchemy import delete, exists, select

from app.db_ops import insert_ignore
from app.models import Grant, Membership, Role
from app.tenants.scope import TenantScope


class RbacService:
    def __init__(self, scope: TenantScope) -> None:
        self.scope = scope
        self.session = scope.session

    # --- roles -----------------------------------------------------------------------
    async def _role_id(self, role: str, *, lock: bool = False) -> int | None:
        statement = self.scope.select(Role.id, within=Role).where(Role.name == role)
        if lock:
            statement = statement.with_for_update(read=True)
        role_id: int | None = (await self.session.execute(statement)).scalar_one_or_none()
        return role_id

    async def create_role(self, role: str, description: str | None = None) -> bool:
        values = {"tenant_id": self.scope.tenant_id, "name": role, "description": description}
        await insert_ignore(self.session, Role, values, ["tenant_id", "name"])
        return True

    async def delete_role(self, role: str) -> bool:
        """Delete the role; its memberships and grants go with it (ON DELETE CASCADE)."""
        result = await self.session.execute(
            delete(Role).where(self.scope.owns(Role), Role.name == role)
        )
        return bool(getattr(result, "rowcount", 0))

    async def list_roles(self) -> list[tuple[str, str | None]]:
        statement = self.scope.select(Role.name, Role.description, within=Role).order_by(Role.name)
        return [(name, description) for name, description in await self.session.execute(statement)]

    # --- memberships -----------------------------------------------------------------
    async def add_membership(self, user: str, role: str) -> bool:
        role_id = await self._role_id(role, lock=True)
        if role_id is None:
            return False
        values = {"tenant_id": self.scope.tenant_id, "role_id": role_id, "user_name": user}
        await insert_ignore(self.session, Membership, values, ["tenant_id", "user_name", "role_id"])
        return True

    async def remove_membership(self, user: str, role: str) -> bool:
        role_ids = self.scope.select(Role.id, within=Role).where(Role.name == role)
        await self.session.execute(
            delete(Membership).where(
                self.scope.owns(Membership),
                Membership.user_name == user,
                Membership.role_id.in_(role_ids.scalar_subquery()),
            )
        )
        return True

    async def is_member(self, user: str, role: str) -> bool:
        statement = select(
            exists()
            .where(self.scope.owns(Membership), Membership.user_name == user)
            .where(Membership.role_id == Role.id, self.scope.owns(Role), Role.name == role)
        )
        return bool((await self.session.execute(statement)).scalar())

    async def user_roles(self, user: str) -> list[str]:
        statement = (
            self.scope.select(Role.name, within=Membership)
            .select_from(Membership)
            .join(Role, Role.id == Membership.role_id)
            .where(Membership.user_name == user)
            .order_by(Role.name)
        )
        return list((await self.session.execute(statement)).scalars())

    async def role_members(self, role: str) -> list[str]:
        statement = (
            self.scope.select(Membership.user_name, within=Membership)
            .select_from(Membership)
            .join(Role, Role.id == Membership.role_id)
            .where(Role.name == role)
            .order_by(Membership.user_name)
        )
        return list((await self.session.execute(statement)).scalars())

    # --- grants ----------------------------------------------------------------------
    async def grant(self, role: str, permission: str) -> bool:
        role_id = await self._role_id(role, lock=True)
        if role_id is None:
            return False
        values = {"tenant_id": self.scope.tenant_id, "role_id": role_id, "permission": permission}
        await insert_ignore(self.session, Grant, values, ["role_id", "permission"])
        return True

    async def revoke(self, role: str, permission: str) -> bool:
        role_ids = self.scope.select(Role.id, within=Role).where(Role.name == role)
        await self.session.execute(
            delete(Grant).where(
                self.scope.owns(Grant),
                Grant.permission == permission,
                Grant.role_id.in_(role_ids.scalar_subquery()),
            )
        )
        return True

    async def role_has_permission(self, role: str, permission: str) -> bool:
        statement = select(
            exists()
            .where(self.scope.owns(Grant), Grant.permission == permission)
            .where(Grant.role_id == Role.id, self.scope.owns(Role), Role.name == role)
        )
        return bool((await self.session.execute(statement)).scalar())

    async def role_permissions(self, role: str) -> list[str]:
        statement = (
            self.scope.select(Grant.permission, within=Grant)
            .select_from(Grant)
            .join(Role, Role.id == Grant.role_id)
            .where(Role.name == role)
            .order_by(Grant.permission)
        )
        return list((await self.session.execute(statement)).scalars())

    # --- effective access ------------------------------------------------------------
    async def user_has_permission(self, user: str, permission: str) -> bool:
        """The hot path: one query, membership index then grant index."""
        statement = select(
            exists()
            .where(self.scope.owns(Membership), Membership.user_name == user)
            .where(Grant.role_id == Membership.role_id, Grant.permission == permission)
        )
        return bool((await self.session.execute(statement)).scalar())

    async def user_permissions(self, user: str) -> list[str]:
        statement = (
            self.scope.select(Grant.permission, within=Membership)
            .select_from(Membership)
            .join(Grant, Grant.role_id == Membership.role_id)
            .where(Membership.user_name == user)
            .distinct()
            .order_by(Grant.permission)
        )
        return list((await self.session.execute(statement)).scalars())

    async def which_roles_can(self, permission: str) -> list[str]:
        statement = (
            self.scope.select(Role.name, within=Grant)
            .select_from(Grant)
            .join(Role, Role.id == Grant.role_id)
            .where(Grant.permission == permission)
            .order_by(Role.name)
        )
        return list((await self.session.execute(statement)).scalars())

    async def which_users_can(self, permission: str) -> list[tuple[str, str]]:
        """One ``(user, role)`` pair per membership of a role that holds ``permission``."""
        statement = (
            self.scope.select(Membership.user_name, Role.name, within=Grant)
            .select_from(Grant)
            .join(Role, Role.id == Grant.role_id)
            .join(Membership, Membership.role_id == Grant.role_id)
            .where(Grant.permission == permission)
            .order_by(Role.name, Membership.user_name)
        )
        return [(user, role) for user, role in await self.session.execute(statement)]
