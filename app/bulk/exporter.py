"""A tenant's roles, grants and memberships as JSON lines (the import format).

Order: every role (by name), then every grant, then every membership (in no
particular order), so the output imports as it is. A role's ``description`` is
written only when it has one. Rows are read in batches of :data:`EXPORT_BATCH`
inside one read transaction, which sees one consistent state of the tenant (SQLite's
snapshot; ``REPEATABLE READ`` on PostgreSQL). Encrypted values are opened batch by
batch, off the event loop when a batch holds many (:mod:`app.paging.decrypt`).
The session is bound to the tenant (:class:`~app.tenants.tenancy.Tenancy`).

Grants and memberships are read without a join: the role names come from the roles
already read (role id -> name, kept for the export's life). A join of the tenant's
roles with all its memberships lets PostgreSQL pick a nested loop over the membership
index when its statistics are stale (right after a large import), which is quadratic.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.bulk.records import record_lines
from app.db.engine import Database
from app.models import Grant, Membership, Role
from app.paging import open_all, open_all_optional
from app.security.cipher import FieldCipher
from app.tenants.tenancy import Tenancy

EXPORT_BATCH = 5000


@asynccontextmanager
async def snapshot_session(database: Database) -> AsyncIterator[AsyncSession]:
    """A read-only transaction that sees one state for its whole life."""
    async with database.transaction(write=False) as session:
        if database.dialect == "postgresql":
            await session.connection(
                execution_options={
                    "isolation_level": "REPEATABLE READ",
                    "postgresql_readonly": True,
                }
            )
        yield session


async def _roles(tenancy: Tenancy, names: dict[int, str]) -> AsyncIterator[bytes]:
    """The role lines, by name; fills ``names`` (role id -> name)."""
    after: str | None = None
    while True:
        statement = select(Role.name, Role.description, Role.id)
        if after is not None:
            statement = statement.where(Role.name > after)
        statement = statement.order_by(Role.name).limit(EXPORT_BATCH)
        rows = (await tenancy.session.execute(statement)).all()
        if not rows:
            return
        texts = await open_all_optional(tenancy.cipher, [row.description for row in rows])
        records: list[dict[str, Any]] = []
        for row, text in zip(rows, texts, strict=True):
            record: dict[str, Any] = {"type": "role", "role": row.name}
            if text is not None:
                record["description"] = text
            records.append(record)
            names[row.id] = row.name
        yield record_lines(records)
        after = rows[-1].name


def _grant(role: str, permission: str) -> dict[str, Any]:
    return {"type": "grant", "role": role, "permission": permission}


def _membership(role: str, user: str) -> dict[str, Any]:
    return {"type": "membership", "user": user, "role": role}


async def _pairs(
    tenancy: Tenancy,
    model: type[Grant] | type[Membership],
    value: InstrumentedAttribute[str],
    shape: Callable[[str, str], dict[str, Any]],
    names: dict[int, str],
) -> AsyncIterator[bytes]:
    """``shape(role name, opened value)`` of each row of ``model``: one query, read
    :data:`EXPORT_BATCH` rows at a time (a server-side cursor on PostgreSQL)."""
    statement = select(model.role_id, value).execution_options(yield_per=EXPORT_BATCH)
    result = await tenancy.session.stream(statement)
    async for rows in result.partitions():
        opened = await open_all(tenancy.cipher, [row[1] for row in rows])
        yield record_lines(
            [shape(names[row[0]], text) for row, text in zip(rows, opened, strict=True)]
        )


async def export_lines(
    session: AsyncSession, tenant_id: int, cipher: FieldCipher
) -> AsyncIterator[bytes]:
    """The tenant as JSON lines, a batch of lines per chunk (binds ``session`` to it)."""
    tenancy = Tenancy(session, tenant_id, cipher)
    names: dict[int, str] = {}
    async for chunk in _roles(tenancy, names):
        yield chunk
    async for chunk in _pairs(tenancy, Grant, Grant.permission, _grant, names):
        yield chunk
    async for chunk in _pairs(tenancy, Membership, Membership.user_name, _membership, names):
        yield chunk


async def export_tenant(
    database: Database, tenant_id: int, cipher: FieldCipher
) -> AsyncIterator[bytes]:
    """:func:`export_lines` in a transaction of its own (for streamed answers)."""
    async with snapshot_session(database) as session:
        async for chunk in export_lines(session, tenant_id, cipher):
            yield chunk
