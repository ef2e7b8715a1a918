"""Who is asking: the authenticated tenant and what it may do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    ADMIN = "admin"
    """Everything the tenant can do (client key, or an admin-scope token)."""
    CHECK = "check"
    """Decision and read routes only."""


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: int
    scope: Scope = Scope.ADMIN

    @property
    def may_write(self) -> bool:
        return self.scope is Scope.ADMIN
