"""Operator access to the audit trail, outside HTTP (CLI and Python API).

Each function opens its own engine from the settings, checks the schema, does its
work and disposes of the engine. Its sessions read every tenant's chain, on the
:data:`~app.db.tenant_guard.AUDIT_ADMINISTRATION` operator path.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TextIO, TypeVar

from app.audit.anchor import check_since, head_document, read_document
from app.audit.chain import ChainBreak
from app.audit.service import (
    AuditFilter,
    Progress,
    count,
    entry,
    prune,
    query,
    sign_heads,
    stream,
    verify,
)
from app.config import Settings
from app.db.engine import Database
from app.db.tenant_guard import AUDIT_ADMINISTRATION
from app.security.credentials import hash_client_key, is_uuid4
from app.security.secrets import ServerSecrets
from app.state import AppState, open_state
from app.tenants.service import find_by_key_hash
from app.utc import as_utc, utcnow

T = TypeVar("T")
EXPORT_STEP = 1000


async def _run(settings: Settings, work: Callable[[AppState], Awaitable[T]]) -> T:
    async with open_state(settings) as state:
        return await work(state)


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
    async def work(state: AppState) -> list[dict[str, Any]]:
        database, secrets = state.database, state.secrets
        exact = action is not None and "_" in action
        audit_filter = AuditFilter(
            chain_id=await _chain_id(database, secrets, tenant),
            action=action if exact else None,
            action_word=None if exact else action,
            entity_type=entity_type,
            since=utcnow() - timedelta(hours=hours) if hours is not None else None,
        )
        async with database.transaction(write=False, every_tenant=AUDIT_ADMINISTRATION) as session:
            _, rows = await query(session, audit_filter, limit=limit)
            return [entry(row, cipher=state.cipher, operator=True) for row in rows]

    return await _run(settings, work)


async def verify_trail(
    settings: Settings,
    tenant: int | str | None = None,
    *,
    since_head: str | None = None,
    progress: Progress | None = None,
) -> list[ChainBreak]:
    """Every break (empty: intact). ``since_head`` is the text of a head document
    (``audit head``); its signature is checked first (:class:`HeadDocumentError`).
    ``progress`` hears each chain verified."""

    async def work(state: AppState) -> list[ChainBreak]:
        key = state.secrets.audit
        anchors = read_document(key, since_head) if since_head is not None else []
        chain_id = await _chain_id(state.database, state.secrets, tenant)
        breaks = await verify(state.database, key, state.cipher, chain_id, progress)
        async with state.database.transaction(
            write=False, every_tenant=AUDIT_ADMINISTRATION
        ) as session:
            breaks += await check_since(session, anchors, chain_id)
        return breaks

    return await _run(settings, work)


async def sign_unsigned_heads(settings: Settings) -> list[tuple[int, int]]:
    """Sign the heads written before revision 0005 whose rows verify; (chain, seq)."""

    async def work(state: AppState) -> list[tuple[int, int]]:
        signed = await sign_heads(state.database, state.secrets.audit, state.cipher)
        return [(head.chain_id, head.seq) for head in signed]

    return await _run(settings, work)


async def signed_head_document(settings: Settings) -> tuple[dict[str, Any], list[ChainBreak]]:
    """The signed head document of the whole trail, and the trail's breaks (a caller
    must not hand out a document of a broken trail)."""

    async def work(state: AppState) -> tuple[dict[str, Any], list[ChainBreak]]:
        breaks = await verify(state.database, state.secrets.audit, state.cipher)
        async with state.database.transaction(
            write=False, every_tenant=AUDIT_ADMINISTRATION
        ) as session:
            return await head_document(session, state.secrets.audit), breaks

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

    async def work(state: AppState) -> int:
        written = 0
        async with state.database.transaction(
            write=False, every_tenant=AUDIT_ADMINISTRATION
        ) as session:
            total = await count(session, audit_filter) if progress is not None else 0
            async for row in stream(session, audit_filter):
                shown = entry(row, cipher=state.cipher, operator=True)
                output.write(json.dumps(shown, sort_keys=True) + "\n")
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
    cutoff = utcnow() - timedelta(days=older_than_days)

    async def work(state: AppState) -> dict[int, int]:
        return await prune(state.database, state.secrets.audit, cutoff, progress)

    return await _run(settings, work)
