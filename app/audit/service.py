"""Reading, verifying, exporting and pruning the audit trail.

* :func:`query` filters one chain (or all, for operators) newest first.
* :func:`verify` walks each chain in ``seq`` order and reports the first break.
* :func:`prune` deletes rows older than a cutoff per chain and moves the chain's
  base (seq, hash) to the last deleted row, so :func:`verify` keeps anchoring.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.chain import ChainBreak, timestamp_text, verify_rows
from app.db import Database
from app.models import AuditHead, AuditLog

Progress = Callable[[str, int, int], None]
"""(what, done, total): called by long operator jobs as they advance."""


@dataclass(frozen=True)
class AuditFilter:
    chain_id: int | None = None
    action: str | None = None
    action_word: str | None = None
    """Matches actions containing this word: ``delete`` finds ``DELETE_ROLE``."""
    entity_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.chain_id is not None:
            clauses.append(AuditLog.chain_id == self.chain_id)
        if self.action:
            clauses.append(AuditLog.action == self.action.upper())
        if self.action_word:
            word = self.action_word.upper()
            clauses.append(
                or_(
                    AuditLog.action == word,
                    AuditLog.action.like(f"{word}\\_%", escape="\\"),
                    AuditLog.action.like(f"%\\_{word}", escape="\\"),
                    AuditLog.action.like(f"%\\_{word}\\_%", escape="\\"),
                )
            )
        if self.entity_type:
            clauses.append(AuditLog.entity_type == self.entity_type.lower())
        if self.since is not None:
            clauses.append(AuditLog.created_at >= self.since)
        if self.until is not None:
            clauses.append(AuditLog.created_at < self.until)
        return clauses


def entry(row: AuditLog, *, operator: bool = False) -> dict[str, Any]:
    """One row as the API shows it; operators also see tenant, seq and request id."""
    data: dict[str, Any] = {
        "id": row.id,
        "timestamp": timestamp_text(row.created_at),
        "action": row.action,
        "entity_type": row.entity_type,
        "resource": row.resource,
        "details": json.loads(row.details),
        "success": bool(row.success),
        "user": row.user_fingerprint,
        "ip_address": row.ip_address,
        "user_agent": row.user_agent,
    }
    if operator:
        data.update(tenant=row.chain_id, seq=row.seq, request_id=row.request_id)
    return data


def _filtered(columns: Select[Any], audit_filter: AuditFilter) -> Select[Any]:
    return columns.where(*audit_filter.clauses())


async def query(
    session: AsyncSession, audit_filter: AuditFilter, *, limit: int, offset: int = 0
) -> tuple[int, list[AuditLog]]:
    total = await session.scalar(
        _filtered(select(func.count()).select_from(AuditLog), audit_filter)
    )
    rows = await session.execute(
        _filtered(select(AuditLog), audit_filter)
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return int(total or 0), list(rows.scalars())


async def count(session: AsyncSession, audit_filter: AuditFilter) -> int:
    """How many rows match (for an export's progress)."""
    total = await session.scalar(
        _filtered(select(func.count()).select_from(AuditLog), audit_filter)
    )
    return int(total or 0)


async def stream(session: AsyncSession, audit_filter: AuditFilter) -> AsyncIterator[AuditLog]:
    """Every matching row, oldest first (for export)."""
    result = await session.stream_scalars(
        _filtered(select(AuditLog), audit_filter).order_by(AuditLog.chain_id, AuditLog.seq)
    )
    async for row in result:
        yield row


async def verify(
    database: Database,
    key: bytes,
    chain_id: int | None = None,
    progress: Progress | None = None,
) -> list[ChainBreak]:
    """The first break of every chain (empty: the trail is intact). ``progress`` is
    called after each chain with (what, chains done, chains in all)."""
    breaks: list[ChainBreak] = []
    async with database.transaction(write=False) as session:
        heads_query = select(AuditHead).order_by(AuditHead.chain_id)
        if chain_id is not None:
            heads_query = heads_query.where(AuditHead.chain_id == chain_id)
        heads = list((await session.execute(heads_query)).scalars())
        known = {head.chain_id for head in heads}
        orphans_query = select(AuditLog.chain_id).where(AuditLog.chain_id.not_in(known))
        if chain_id is not None:
            orphans_query = orphans_query.where(AuditLog.chain_id == chain_id)
        orphans = await session.execute(orphans_query.distinct())
        breaks.extend(
            ChainBreak(orphan, None, None, "rows without a chain head")
            for orphan in orphans.scalars()
        )
        for done, head in enumerate(heads, start=1):
            rows = await session.execute(
                select(AuditLog).where(AuditLog.chain_id == head.chain_id).order_by(AuditLog.seq)
            )
            problem = verify_rows(key, head, list(rows.scalars()))
            if problem is not None:
                breaks.append(problem)
            if progress is not None:
                progress("audit chains verified", done, len(heads))
    return breaks


async def prune(
    database: Database, older_than: datetime, progress: Progress | None = None
) -> dict[int, int]:
    """Delete rows created before ``older_than``; rows removed per chain. ``progress``
    is called after each chain with (what, chains done, chains in all)."""
    removed: dict[int, int] = {}
    async with database.transaction(write=False) as session:
        chains = list((await session.execute(select(AuditHead.chain_id))).scalars())
    for done, chain_id in enumerate(chains, start=1):
        if progress is not None and done > 1:
            progress("audit chains pruned", done - 1, len(chains))
        async with database.transaction() as session:
            head = (
                await session.execute(
                    select(AuditHead).where(AuditHead.chain_id == chain_id).with_for_update()
                )
            ).scalar_one()
            last = (
                await session.execute(
                    select(AuditLog)
                    .where(AuditLog.chain_id == chain_id, AuditLog.created_at < older_than)
                    .order_by(AuditLog.seq.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            if last is None:
                continue
            result = await session.execute(
                delete(AuditLog).where(AuditLog.chain_id == chain_id, AuditLog.seq <= last.seq)
            )
            head.base_seq, head.base_hash = last.seq, last.row_hash
            removed[chain_id] = int(getattr(result, "rowcount", 0))
    if progress is not None:
        progress("audit chains pruned", len(chains), len(chains))
    return removed
