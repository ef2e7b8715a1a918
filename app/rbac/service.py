"""RBAC use cases for one tenant, through its :class:`~app.tenants.tenancy.Tenancy`: the
session is bound to the tenant, so no statement here names ``tenant_id`` except the
rows it inserts.

Services only ``flush``/execute; the request boundary commits. Writes follow the
contract: idempotent, ``False`` (never an error) when they cannot take effect.
Grants and memberships lock their role row (``FOR SHARE`` on PostgreSQL) so a
concurrent role deletion cannot interleave with them; on SQLite the write
transaction already holds the database's write lock.

Users and permissions are found by their blind index (``tenancy.user_key``,
``tenancy.permission_key``). Listings live in :mod:`app.rbac.listings` (keyset-paged;
``self.listings``).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, delete, exists, select, update

from app.apikeys.service import user_has_live_key
from app.audit.trail import AuditTrail
from app.db.statements import insert_ignore
from app.decisions.revision import bump_revision
from app.decisions.snapshot import NOT_KEY_BACKED
from app.errors import RefusedWithResult
from app.models import Grant, Membership, Role
from app.paging import Page, Window
from app.rbac.listings import RbacListings
from app.tenants.tenancy import Tenancy


class UserNotKeyBacked(RefusedWithResult):
    def __init__(self, user: str) -> None:
        super().__init__(
            NOT_KEY_BACKED,
            f"strict_users is enabled and user '{user}' has no API key. Either create one "
            f"with POST /api/apikeys/user/{user}, or opt this namespace out with "
            'PUT /api/settings {"strict_users": false}.',
        )


class RbacService:
    """RBAC for one tenant. With ``strict_users`` on, a user without a live API key is
    not real: decisions about them answer negatively with ``NOT_KEY_BACKED`` and
    adding them to a role is refused (409). Listings and deletes are never gated.
    Every write records its audit event in the same transaction."""

    def __init__(self, tenancy: Tenancy, audit: AuditTrail, *, strict_users: bool = False) -> None:
        self.tenancy = tenancy
        self.session = tenancy.session
        self.cipher = tenancy.cipher
        self.audit = audit
        self.strict_users = strict_users
        self.listings = RbacListings(tenancy)

    async def block_reason(self, user: str) -> str | None:
        """``NOT_KEY_BACKED`` when strict identity refuses ``user``, else ``None``."""
        if not self.strict_users:
            return None
        backed = (
            await self.session.execute(select(user_has_live_key(self.tenancy, user)))
        ).scalar()
        return None if backed else NOT_KEY_BACKED

    async def _changed(self) -> None:
        """Every write bumps the tenant's revision in its transaction (decision
        snapshots older than it are no longer used)."""
        await bump_revision(self.session, self.tenancy.tenant_id)

    # --- roles -----------------------------------------------------------------------
    async def _role_id(self, role: str, *, lock: bool = False) -> int | None:
        statement = select(Role.id).where(Role.name == role)
        if lock:
            statement = statement.with_for_update(read=True)
        role_id: int | None = (await self.session.execute(statement)).scalar_one_or_none()
        return role_id

    async def create_role(self, role: str, description: str | None = None) -> bool:
        values = {
            "tenant_id": self.tenancy.tenant_id,
            "name": role,
            "description": self.cipher.seal_description(description),
        }
        created = await insert_ignore(self.session, Role, values, ["tenant_id", "name"])
        if not created and description is not None:
            await self.session.execute(
                update(Role).where(Role.name == role).values(description=values["description"])
            )
        await self._changed()
        await self.audit.record(
            "CREATE_ROLE",
            "role",
            role,
            details={"created": created, "description_set": description is not None},
        )
        return True

    async def delete_role(self, role: str) -> bool:
        """Delete the role; its memberships and grants go with it (ON DELETE CASCADE)."""
        result = await self.session.execute(delete(Role).where(Role.name == role))
        deleted = bool(getattr(result, "rowcount", 0))
        await self._changed()
        await self.audit.record("DELETE_ROLE", "role", role, success=deleted)
        return deleted

    # --- memberships -----------------------------------------------------------------
    async def add_membership(self, user: str, role: str) -> bool:
        if await self.block_reason(user) is not None:
            raise UserNotKeyBacked(user)
        role_id = await self._role_id(role, lock=True)
        if role_id is not None:
            values = {
                "tenant_id": self.tenancy.tenant_id,
                "role_id": role_id,
                "user_key": self.tenancy.user_key(user),
                "user_name": self.cipher.seal(user),
            }
            await insert_ignore(
                self.session, Membership, values, ["tenant_id", "user_key", "role_id"]
            )
        await self._changed()
        await self.audit.record(
            "ADD_MEMBERSHIP", "membership", role, user=user, success=role_id is not None
        )
        return role_id is not None

    async def remove_membership(self, user: str, role: str) -> bool:
        role_ids = select(Role.id).where(Role.name == role)
        result = await self.session.execute(
            delete(Membership).where(
                Membership.user_key == self.tenancy.user_key(user),
                Membership.role_id.in_(role_ids.scalar_subquery()),
            )
        )
        removed = bool(getattr(result, "rowcount", 0))
        await self._changed()
        await self.audit.record("REMOVE_MEMBERSHIP", "membership", role, user=user, success=removed)
        return True

    async def is_member(self, user: str, role: str) -> bool:
        statement = select(
            exists()
            .where(Membership.user_key == self.tenancy.user_key(user))
            .where(Membership.role_id == Role.id, Role.name == role)
        )
        return bool((await self.session.execute(statement)).scalar())

    async def check_membership(self, user: str, role: str) -> tuple[bool, str | None]:
        reason = await self.block_reason(user)
        member = False if reason is not None else await self.is_member(user, role)
        await self.audit.record_check("CHECK_MEMBERSHIP", "membership", role, user, member)
        return member, reason

    # --- grants ----------------------------------------------------------------------
    async def grant(self, role: str, permission: str) -> bool:
        role_id = await self._role_id(role, lock=True)
        if role_id is not None:
            values = {
                "tenant_id": self.tenancy.tenant_id,
                "role_id": role_id,
                "permission_key": self.tenancy.permission_key(permission),
                "permission": self.cipher.seal(permission),
            }
            await insert_ignore(self.session, Grant, values, ["role_id", "permission_key"])
        await self._changed()
        await self.audit.record(
            "ADD_PERMISSION", "permission", f"{role}:{permission}", success=role_id is not None
        )
        return role_id is not None

    async def revoke(self, role: str, permission: str) -> bool:
        role_ids = select(Role.id).where(Role.name == role)
        result = await self.session.execute(
            delete(Grant).where(
                Grant.permission_key == self.tenancy.permission_key(permission),
                Grant.role_id.in_(role_ids.scalar_subquery()),
            )
        )
        removed = bool(getattr(result, "rowcount", 0))
        await self._changed()
        await self.audit.record(
            "REMOVE_PERMISSION", "permission", f"{role}:{permission}", success=removed
        )
        return True

    async def role_has_permission(self, role: str, permission: str) -> bool:
        statement = select(
            exists()
            .where(Grant.permission_key == self.tenancy.permission_key(permission))
            .where(Grant.role_id == Role.id, Role.name == role)
        )
        return bool((await self.session.execute(statement)).scalar())

    # --- effective access ------------------------------------------------------------
    def _holds(self, user: str, permission: str) -> ColumnElement[bool]:
        return (
            exists()
            .where(Membership.user_key == self.tenancy.user_key(user))
            .where(
                Grant.role_id == Membership.role_id,
                Grant.permission_key == self.tenancy.permission_key(permission),
            )
        )

    async def user_has_permission(self, user: str, permission: str) -> bool:
        """Ungated decision: one query, membership index then grant index."""
        return bool((await self.session.execute(select(self._holds(user, permission)))).scalar())

    async def decide(self, user: str, permission: str) -> tuple[bool, str | None]:
        """The hot path: ``(allowed, reason)`` in one round trip, strict identity
        included (the live-key check rides in the same SELECT)."""
        if self.strict_users:
            statement = select(self._holds(user, permission), user_has_live_key(self.tenancy, user))
            holds, backed = (await self.session.execute(statement)).one()
            allowed, reason = (bool(holds), None) if backed else (False, NOT_KEY_BACKED)
        else:
            allowed, reason = await self.user_has_permission(user, permission), None
        await self.audit.record_check("CHECK_PERMISSION", "permission", permission, user, allowed)
        return allowed, reason

    async def effective_permissions(
        self, user: str, window: Window
    ) -> tuple[Page[str], str | None]:
        """The user's permissions (one page), or nothing and the strict-identity reason."""
        reason = await self.block_reason(user)
        if reason is not None:
            return Page([]), reason
        return await self.listings.user_permissions(user, window), None
