"""Resolving a client key to a tenant id, registering new tenants in open mode.

Ordering matters on SQLite: the lookup runs in the request session's transaction.
When the tenant is new, that read transaction is rolled back (it has written
nothing), the tenant is registered in a short write transaction of its own
(``INSERT ... ON CONFLICT DO NOTHING``, so concurrent first requests with one key
create one tenant) and the id is read again in a fresh transaction of the request
session, which now sees the committed row.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Registration
from app.db import Database
from app.db_ops import insert_ignore
from app.errors import Unauthorized
from app.models import Tenant


async def find_tenant_id(session: AsyncSession, key_hash: str) -> int | None:
    result = await session.execute(select(Tenant.id).where(Tenant.key_hash == key_hash))
    return result.scalar_one_or_none()


async def register_tenant(db: Database, key_hash: str) -> None:
    async with db.transaction(write=True) as session:
        await insert_ignore(session, Tenant, {"key_hash": key_hash}, ["key_hash"])


async def resolve_tenant_id(
    session: AsyncSession, db: Database, key_hash: str, registration: Registration
) -> int:
    """The tenant id for ``key_hash``; raises :class:`Unauthorized` when refused."""
    tenant_id = await find_tenant_id(session, key_hash)
    if tenant_id is not None:
        return tenant_id
    if registration is Registration.CLOSED:
        raise Unauthorized("Unknown client key.")
    await session.rollback()
    await register_tenant(db, key_hash)
    tenant_id = await find_tenant_id(session, key_hash)
    if tenant_id is None:  # pragma: no cover - the row was committed just above
        raise Unauthorized("Unknown client key.")
    return tenant_id
