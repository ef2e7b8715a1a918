"""The one helper through which every tenant-owned query is scoped.

Services never build a ``WHERE tenant_id = ...`` by hand: they receive a
:class:`TenantScope` and ask it for the clause (``scope.owns(Model)``) or for a
ready-scoped ``select`` (``scope.select(..., within=Model)``). The scope also owns
the tenant-scoped blind index (``scope.user_key(user)``), so a lookup value can
never be computed for the wrong tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.base import TenantOwned
from app.security.cipher import FieldCipher


@dataclass(frozen=True, slots=True)
class TenantScope:
    session: AsyncSession
    tenant_id: int
    cipher: FieldCipher

    def owns(self, model: type[TenantOwned]) -> ColumnElement[bool]:
        """``model.tenant_id = <this tenant>``, to put in every WHERE clause."""
        return model.tenant_id == self.tenant_id

    def select(self, *columns: Any, within: type[TenantOwned]) -> Select[Any]:
        """``SELECT columns`` restricted to rows of ``within`` owned by this tenant."""
        return select(*columns).where(self.owns(within))

    def user_key(self, user: str) -> str:
        return self.cipher.index(self.tenant_id, "user", user)

    def permission_key(self, permission: str) -> str:
        return self.cipher.index(self.tenant_id, "permission", permission)
