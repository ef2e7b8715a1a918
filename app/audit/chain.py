"""The per-tenant hash chain of the audit trail.

``row_hash = HMAC-SHA256(audit key, prev_hash || "\\n" || canonical(row))`` where
``canonical`` is compact, key-sorted JSON of the row's recorded fields, with the
timestamp in a fixed UTC format (identical on SQLite and PostgreSQL).

:func:`append` locks the chain's head row (``FOR UPDATE`` on PostgreSQL; SQLite's
write transaction is exclusive), so concurrent writers of one chain get consecutive
``seq`` values and each links to its predecessor. It runs in the caller's
transaction: the audit row commits or rolls back with the change it describes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db_ops import insert_ignore
from app.models import AuditHead, AuditLog
from app.models.audit import GENESIS_HASH
from app.utc import as_utc


@dataclass(frozen=True, slots=True)
class AuditEvent:
    chain_id: int
    action: str
    entity_type: str
    resource: str | None
    details: dict[str, Any]
    success: bool
    user_fingerprint: str | None
    ip_address: str | None
    user_agent: str | None
    request_id: str | None


def timestamp_text(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row: AuditLog) -> bytes:
    fields = {
        "chain_id": row.chain_id,
        "seq": row.seq,
        "created_at": timestamp_text(row.created_at),
        "action": row.action,
        "entity_type": row.entity_type,
        "resource": row.resource,
        "details": row.details,
        "success": bool(row.success),
        "user_fingerprint": row.user_fingerprint,
        "ip_address": row.ip_address,
        "user_agent": row.user_agent,
        "request_id": row.request_id,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")


def row_hash(key: bytes, prev_hash: str, row: AuditLog) -> str:
    return hmac.new(
        key, prev_hash.encode("ascii") + b"\n" + canonical(row), hashlib.sha256
    ).hexdigest()


async def _locked_head(session: AsyncSession, chain_id: int) -> AuditHead:
    statement = (
        select(AuditHead)
        .where(AuditHead.chain_id == chain_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    head = (await session.execute(statement)).scalar_one_or_none()
    if head is None:
        await insert_ignore(
            session,
            AuditHead,
            {
                "chain_id": chain_id,
                "seq": 0,
                "head_hash": GENESIS_HASH,
                "base_seq": 0,
                "base_hash": GENESIS_HASH,
            },
            ["chain_id"],
        )
        head = (await session.execute(statement)).scalar_one()
    return head


async def append(session: AsyncSession, key: bytes, event: AuditEvent) -> AuditLog:
    head = await _locked_head(session, event.chain_id)
    row = AuditLog(
        chain_id=event.chain_id,
        seq=head.seq + 1,
        created_at=datetime.now(UTC),
        action=event.action,
        entity_type=event.entity_type,
        resource=event.resource,
        details=json.dumps(event.details, sort_keys=True, separators=(",", ":")),
        success=event.success,
        user_fingerprint=event.user_fingerprint,
        ip_address=event.ip_address,
        user_agent=event.user_agent,
        request_id=event.request_id,
        prev_hash=head.head_hash,
    )
    row.row_hash = row_hash(key, head.head_hash, row)
    session.add(row)
    head.seq = row.seq
    head.head_hash = row.row_hash
    await session.flush()
    return row


@dataclass(frozen=True, slots=True)
class ChainBreak:
    chain_id: int
    seq: int | None
    row_id: int | None
    problem: str

    def __str__(self) -> str:
        where = f"chain {self.chain_id}"
        if self.seq is not None:
            where += f", seq {self.seq}"
        if self.row_id is not None:
            where += f" (row id {self.row_id})"
        return f"{where}: {self.problem}"


def verify_rows(key: bytes, head: AuditHead, rows: list[AuditLog]) -> ChainBreak | None:
    """Check one chain's rows (ordered by seq) against its head; first break or None."""
    expected_seq, prev = head.base_seq, head.base_hash
    for row in rows:
        if row.seq != expected_seq + 1:
            problem = (
                f"row(s) {expected_seq + 1}..{row.seq - 1} removed"
                if row.seq > expected_seq + 1
                else "row out of order"
            )
            return ChainBreak(row.chain_id, expected_seq + 1, row.id, problem)
        if row.prev_hash != prev:
            return ChainBreak(
                row.chain_id, row.seq, row.id, "row reordered or predecessor replaced"
            )
        if row.row_hash != row_hash(key, prev, row):
            return ChainBreak(row.chain_id, row.seq, row.id, "row altered")
        expected_seq, prev = row.seq, row.row_hash
    if expected_seq != head.seq or prev != head.head_hash:
        return ChainBreak(head.chain_id, expected_seq + 1, None, "newest row(s) removed")
    return None
