"""Reading, verifying, exporting and pruning the audit trail.

* :func:`query` filters the chains its session reaches, newest first: a tenant's
  session reaches its own chain only (:mod:`app.db.tenant_guard`); every chain, and
  :attr:`AuditFilter.chain_id` to pick one, is for operator sessions
  (:data:`~app.db.tenant_guard.AUDIT_ADMINISTRATION`). :func:`trail_page` is one page
  of it as ``GET /api/audit`` shows it.
* :func:`verify` checks each head's MAC, walks each chain in ``seq`` order and
  reports the first break, and reports every tenant without a chain head (a chain
  deleted whole: every tenant gets a head when it is created).
* :func:`sign_heads` signs heads written before revision 0005, once their rows verify.
* :func:`prune` deletes rows older than a cutoff per chain and moves the chain's
  base (seq, hash) to the last deleted row, re-signing the head, so :func:`verify`
  keeps anchoring.

The operator jobs (:func:`verify`, :func:`sign_heads`, :func:`prune`) open their own
sessions on the :data:`~app.db.tenant_guard.AUDIT_ADMINISTRATION` path.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.chain import (
    ChainBreak,
    HeadStatus,
    Transform,
    head_status,
    sign_head,
    timestamp_text,
    verify_chain,
    verify_rows,
)
from app.db.engine import Database
from app.db.tenant_guard import AUDIT_ADMINISTRATION
from app.models import AuditHead, AuditLog, Tenant
from app.paging import Page, Window
from app.security.cipher import FieldCipher, StoredDataCorrupt
from app.utc import as_utc

MISSING_HEAD = "tenant has no audit chain head (its chain was deleted)"
UNREADABLE = "(unreadable: encrypted under a key not configured, or altered)"


def opener(cipher: FieldCipher | None) -> Transform:
    """Opens sealed resources (plaintext ones pass through)."""
    return cipher.open if cipher is not None else str


def shown_resource(cipher: FieldCipher | None, stored: str | None) -> str | None:
    """A resource as reads show it: opened, or :data:`UNREADABLE` when no configured
    key opens it (``audit verify`` reports that row; a read does not fail)."""
    if stored is None or cipher is None:
        return stored
    try:
        return cipher.open(stored)
    except StoredDataCorrupt:
        return UNREADABLE


Progress = Callable[[str, int, int], None]
"""(what, done, total): called by long operator jobs as they advance."""


@dataclass(frozen=True)
class AuditFilter:
    """What :func:`query` and :func:`stream` keep of the rows their session reaches."""

    chain_id: int | None = None
    """Operators: one chain of their every-tenant session (``None``: all of them). A
    tenant's session reaches its own chain whatever this says."""
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


