"""Client-key rotation and recovery: an atomic swap of one row.

Rotation never moves tenant data: all of it hangs off ``tenants.id``. The swap, in
the request transaction, is

1. lock the tenant row (``FOR UPDATE`` on PostgreSQL; SQLite's write transaction is
   exclusive) and check the caller still holds the current key (or generation);
2. remember the old key hash in ``retired_client_keys`` (it now answers 401);
3. set the new key hash and bump ``key_generation`` (every earlier token dies).

A concurrent write authenticated with the old key belongs to the tenant whichever
side of the swap it commits on (rows hang off the tenant id, not the key), and a
request that looks the old key up after the swap is refused with 401: nothing
acknowledged is lost.

Recovery does the same swap, authenticated by the single-use rotate key instead of
the client key.

The session is bound to the tenant before its rows are read or audited
(:func:`app.db.tenant_guard.bind_tenant`): by the principal for rotation, once the
rotate key has named it for recovery, by the operator's tenant id for ``rekey``.

Every swap retires the tenant's rotate key, whoever holds it: a rotate key is bound to
the client key it was issued under. Someone who once fetched it with a client key that
was since rotated (the runbook's compromised-key procedure) holds nothing, and the owner
of the new key may ask for a fresh one (``POST /api/keys/get_rotate_key``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.trail import AuditTrail
from app.db.tenant_guard import bind_tenant
from app.decisions.revision import bump_revision
from app.errors import BadRequest, Conflict, RefusedWithResult, Unauthorized
from app.models import ApiKey, Grant, Membership, RetiredClientKey, Role, Tenant
from app.security.credentials import (
    hash_client_key,
    hash_secret,
    is_uuid4,
    mint_secret,
    secret_shape,
)
from app.security.failures import FailureReason
from app.security.principal import Principal
from app.tenants.service import is_known_key

ROTATE_KEY_PREFIX = "rrk_"
ROTATE_KEY_PURPOSE = "rotate-key"
_ROTATE_SHAPE = secret_shape(ROTATE_KEY_PREFIX)


@dataclass(frozen=True, slots=True)
class Counts:
    roles: int
    memberships: int
    permissions: int
    api_keys: int
    settings: int


class RotationService:
    """Rotation, rotate keys and recovery; each success is audited in the same
    transaction (``ROTATE_KEY``, ``GET_ROTATE_KEY``, ``RECOVER_KEY``)."""

    def __init__(
        self,
        session: AsyncSession,
        hash_key: bytes,
        audit: Callable[[int], AuditTrail],
    ) -> None:
        self.session = session
        self.hash_key = hash_key
        self.audit = audit

    async def _locked(self, tenant_id: int) -> Tenant:
        """The tenant's row, locked; binds the session to the tenant."""
        bind_tenant(self.session, tenant_id)
        tenant = await self.session.get(
            Tenant, tenant_id, with_for_update=True, populate_existing=True
        )
        if tenant is None:  # pragma: no cover - the principal was just resolved
            raise Unauthorized("Unknown tenant.", reason=FailureReason.UNKNOWN_KEY)
        return tenant

    async def _swap(self, tenant: Tenant, new_key: str) -> None:
        """Move the tenant to ``new_key``: the old key is retired, every token issued
        before dies (key generation) and so does any outstanding rotate key."""
        self.session.add(RetiredClientKey(key_hash=tenant.key_hash, tenant_id=tenant.id))
        tenant.key_hash = hash_client_key(new_key, self.hash_key)
        tenant.key_generation += 1
        tenant.rotate_key_hash = None
        await bump_revision(self.session, tenant.id, locked=tenant)

    async def _counts(self) -> Counts:
        """The tenant's rows (the session is bound to it by :meth:`_locked`)."""

        async def count(model: type[Role] | type[Membership] | type[Grant] | type[ApiKey]) -> int:
            return int(await self.session.scalar(select(func.count()).select_from(model)) or 0)

        return Counts(
            roles=await count(Role),
            memberships=await count(Membership),
            permissions=await count(Grant),
            api_keys=await count(ApiKey),
            settings=1,
        )

    async def rotate(self, principal: Principal) -> tuple[str, Counts]:
        """Mint a new client key for the principal's tenant and swap to it."""
        tenant = await self._locked(principal.tenant_id)
        if tenant.key_hash != principal.key_hash:
            raise Unauthorized(
                "This client key has been rotated and is no longer valid.",
                reason=FailureReason.ROTATED_KEY,
                tenant_id=tenant.id,
            )
        new_key = str(uuid.uuid4())
        await self._swap(tenant, new_key)
        counts = await self._counts()
        await self.audit(tenant.id).record(
            "ROTATE_KEY",
            "client_key",
            "client_key",
            details={"key_generation": tenant.key_generation},
        )
        return new_key, counts

    async def rekey(self, tenant_id: int) -> str | None:
        """The operator's swap (``auth-server tenant rekey``): no credential, for a
        tenant whose key an attacker rotated away. ``None`` when there is no such
        tenant."""
        bind_tenant(self.session, tenant_id)
        tenant = await self.session.get(
            Tenant, tenant_id, with_for_update=True, populate_existing=True
        )
        if tenant is None:
            return None
        new_key = str(uuid.uuid4())
        await self._swap(tenant, new_key)
        await self.audit(tenant.id).record(
            "ROTATE_KEY",
            "client_key",
            "client_key",
            details={"key_generation": tenant.key_generation, "by": "operator"},
        )
        return new_key

    async def issue_rotate_key(self, tenant_id: int) -> str:
        tenant = await self._locked(tenant_id)
        if tenant.rotate_key_hash is not None:
            raise RefusedWithResult(
                "rotate_key_already_issued",
                "A rotate key was already issued for this tenant and is shown only once. "
                "Use it with POST /api/keys/recover; recovery issues a fresh one.",
            )
        rotate_key = mint_secret(ROTATE_KEY_PREFIX)
        tenant.rotate_key_hash = hash_secret(rotate_key, self.hash_key, ROTATE_KEY_PURPOSE)
        await self.session.flush()
        await self.audit(tenant_id).record("GET_ROTATE_KEY", "rotate_key", "rotate_key")
        return rotate_key

    async def recover(self, rotate_key: str, chosen_key: str | None) -> str:
        """Move the tenant owning ``rotate_key`` to a new client key (returned); the
        rotate key is spent with the swap."""
        if chosen_key is not None and not is_uuid4(chosen_key):
            raise BadRequest("new_client_key must be a UUID4.")
        refused = Unauthorized(
            "The rotate key is not valid.", reason=FailureReason.INVALID_ROTATE_KEY
        )
        if not _ROTATE_SHAPE.fullmatch(rotate_key):
            raise refused
        rotate_hash = hash_secret(rotate_key, self.hash_key, ROTATE_KEY_PURPOSE)
        tenant_id = await self.session.scalar(
            select(Tenant.id).where(Tenant.rotate_key_hash == rotate_hash)
        )
        if tenant_id is None:
            raise refused
        tenant = await self._locked(tenant_id)
        if tenant.rotate_key_hash != rotate_hash or tenant.disabled_at is not None:
            raise refused
        new_key = (chosen_key or str(uuid.uuid4())).lower()
        if chosen_key is not None and await is_known_key(
            self.session, hash_client_key(new_key, self.hash_key)
        ):
            raise Conflict("new_client_key is already in use; choose another.")
        await self._swap(tenant, new_key)
        await self.audit(tenant.id).record(
            "RECOVER_KEY",
            "client_key",
            "client_key",
            details={"key_generation": tenant.key_generation, "chosen_key": chosen_key is not None},
        )
        return new_key


async def set_strict_users(
    session: AsyncSession, tenant_id: int, value: bool, audit: AuditTrail
) -> None:
    tenant = await session.get(Tenant, tenant_id, with_for_update=True, populate_existing=True)
    if tenant is not None:
        previous = tenant.strict_users
        tenant.strict_users = value
        await bump_revision(session, tenant_id, locked=tenant)
        await audit.record(
            "UPDATE_SETTINGS",
            "settings",
            "strict_users",
            details={"strict_users": value, "previous": previous},
        )
