"""Tenants: isolated namespaces, reached by a client key that is never stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, false, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, CreatedAtMixin, IdMixin


class Tenant(IdMixin, CreatedAtMixin, Base):
    """A tenant. ``key_hash`` is HMAC-SHA256(server secret, lower-cased client key).

    All tenant data references ``id``; the client key exists only in the caller's
    hands, so rotation swaps ``key_hash`` and moves no row. ``key_generation`` grows
    by one at every swap: tokens carry the generation they were issued under and die
    with it.
    """

    __tablename__ = "tenants"

    key_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    key_generation: Mapped[int] = mapped_column(
        Integer, default=1, server_default=text("1"), nullable=False
    )
    rotate_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    strict_users: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    """``None`` follows the server default (``AUTH_STRICT_USERS_DEFAULT``)."""
    label: Mapped[str | None] = mapped_column(String(64), nullable=True)
    operator_created: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), nullable=False
    )
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revision: Mapped[int] = mapped_column(
        BigInteger, default=0, server_default=text("0"), nullable=False
    )
    """Grows by one in every transaction that changes what a decision may answer
    (see :mod:`app.decisions`)."""


class RetiredClientKey(CreatedAtMixin, Base):
    """A client key rotated away: refused with 401, never re-registered as a tenant."""

    __tablename__ = "retired_client_keys"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True
    )