def entry(
    row: AuditLog, *, cipher: FieldCipher | None = None, operator: bool = False
) -> dict[str, Any]:
    """One row as the API shows it (the resource opened with ``cipher``); operators
    also see tenant, seq and request id."""
    data: dict[str, Any] = {
        "id": row.id,
        "timestamp": timestamp_text(row.created_at),
        "action": row.action,
        "entity_type": row.entity_type,
        "resource": shown_resource(cipher, row.resource),
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


def position_of(row: AuditLog) -> tuple[str, int]:
    """A row's place in the newest-first order (the listing cursor's position)."""
    return as_utc(row.created_at).isoformat(), row.id


def after_position(window: Window) -> tuple[datetime, int] | None:
    """The decoded cursor position of ``window`` (see :func:`position_of`)."""
    if window.after is None:
        return None
    stamp, row_id = window.after
    return as_utc(datetime.fromisoformat(str(stamp))), int(row_id)


async def query(
    session: AsyncSession,
    audit_filter: AuditFilter,
    *,
    limit: int,
    offset: int = 0,
    after: tuple[datetime, int] | None = None,
) -> tuple[int, list[AuditLog]]:
    """The total matching ``audit_filter`` and up to ``limit`` rows, newest first
    (time, then id), skipping ``offset`` rows or starting after the ``after`` position;
    only the chains ``session`` reaches (a tenant's: its own)."""
    total = await session.scalar(
        _filtered(select(func.count()).select_from(AuditLog), audit_filter)
    )
    statement = _filtered(select(AuditLog), audit_filter)
    if after is not None:
        stamp, row_id = after
        statement = statement.where(
            or_(
                AuditLog.created_at < stamp,
                and_(AuditLog.created_at == stamp, AuditLog.id < row_id),
            )
        )
    rows = await session.execute(
        statement.order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return int(total or 0), list(rows.scalars())


async def trail_page(
    session: AsyncSession,
    audit_filter: AuditFilter,
    window: Window,
    *,
    offset: int = 0,
    cipher: FieldCipher | None = None,
) -> tuple[int, Page[dict[str, Any]]]:
    """The total matching ``audit_filter`` and the page of ``window`` (after skipping
    ``offset`` rows), newest first, each entry as the API shows it (:func:`entry`)."""
    total, rows = await query(
        session, audit_filter, limit=window.fetch, offset=offset, after=after_position(window)
    )
    page = window.cut(rows, position_of)
    return total, Page([entry(row, cipher=cipher) for row in page.items], page.next)


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


async def _chain_rows(session: AsyncSession, chain_id: int) -> list[AuditLog]:
    rows = await session.execute(
        select(AuditLog).where(AuditLog.chain_id == chain_id).order_by(AuditLog.seq)
    )
    return list(rows.scalars())


async def verify(
    database: Database,
    key: bytes,
    cipher: FieldCipher | None,
    chain_id: int | None = None,
    progress: Progress | None = None,
) -> list[ChainBreak]:
    """The first break of every chain, and every tenant without its chain head
    (empty: the trail is intact). ``cipher`` opens sealed resources (``None`` only for
    a trail written without encryption). ``progress`` is called after each chain with
    (what, chains done, chains in all)."""
    breaks: list[ChainBreak] = []
    async with database.transaction(write=False, every_tenant=AUDIT_ADMINISTRATION) as session:
        heads_query = select(AuditHead).order_by(AuditHead.chain_id)
        headless = select(Tenant.id).where(Tenant.id.not_in(select(AuditHead.chain_id)))
        if chain_id is not None:
            heads_query = heads_query.where(AuditHead.chain_id == chain_id)
            headless = headless.where(Tenant.id == chain_id)
        heads = list((await session.execute(heads_query)).scalars())
        known = {head.chain_id for head in heads}
        orphans_query = select(AuditLog.chain_id).where(AuditLog.chain_id.not_in(known))
        if chain_id is not None:
            orphans_query = orphans_query.where(AuditLog.chain_id == chain_id)
        orphans = set((await session.execute(orphans_query.distinct())).scalars())
        breaks.extend(
            ChainBreak(orphan, None, None, "rows without a chain head") for orphan in orphans
        )
        breaks.extend(
            ChainBreak(tenant, None, None, MISSING_HEAD)
            for tenant in (await session.execute(headless.order_by(Tenant.id))).scalars()
            if tenant not in orphans
        )
        for done, head in enumerate(heads, start=1):
            rows = await _chain_rows(session, head.chain_id)
            problem = verify_chain(key, head, rows, opener(cipher))
            if problem is not None:
                breaks.append(problem)
            if progress is not None:
                progress("audit chains verified", done, len(heads))
    return sorted(breaks, key=lambda problem: problem.chain_id)


async def sign_heads(database: Database, key: bytes, cipher: FieldCipher | None) -> list[AuditHead]:
    """Sign every unsigned head (written before revision 0005) whose rows verify
    against it; the heads signed. Heads with a wrong MAC or broken rows are left
    as they are, for :func:`verify` to report."""
    signed: list[AuditHead] = []
    async with database.transaction(write=False, every_tenant=AUDIT_ADMINISTRATION) as session:
        unsigned = select(AuditHead.chain_id).where(AuditHead.head_mac.is_(None))
        chains = list((await session.execute(unsigned.order_by(AuditHead.chain_id))).scalars())
    for chain_id in chains:
        async with database.transaction(every_tenant=AUDIT_ADMINISTRATION) as session:
            head = (
                await session.execute(
                    select(AuditHead).where(AuditHead.chain_id == chain_id).with_for_update()
                )
            ).scalar_one()
            if head_status(key, head) is not HeadStatus.UNSIGNED:
                continue
            rows = await _chain_rows(session, chain_id)
            if verify_rows(key, head, rows, opener(cipher)) is None:
                sign_head(key, head)
                signed.append(head)
    return signed


async def prune(
    database: Database, key: bytes, older_than: datetime, progress: Progress | None = None
) -> dict[int, int]:
    """Delete rows created before ``older_than``; rows removed per chain. The moved
    base is signed only when the head was authentic before (never launders a
    forged or unsigned head). ``progress`` is called after each chain with (what,
    chains done, chains in all)."""
    removed: dict[int, int] = {}
    async with database.transaction(write=False, every_tenant=AUDIT_ADMINISTRATION) as session:
        chains = list((await session.execute(select(AuditHead.chain_id))).scalars())
    for done, chain_id in enumerate(chains, start=1):
        if progress is not None and done > 1:
            progress("audit chains pruned", done - 1, len(chains))
        async with database.transaction(every_tenant=AUDIT_ADMINISTRATION) as session:
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
            authentic = head_status(key, head) is HeadStatus.SIGNED
            result = await session.execute(
                delete(AuditLog).where(AuditLog.chain_id == chain_id, AuditLog.seq <= last.seq)
            )
            head.base_seq, head.base_hash = last.seq, last.row_hash
            if authentic:
                sign_head(key, head)
            removed[chain_id] = int(getattr(result, "rowcount", 0))
    if progress is not None:
        progress("audit chains pruned", len(chains), len(chains))
    return removed
