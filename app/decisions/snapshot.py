"""A tenant's decision state, compiled into memory and tagged with its revision.

A :class:`TenantSnapshot` answers ``has_permission`` for one tenant exactly as the
database would at revision ``revision``: who holds which roles, which roles hold which
permissions (both by blind index, never by name), which users have a live API key
(strict identity), and the tenant's key hash, key generation and state.

:func:`load_snapshot` reads it in one transaction of a session bound to the tenant
(:mod:`app.db.tenant_guard`) and re-reads the revision at the end: every write bumps
the revision in its own transaction, so equal revisions before and after mean no write
committed in between, whatever the isolation level (on PostgreSQL's READ COMMITTED,
each statement may see a newer state). Otherwise it reads again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.tenant_guard import bind_tenant
from app.models import ApiKey, Grant, Membership, Tenant
from app.utc import as_utc

NOT_KEY_BACKED = "user_not_key_backed"
"""The ``reason`` of a decision that strict identity refused (no live API key)."""

NEVER = math.inf
_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class TenantSnapshot:
    tenant_id: int
    revision: int
    key_hash: str
    key_generation: int
    strict_users: bool
    """Effective: the tenant's own setting, or the server default."""
    disabled: bool
    roles_of: dict[str, tuple[int, ...]]
    """user blind index -> role ids"""
    grants: dict[int, frozenset[str]]
    """role id -> permission blind indexes"""
    key_expiry: dict[str, float]
    """user blind index -> latest expiry (Unix time; ``inf``) of the user's unrevoked keys"""
    size: int
    """Rows held (memberships + grants + users with keys + 1), for the cache's budget."""

    def key_backed(self, user_key: str, now: float) -> bool:
        return self.key_expiry.get(user_key, 0.0) > now

    def holds(self, user_key: str, permission_key: str) -> bool:
        grants = self.grants
        empty: frozenset[str] = frozenset()
        return any(
            permission_key in grants.get(role, empty) for role in self.roles_of.get(user_key, ())
        )

    def decide(self, user_key: str, permission_key: str, now: float) -> tuple[bool, str | None]:
        """``(allowed, reason)``, as :meth:`app.rbac.service.RbacService.decide`."""
        if self.strict_users and not self.key_backed(user_key, now):
            return False, NOT_KEY_BACKED
        return self.holds(user_key, permission_key), None


def _expiry(value: datetime | None) -> float:
    return NEVER if value is None else as_utc(value).timestamp()


async def _revision(session: AsyncSession, tenant_id: int) -> int | None:
    found = await session.scalar(select(Tenant.revision).where(Tenant.id == tenant_id))
    return None if found is None else int(found)


async def _read(
    session: AsyncSession, tenant_id: int, strict_default: bool
) -> TenantSnapshot | None:
    row = (
        await session.execute(
            select(
                Tenant.revision,
                Tenant.key_hash,
                Tenant.key_generation,
                Tenant.strict_users,
                Tenant.disabled_at,
            ).where(Tenant.id == tenant_id)
        )
    ).first()
    if row is None:
        return None
    revision, key_hash, key_generation, strict_users, disabled_at = row
    roles_of: dict[str, list[int]] = {}
    memberships = select(Membership.user_key, Membership.role_id)
    for user_key, role_id in await session.execute(memberships):
        roles_of.setdefault(user_key, []).append(role_id)
    grants: dict[int, set[str]] = {}
    grant_rows = select(Grant.role_id, Grant.permission_key)
    for role_id, permission_key in await session.execute(grant_rows):
        grants.setdefault(role_id, set()).add(permission_key)
    key_expiry: dict[str, float] = {}
    keys = select(ApiKey.user_key, ApiKey.expires_at).where(ApiKey.revoked_at.is_(None))
    for user_key, expires_at in await session.execute(keys):
        key_expiry[user_key] = max(key_expiry.get(user_key, 0.0), _expiry(expires_at))
    memberships_held = sum(len(roles) for roles in roles_of.values())
    grants_held = sum(len(permissions) for permissions in grants.values())
    return TenantSnapshot(
        tenant_id=tenant_id,
        revision=int(revision),
        key_hash=key_hash,
        key_generation=key_generation,
        strict_users=strict_default if strict_users is None else bool(strict_users),
        disabled=disabled_at is not None,
        roles_of={user: tuple(roles) for user, roles in roles_of.items()},
        grants={role: frozenset(permissions) for role, permissions in grants.items()},
        key_expiry=key_expiry,
        size=memberships_held + grants_held + len(key_expiry) + 1,
    )


async def load_snapshot(
    session: AsyncSession, tenant_id: int, strict_default: bool
) -> TenantSnapshot | None:
    """The tenant's snapshot at one revision; ``None`` when the tenant does not exist
    or kept changing while it was read (the caller then answers from the database).
    Binds ``session`` to the tenant."""
    bind_tenant(session, tenant_id)
    for _attempt in range(_ATTEMPTS):
        snapshot = await _read(session, tenant_id, strict_default)
        if snapshot is None:
            return None
        if await _revision(session, tenant_id) == snapshot.revision:
            return snapshot
        await session.rollback()
    return None
