"""One tenant's view of the database: the helper every tenant-owned query goes through.

A :class:`Tenancy` is built from the authenticated principal (:func:`app.deps.get_tenancy`)
or, outside HTTP, from a tenant id. Building it binds its session to the tenant
(:func:`app.db.tenant_guard.bind_tenant`): from then on every ORM statement the
session runs on a tenant-owned model carries ``tenant_id = <this tenant>``, so
services write plain ``select(Role.id).where(Role.name == name)`` and cannot forget
the tenant. A session serves one tenant for its life; a second tenant is refused.

The tenancy also owns the tenant-scoped blind index (``tenancy.user_key(user)``,
``tenancy.permission_key(permission)``), so a lookup value can never be computed for
the wrong tenant, and the field cipher that opens the tenant's values.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.tenant_guard import bind_tenant
from app.security.cipher import FieldCipher


@dataclass(frozen=True, slots=True)
class Tenancy:
    session: AsyncSession
    tenant_id: int
    cipher: FieldCipher

    def __post_init__(self) -> None:
        bind_tenant(self.session, self.tenant_id)

    def user_key(self, user: str) -> str:
        return self.cipher.index(self.tenant_id, "user", user)

    def permission_key(self, permission: str) -> str:
        return self.cipher.index(self.tenant_id, "permission", permission)
