"""Declarative base with a naming convention, so Alembic names every constraint."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.utc import utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# 64-bit keys on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)


class CreatedAtMixin:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, nullable=False
    )


class TenantOwned:
    """Rows that belong to one tenant, named by the mapped attribute ``tenant_id``: a
    foreign key to ``tenants.id`` (deleted with its tenant), unless the model maps
    ``tenant_id`` onto a column of its own (the audit trail's ``chain_id``).

    Every session restricts its statements on these models to its tenant
    (:mod:`app.db.tenant_guard`); a service never writes ``tenant_id = ...`` itself.
    """

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
