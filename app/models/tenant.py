"""Tenants: isolated namespaces, reached by a client key that is never stored."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin


class Tenant(IdMixin, CreatedAtMixin, Base):
    """A tenant. ``key_hash`` is HMAC-SHA256(server secret, lower-cased client key).

    All tenant data references ``id``; the client key itself exists only in the
    caller's hands, so swapping ``key_hash`` moves the whole tenant to a new key.
    """

    __tablename__ = "tenants"

    key_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
