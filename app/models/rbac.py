"""Roles, memberships and permission grants.

Shape of the hot path (``has_permission``): one query, two unique-index probes::

    memberships (tenant_id, user_key, role_id)   -> the user's role ids
    grants      (role_id, permission_key)        -> does any of them hold P

``user_key`` / ``permission_key`` are keyed blind-index values (see
:mod:`app.security.cipher`); ``user_name`` / ``permission`` hold the displayed value,
Fernet-encrypted when encryption is on.

Deleting a role cascades (ON DELETE CASCADE) to its memberships and grants, so a
re-created role starts empty. Unique constraints make identical concurrent writes
collapse into one row (inserts use ON CONFLICT DO NOTHING).
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, CreatedAtMixin, IdMixin, TenantOwned

ROLE_NAME_LENGTH = 64


class Role(IdMixin, TenantOwned, CreatedAtMixin, Base):
    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(ROLE_NAME_LENGTH), nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)


class Membership(IdMixin, TenantOwned, CreatedAtMixin, Base):
    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_key", "role_id"),
        Index("ix_memberships_role_id", "role_id"),
    )

    role_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("roles.id", ondelete="CASCADE"), nullable=False
    )
    user_key: Mapped[str] = mapped_column(String(64), nullable=False)
    user_name: Mapped[str] = mapped_column(Text, nullable=False)


class Grant(IdMixin, TenantOwned, CreatedAtMixin, Base):
    """A permission held by a role."""

    __tablename__ = "grants"
    __table_args__ = (
        UniqueConstraint("role_id", "permission_key"),
        Index("ix_grants_tenant_id_permission_key", "tenant_id", "permission_key"),
    )

    role_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("roles.id", ondelete="CASCADE"), nullable=False
    )
    permission_key: Mapped[str] = mapped_column(String(64), nullable=False)
    permission: Mapped[str] = mapped_column(Text, nullable=False)
