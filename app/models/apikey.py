"""Per-user API keys: secrets for a tenant's users, stored only as a keyed hash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin, TenantOwned


class ApiKey(IdMixin, TenantOwned, CreatedAtMixin, Base):
    """One key. Live means: not revoked and not past ``expires_at``."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_tenant_id_user_key", "tenant_id", "user_key"),)

    key_id: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    key_prefix: Mapped[str] = mapped_column(String(12), nullable=False)
    user_key: Mapped[str] = mapped_column(String(64), nullable=False)
    """Blind index of the user id (see :mod:`app.security.cipher`)."""
    user_name: Mapped[str] = mapped_column(Text, nullable=False)
    label: Mapped[str | None] = mapped_column(Text, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
