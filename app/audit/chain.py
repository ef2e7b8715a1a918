"""The per-tenant hash chain of the audit trail.

``row_hash = HMAC-SHA256(audit key, prev_hash || "\\n" || canonical(row))`` where
``canonical`` is compact, key-sorted JSON of the row's recorded fields, with the
timestamp in a fixed UTC format (identical on SQLite and PostgreSQL).

With encryption on, ``resource`` (role, ``role:permission``, key id...) is stored
sealed (``enc:v1:...``) while the hash covers its plaintext. Sealing is randomised and
re-encryption (``auth-server encryption rotate|enable``) rewrites the stored form, so
the chain is bound to what the row says, not to its ciphertext: any other plaintext,
or a value no configured key opens, breaks the chain at that row.

:func:`append` locks the chain's head row (``FOR UPDATE`` on PostgreSQL; SQLite's
write transaction is exclusive), so concurrent writers of one chain get consecutive
``seq`` values and each links to its predecessor. It runs in the caller's
transaction: the audit row commits or rolls back with the change it describes. The
session must be bound to the chain's tenant (:mod:`app.db.tenant_guard`; the system
chain 0 binds like a tenant), or be on an operator path.

Each head is authenticated: ``head_mac = HMAC-SHA256(audit key, "auth audit head v1"
|| canonical(chain_id, seq, head_hash, base_seq, base_hash))``, so its end (newest row)
and its base (where pruning stopped) cannot be moved without the key. An append or a
prune re-signs a head only when its MAC verified before the change: a head that is
unsigned (written before revision 0005) or altered keeps its missing or wrong MAC, and
``audit verify`` keeps reporting it (see :func:`head_status`). Every tenant gets a
signed genesis head when it is created (:func:`open_chain`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.statements import insert_ignore
from app.db.tenant_guard import require_tenant
from app.models import AuditHead, AuditLog
from app.models.audit import GENESIS_HASH
from app.security.cipher import StoredDataCorrupt
from app.utc import as_utc, utcnow

Transform = Callable[[str], str]
"""Seals (on write) or opens (on read) a resource; identity without encryption."""


def _same(value: str) -> str:
    return value


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


def canonical(row: AuditLog, resource: str | None) -> bytes:
    """The hashed form of ``row``, with the plaintext ``resource``."""
    fields = {
        "chain_id": row.chain_id,
        "seq": row.seq,
        "created_at": timestamp_text(row.created_at),
        "action": row.action,
        "entity_type": row.entity_type,
        "resource": resource,
        "details": row.details,
        "success": bool(row.success),
        "user_fingerprint": row.user_fingerprint,
        "ip_address": row.ip_address,
        "user_agent": row.user_agent,
        "request_id": row.request_id,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")


def row_hash(key: bytes, prev_hash: str, row: AuditLog, resource: str | None) -> str:
    return hmac.new(
        key, prev_hash.encode("ascii") + b"\n" + canonical(row, resource), hashlib.sha256
    ).hexdigest()


HEAD_MAC_CONTEXT = b"auth audit head v1\n"


class HeadStatus(StrEnum):
    SIGNED = "signed"
    UNSIGNED = "unsigned"
    FORGED = "forged"


def head_mac(
    key: bytes, chain_id: int, seq: int, head_hash: str, base_seq: int, base_hash: str
) -> str:
    fields = {
        "chain_id": chain_id,
        "seq": seq,
        "head_hash": head_hash,
        "base_seq": base_seq,
        "base_hash": base_hash,
    }
    message = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("ascii")
    return hmac.new(key, HEAD_MAC_CONTEXT + message, hashlib.sha256).hexdigest()


def expected_mac(key: bytes, head: AuditHead) -> str:
    return head_mac(key, head.chain_id, head.seq, head.head_hash, head.base_seq, head.base_hash)


def head_status(key: bytes, head: AuditHead) -> HeadStatus:
    if head.head_mac is None:
        return HeadStatus.UNSIGNED
    if hmac.compare_digest(head.head_mac, expected_mac(key, head)):
        return HeadStatus.SIGNED
    return HeadStatus.FORGED


def sign_head(key: bytes, head: AuditHead) -> None:
    head.head_mac = expected_mac(key, head)


def _genesis(key: bytes, chain_id: int) -> dict[str, Any]:
    return {
        "chain_id": chain_id,
        "seq": 0,
        "head_hash": GENESIS_HASH,
        "base_seq": 0,
        "base_hash": GENESIS_HASH,
        "head_mac": head_mac(key, chain_id, 0, GENESIS_HASH, 0, GENESIS_HASH),
    }


async def open_chain(session: AsyncSession, key: bytes, chain_id: int) -> None:
    """Give ``chain_id`` its signed, empty head unless it has one (idempotent)."""
    await insert_ignore(session, AuditHead, _genesis(key, chain_id), ["chain_id"])


async def locked_head(session: AsyncSession, key: bytes, chain_id: int) -> AuditHead:
    """The chain's head, locked for update; a signed genesis head when it has none.
    Raises :class:`~app.db.tenant_guard.TenancyViolation` unless the session may write
    the chain."""
    require_tenant(session, chain_id)
    statement = (
        select(AuditHead)
        .where(AuditHead.chain_id == chain_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    head = (await session.execute(statement)).scalar_one_or_none()
    if head is None:
        await open_chain(session, key, chain_id)
        head = (await session.execute(statement)).scalar_one()
    return head


async def append(
    session: AsyncSession, key: bytes, event: AuditEvent, seal: Transform = _same
) -> AuditLog:
    head = await locked_head(session, key, event.chain_id)
    authentic = head_status(key, head) is HeadStatus.SIGNED
    row = AuditLog(
        chain_id=event.chain_id,
        seq=head.seq + 1,
        created_at=utcnow(),
        action=event.action,
        entity_type=event.entity_type,
        resource=seal(event.resource) if event.resource is not None else None,
        details=json.dumps(event.details, sort_keys=True, separators=(",", ":")),
        success=event.success,
        user_fingerprint=event.user_fingerprint,
        ip_address=event.ip_address,
        user_agent=event.user_agent,
        request_id=event.request_id,
        prev_hash=head.head_hash,
    )
    row.row_hash = row_hash(key, head.head_hash, row, event.resource)
    session.add(row)
    head.seq = row.seq
    head.head_hash = row.row_hash
    if authentic:  # never sign over a head that was unsigned or altered
        sign_head(key, head)
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


UNSIGNED_PROBLEM = (
    "chain head not signed (written before revision 0005): "
    "sign it once with `auth-server audit verify --sign`"
)
FORGED_PROBLEM = "chain head or base altered (head MAC mismatch)"


def verify_chain(
    key: bytes, head: AuditHead, rows: list[AuditLog], open_resource: Transform = _same
) -> ChainBreak | None:
    """Check one chain: its head's MAC, then its rows (ordered by seq) against the head.

    A forged MAC comes first (the head cannot anchor anything); an unsigned head is
    reported only when the rows verify against it (it can then be signed)."""
    status = head_status(key, head)
    if status is HeadStatus.FORGED:
        return ChainBreak(head.chain_id, None, None, FORGED_PROBLEM)
    problem = verify_rows(key, head, rows, open_resource)
    if problem is None and status is HeadStatus.UNSIGNED:
        return ChainBreak(head.chain_id, None, None, UNSIGNED_PROBLEM)
    return problem


def verify_rows(
    key: bytes, head: AuditHead, rows: list[AuditLog], open_resource: Transform = _same
) -> ChainBreak | None:
    """Check one chain's rows (ordered by seq) against its head (not its MAC); first
    break or None."""
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
        try:
            resource = open_resource(row.resource) if row.resource is not None else None
        except StoredDataCorrupt:
            problem = "row altered (its resource opens under no configured key)"
            return ChainBreak(row.chain_id, row.seq, row.id, problem)
        if row.row_hash != row_hash(key, prev, row, resource):
            return ChainBreak(row.chain_id, row.seq, row.id, "row altered")
        expected_seq, prev = row.seq, row.row_hash
    if expected_seq != head.seq or prev != head.head_hash:
        return ChainBreak(head.chain_id, expected_seq + 1, None, "newest row(s) removed")
    return None
