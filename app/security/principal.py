"""Who is asking: the authenticated tenant and what it may do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TokenScope(StrEnum):
    ADMIN = "admin"
    """Everything the tenant can do (client key, or an admin-scope token)."""
    CHECK = "check"
    """Decision and read routes only."""


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: int
    strict_users: bool
    key_generation: int
    scope: TokenScope = TokenScope.ADMIN
    key_hash: str | None = None
    """Hash of the presented client key; ``None`` when a token was presented."""

    @property
    def may_write(self) -> bool:
        return self.scope is TokenScope.ADMIN
