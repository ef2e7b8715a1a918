"""Signed head documents: anchoring the audit trail outside the database.

``auth-server audit head`` prints a :func:`head_document`: every chain's head (seq,
row hash, time of that row), signed with HMAC-SHA256 under the audit key. The operator
keeps it outside the database (a ticket, a WORM bucket, a printout). Later,
``auth-server audit verify --since-head FILE`` (:func:`check_since`) checks that every
chain of the document still reaches at least that head, through that very row:

* a chain whose head row (or everything) was deleted, then re-headed at an older row
  with an old, genuine head MAC (a replay the head MAC alone cannot tell) is caught;
* pruning is not a break: a base that moved past the anchored row is signed by the
  service, and the rows from there on still verify.

The document proves nothing about rows written after it; take one regularly. A
document that was edited (or signed with another key) is refused as a whole.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.chain import ChainBreak, timestamp_text
from app.models import AuditHead, AuditLog
from app.utc import utcnow

DOCUMENT_FORMAT = "auth-audit-head/v1"
DOCUMENT_CONTEXT = b"auth audit head document v1\n"


class HeadDocumentError(ValueError):
    """The head document is unreadable, of another format, or its signature fails."""


@dataclass(frozen=True, slots=True)
class Anchor:
    chain_id: int
    seq: int
    hash: str


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _signature(key: bytes, body: dict[str, Any]) -> str:
    return hmac.new(key, DOCUMENT_CONTEXT + _canonical(body), hashlib.sha256).hexdigest()


async def head_document(session: AsyncSession, key: bytes) -> dict[str, Any]:
    """Every chain's current head, signed: ``{"format", "created_at", "chains":
    [{"chain_id", "seq", "hash", "time"}], "signature"}`` (``time`` is when the head
    row was written; ``null`` for an empty chain)."""
    heads = (await session.execute(select(AuditHead).order_by(AuditHead.chain_id))).scalars()
    chains: list[dict[str, Any]] = []
    for head in heads:
        written = await session.scalar(
            select(AuditLog.created_at).where(
                AuditLog.chain_id == head.chain_id, AuditLog.seq == head.seq
            )
        )
        chains.append(
            {
                "chain_id": head.chain_id,
                "seq": head.seq,
                "hash": head.head_hash,
                "time": timestamp_text(written) if written is not None else None,
            }
        )
    body: dict[str, Any] = {
        "format": DOCUMENT_FORMAT,
        "created_at": timestamp_text(utcnow()),
        "chains": chains,
    }
    return body | {"signature": _signature(key, body)}


def read_document(key: bytes, text: str) -> list[Anchor]:
    """The anchors of a head document; raises :class:`HeadDocumentError` unless it is
    well formed and its signature verifies under ``key``."""
    try:
        document = json.loads(text)
        body = {name: value for name, value in document.items() if name != "signature"}
        signature = document["signature"]
        if document["format"] != DOCUMENT_FORMAT or not isinstance(signature, str):
            raise HeadDocumentError(f"not an audit head document ({DOCUMENT_FORMAT})")
        if not hmac.compare_digest(signature, _signature(key, body)):
            raise HeadDocumentError(
                "the head document's signature does not verify: it was altered, "
                "or signed with another audit key"
            )
        return [
            Anchor(int(chain["chain_id"]), int(chain["seq"]), str(chain["hash"]))
            for chain in document["chains"]
        ]
    except HeadDocumentError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise HeadDocumentError(f"not an audit head document ({DOCUMENT_FORMAT})") from exc


async def check_since(
    session: AsyncSession, anchors: list[Anchor], chain_id: int | None = None
) -> list[ChainBreak]:
    """Breaks where a chain no longer reaches its anchored head (see module doc)."""
    breaks: list[ChainBreak] = []
    for anchor in anchors:
        if chain_id is not None and anchor.chain_id != chain_id:
            continue
        problem = await _check_anchor(session, anchor)
        if problem is not None:
            breaks.append(ChainBreak(anchor.chain_id, anchor.seq, None, problem))
    return breaks


async def _check_anchor(session: AsyncSession, anchor: Anchor) -> str | None:
    head = await session.get(AuditHead, anchor.chain_id)
    if head is None:
        return "chain deleted since the head document"
    if head.seq < anchor.seq:
        return f"chain truncated since the head document (head now at seq {head.seq})"
    if anchor.seq < head.base_seq:
        return None  # pruned past the anchor; the signed base and the rows verify
    stored: str | None
    if anchor.seq == head.base_seq:
        stored = head.base_hash
    else:
        stored = await session.scalar(
            select(AuditLog.row_hash).where(
                AuditLog.chain_id == anchor.chain_id, AuditLog.seq == anchor.seq
            )
        )
    if stored is None:
        return "the anchored row was deleted since the head document"
    if stored != anchor.hash:
        return "the anchored row was replaced since the head document"
    return None
