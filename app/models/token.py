"""Token families and refresh tokens.

A *family* is one login (one ``POST /api/token``); every access and refresh token
descended from it carries its id. Revoking the family (replay of a spent refresh
token, or ``/api/token/revoke``) kills all of them at once. Each refresh token is a
row, spent exactly once (``UPDATE ... WHERE used_at IS NULL``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, TenantOwned


class TokenFamily(TenantOwned, CreatedAtMixin, Base):
    __tablename__ = "token_families"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    scope: Mapped[str] = mapped_column(String(16), nullable=False)
    key_generation: Mapped[int] = mapped_column(Integer, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RefreshToken(CreatedAtMixin, Base):
    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    family_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("token_families.id", ondelete="CASCADE"), nullable=False, index=True
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
