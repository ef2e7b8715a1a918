"""Resolving credentials to tenants; registering tenants in open mode.

A new tenant is registered in the request's own transaction, so it exists only if
the request succeeds: a first request refused (400, 404, 409...) rolls it back with
everything else. Ordering matters on SQLite: the lookup's read transaction is rolled
back first (it has written nothing), so the registering ``INSERT ... ON CONFLICT DO
NOTHING`` starts a fresh transaction and takes the write lock directly (waiting on
the busy timeout) instead of upgrading a stale read snapshot. Concurrent first
requests with one key create one tenant: the second waits on the first's row (or
SQLite's lock) and then reads it; if the first is refused, the second registers.

Every tenant gets its signed, empty audit chain head in the transaction that creates
it (:func:`app.audit.chain.open_chain`), so ``audit verify`` can tell a tenant with no
history from one whose chain was deleted.

Refusals (all 401): a rotated-away key (never re-registered), a disabled tenant, an
unknown key in closed-registration mode.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.chain import open_chain
from app.config import Registration
from app.db.statements import insert_ignore
from app.decisions.revision import bump_revision
from app.errors import Unauthorized
from app.models import RetiredClientKey, Tenant
from app.security.failures import FailureReason
from app.utc import utcnow


@dataclass(frozen=True, slots=True)
class TenantRecord:
    id: int
    strict_users: bool | None
    key_generation: int
    disabled: bool


_COLUMNS = (Tenant.id, Tenant.strict_users, Tenant.key_generation, Tenant.disabled_at)


async def find_by_key_hash(session: AsyncSession, key_hash: str) -> TenantRecord | None:
    row = (await session.execute(select(*_COLUMNS).where(Tenant.key_hash == key_hash))).first()
    if row is None:
        return None
    return TenantRecord(row[0], row[1], row[2], row[3] is not None)


async def retired_key_tenant(session: AsyncSession, key_hash: str) -> int | None:
    """The tenant a rotated-away key belonged to, or ``None``."""
    statement = select(RetiredClientKey.tenant_id).where(RetiredClientKey.key_hash == key_hash)
    tenant_id: int | None = (await session.execute(statement)).scalar_one_or_none()
    return tenant_id


async def is_known_key(session: AsyncSession, key_hash: str) -> bool:
    """True when the hash belongs to a tenant, live or retired."""
    if await find_by_key_hash(session, key_hash) is not None:
        return True
    return await retired_key_tenant(session, key_hash) is not None


def _usable(record: TenantRecord) -> TenantRecord:
    if record.disabled:
        raise Unauthorized(
            "This tenant is disabled.", reason=FailureReason.DISABLED_TENANT, tenant_id=record.id
        )
    return record


async def resolve_client_key(
    session: AsyncSession,
    key_hash: str,
    registration: Registration,
    before_register: Callable[[], Awaitable[None]] | None = None,
    *,
    audit_key: bytes,
) -> TenantRecord:
    """The tenant behind a client key hash; raises :class:`Unauthorized` when refused.
    A new tenant is added in ``session``'s transaction (committed with the request).

    ``before_register`` runs before a new tenant is opened (the per-address budget)
    and may raise to refuse it."""
    record = await find_by_key_hash(session, key_hash)
    if record is not None:
        return _usable(record)
    retired_from = await retired_key_tenant(session, key_hash)
    if retired_from is not None:
        raise Unauthorized(
            "This client key has been rotated and is no longer valid.",
            reason=FailureReason.ROTATED_KEY,
            tenant_id=retired_from,
        )
    if registration is Registration.CLOSED:
        raise Unauthorized("Unknown client key.", reason=FailureReason.UNKNOWN_KEY)
    await session.rollback()
    if before_register is not None:
        await before_register()
    await insert_ignore(session, Tenant, {"key_hash": key_hash}, ["key_hash"])
    tenant_id = (
        await session.execute(select(Tenant.id).where(Tenant.key_hash == key_hash))
    ).scalar_one()
    await open_chain(session, audit_key, tenant_id)
    record = await find_by_key_hash(session, key_hash)
    if record is None:  # pragma: no cover - committed just above, never deleted
        raise Unauthorized("Unknown client key.", reason=FailureReason.UNKNOWN_KEY)
    return _usable(record)


async def create_operator_tenant(
    session: AsyncSession, key_hash: str, label: str | None, audit_key: bytes
) -> int:
    tenant = Tenant(key_hash=key_hash, label=label, operator_created=True)
    session.add(tenant)
    await session.flush()
    await open_chain(session, audit_key, tenant.id)
    return tenant.id


async def list_tenants(session: AsyncSession) -> list[Tenant]:
    return list((await session.execute(select(Tenant).order_by(Tenant.id))).scalars())


async def disable_tenant(session: AsyncSession, tenant_id: int) -> bool:
    tenant = await session.get(Tenant, tenant_id, with_for_update=True, populate_existing=True)
    if tenant is None:
        return False
    if tenant.disabled_at is None:
        tenant.disabled_at = utcnow()
        tenant.key_generation += 1  # every token issued so far dies with it
        await bump_revision(session, tenant_id, locked=tenant)
    return True
