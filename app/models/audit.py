"""The audit trail: append-only rows, hash-chained per tenant.

``chain_id`` is the tenant id (0 for events that belong to no tenant, such as a
failed authentication with an unknown credential); both tables map it as their
``tenant_id`` (:class:`~app.models.base.TenantOwned`), so a tenant's session reads its
own chain only and the system chain is read by operators alone. Within a chain ``seq`` grows by
one per row and ``row_hash = HMAC(audit key, prev_hash + canonical row)``, so an
edited, removed or reordered row breaks the chain at that point.
``audit_heads`` holds each chain's last ``seq``/hash (locked by every append, which
serialises writers of one chain) and the ``base`` left behind by pruning, authenticated
by ``head_mac`` (HMAC under the audit key over chain, head and base; ``NULL`` for a
head written before revision 0005 and not yet signed). Every tenant has a head from
its creation on, so a chain deleted whole is missed by ``audit verify``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, synonym

from app.models.base import Base, BigId, IdMixin, TenantOwned

GENESIS_HASH = "0" * 64


class AuditLog(IdMixin, TenantOwned, Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        UniqueConstraint("chain_id", "seq"),
        Index("ix_audit_log_chain_id_created_at", "chain_id", "created_at"),
    )

    chain_id: Mapped[int] = mapped_column(BigId, nullable=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    action: Mapped[str] = mapped_column(String(48), nullable=False)
    entity_type: Mapped[str] = mapped_column(String(32), nullable=False)
    resource: Mapped[str | None] = mapped_column(Text, nullable=True)
    details: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    success: Mapped[bool] = mapped_column(Boolean, nullable=False)
    user_fingerprint: Mapped[str | None] = mapped_column(String(40), nullable=True)
    ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(256), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    row_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    tenant_id: Mapped[int] = synonym("chain_id")


class AuditHead(TenantOwned, Base):
    __tablename__ = "audit_heads"

    chain_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    tenant_id: Mapped[int] = synonym("chain_id")
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    head_hash: Mapped[str] = mapped_column(String(64), nullable=False, default=GENESIS_HASH)
    base_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    base_hash: Mapped[str] = mapped_column(String(64), nullable=False, default=GENESIS_HASH)
    head_mac: Mapped[str | None] = mapped_column(String(64), nullable=True)


class EncryptionState(Base):
    """One row: the encryption canary, written when encryption is first used.

    At start the service decrypts the canary with the configured keys and refuses
    to run if it cannot (wrong key), or if encryption is off while it exists.
    """

    __tablename__ = "encryption_state"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    canary: Mapped[str] = mapped_column(Text, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
