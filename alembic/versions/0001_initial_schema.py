"""Initial schema: tenants, roles, memberships, grants.

Revision ID: 0001
Revises:
Create Date: 2026-11-30

Reviewed notes:
* tenants.key_hash is the HMAC of the client key; the key itself is never stored.
* memberships (tenant_id, user_key, role_id) and grants (role_id, permission_key)
  are unique: they are both the idempotency guarantee and the two index probes of
  the has_permission query. *_key columns hold keyed blind-index values (HMAC), the
  user_name / permission columns the displayed value (Fernet-encrypted when
  encryption is on), hence TEXT.
* role deletion cascades to memberships and grants (ON DELETE CASCADE; SQLite runs
  with PRAGMA foreign_keys=ON).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _id() -> sa.Column:
    return sa.Column("id", BigId, autoincrement=True, nullable=False)


def _created_at() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
    )


def _role_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["role_id"], ["roles.id"], name=op.f(f"fk_{table}_role_id_roles"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "tenants",
        _id(),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_tenants_key_hash")),
    )
    op.create_table(
        "roles",
        _id(),
        sa.Column("tenant_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        _created_at(),
        _tenant_fk("roles"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roles")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_roles_tenant_id_name")),
    )
    op.create_table(
        "grants",
        _id(),
        sa.Column("tenant_id", BigId, nullable=False),
        sa.Column("role_id", BigId, nullable=False),
        sa.Column("permission_key", sa.String(length=64), nullable=False),
        sa.Column("permission", sa.Text(), nullable=False),
        _created_at(),
        _role_fk("grants"),
        _tenant_fk("grants"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grants")),
        sa.UniqueConstraint(
            "role_id", "permission_key", name=op.f("uq_grants_role_id_permission_key")
        ),
    )
    op.create_index(
        "ix_grants_tenant_id_permission_key", "grants", ["tenant_id", "permission_key"]
    )
    op.create_table(
        "memberships",
        _id(),
        sa.Column("tenant_id", BigId, nullable=False),
        sa.Column("role_id", BigId, nullable=False),
        sa.Column("user_key", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.Text(), nullable=False),
        _created_at(),
        _role_fk("memberships"),
        _tenant_fk("memberships"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.UniqueConstraint(
            "tenant_id",
            "user_key",
            "role_id",
            name=op.f("uq_memberships_tenant_id_user_key_role_id"),
        ),
    )
    op.create_index("ix_memberships_role_id", "memberships", ["role_id"])


def downgrade() -> None:
    op.drop_index("ix_memberships_role_id", table_name="memberships")
    op.drop_table("memberships")
    op.drop_index("ix_grants_tenant_id_permission_key", table_name="grants")
    op.drop_table("grants")
    op.drop_table("roles")
    op.drop_table("tenants")
