"""Operator access to the audit trail, outside HTTP (CLI and Python API).

Each function opens its own engine from the settings, checks the schema, does its
work and disposes of the engine.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO, TypeVar

from app.audit.chain import ChainBreak
from app.audit.service import (
    AuditFilter,
    Progress,
    count,
    entry,
    prune,
    query,
    stream,
    verify,
)
from app.config import Settings
from app.db import Database
from app.runtime import open_state
from app.security.credentials import hash_client_key, is_uuid4
from app.security.secrets import ServerSecrets
from app.tenants.service import find_by_key_hash
from app.utc import as_utc

T = TypeVar("T")
EXPORT_STEP = 1000


async def _run(settings: Settings, work: Callable[[Database, ServerSecrets], Awaitable[T]]) -> T:
    async with open_state(settings) as state:
        return await work(state.database, state.secrets)


async def _chain_id(
    database: Database, secrets: ServerSecrets, tenant: int | str | None
) -> int | None:
    """A tenant given by id, or by client key (hashed, never stored or printed)."""
    if tenant is None or isinstance(tenant, int):
        return tenant
    if tenant.isdigit():
        return int(tenant)
    if not is_uuid4(tenant):
        raise ValueError("tenant must be a tenant id or a client key (UUID4)")
    async with database.transaction(write=False) as session:
        record = await find_by_key_hash(session, hash_client_key(tenant, secrets.key_hash))
    if record is None:
        raise ValueError("no tenant has that client key")
    return record.id


async def query_entries(
    settings: Settings,
    *,
    action: str | None = None,
    hours: float | None = None,
    entity_type: str | None = None,
    tenant: int | str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    async def work(database: Database, secrets: ServerSecrets) -> list[dict[str, Any]]:
        exact = action is not None and "_" in action
        audit_filter = AuditFilter(
            chain_id=await _chain_id(database, secrets, tenant),
            action=action if exact else None,
            action_word=None if exact else action,
            entity_type=entity_type,
            since=datetime.now(UTC) - timedelta(hours=hours) if hours is not None else None,
        )
        async with database.transaction(write=False) as session:
            _, rows = await query(session, audit_filter, limit=limit)
            return [entry(row, operator=True) for row in rows]

    return await _run(settings, work)


async def verify_trail(
    settings: Settings, tenant: int | str | None = None, progress: Progress | None = None
) -> list[ChainBreak]:
    async def work(database: Database, secrets: ServerSecrets) -> list[ChainBreak]:
        chain_id = await _chain_id(database, secrets, tenant)
        return await verify(database, secrets.audit, chain_id, progress)

    return await _run(settings, work)


async def export_trail(
    settings: Settings,
    output: TextIO,
    *,
    since: datetime | None = None,
    progress: Progress | None = None,
) -> int:
    """Write every row as one JSON object per line (oldest first); rows written.
    A naive ``since`` is UTC. ``progress`` hears every :data:`EXPORT_STEP` rows."""
    audit_filter = AuditFilter(since=as_utc(since) if since is not None else None)

    async def work(database: Database, _secrets: ServerSecrets) -> int:
        written = 0
        async with database.transaction(write=False) as session:
            total = await count(session, audit_filter) if progress is not None else 0
            async for row in stream(session, audit_filter):
                output.write(json.dumps(entry(row, operator=True), sort_keys=True) + "\n")
                written += 1
                if progress is not None and written % EXPORT_STEP == 0:
                    progress("audit rows exported", written, max(total, written))
        if progress is not None:
            progress("audit rows exported", written, written)
        return written

    return await _run(settings, work)


async def prune_trail(
    settings: Settings, older_than_days: int, progress: Progress | None = None
) -> dict[int, int]:
    if older_than_days < 1:
        raise ValueError("--older-than-days must be at least 1")
    cutoff = datetime.now(UTC) - timedelta(days=older_than_days)

    async def work(database: Database, _secrets: ServerSecrets) -> dict[int, int]:
        return await prune(database, cutoff, progress)

    return await _run(settings, work)
