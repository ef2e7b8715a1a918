"""Identity: per-user API keys, strict users, key rotation, tokens, closed registration.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

Reviewed notes:
* tenants gain key_generation (bumped at each client-key swap; tokens carry it),
  rotate_key_hash (the recovery key's HMAC, unique), strict_users (NULL = server
  default), label / operator_created / disabled_at for operator-managed tenants.
  Existing rows get generation 1 and operator_created false via server defaults.
* retired_client_keys remembers rotated-away key hashes so they answer 401 instead
  of opening a fresh tenant in open-registration mode.
* api_keys stores only the secret's HMAC (unique) and its display prefix; the user
  is found by its blind index (user_key), user_name/label may hold ciphertext.
* token_families / refresh_tokens make refresh tokens single-use and revocable as a
  family.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
    )


def _created_at() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column("key_generation", sa.Integer(), server_default=sa.text("1"), nullable=False)
        )
        batch.add_column(sa.Column("rotate_key_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("strict_users", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("label", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("operator_created", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_unique_constraint(op.f("uq_tenants_rotate_key_hash"), ["rotate_key_hash"])

    op.create_table(
        "retired_client_keys",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", BigId, nullable=False),
        _created_at(),
        _tenant_fk("retired_client_keys"),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_retired_client_keys")),
    )
    op.create_index(
        op.f("ix_retired_client_keys_tenant_id"), "retired_client_keys", ["tenant_id"]
    )

    op.create_table(
        "api_keys",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("tenant_id", BigId, nullable=False),
        sa.Column("key_id", sa.String(length=36), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_prefix", sa.String(length=12), nullable=False),
        sa.Column("user_key", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        _tenant_fk("api_keys"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_keys_key_id")),
    )
    op.create_index("ix_api_keys_tenant_id_user_key", "api_keys", ["tenant_id", "user_key"])

    op.create_table(
        "token_families",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", BigId, nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key_generation", sa.Integer(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        _tenant_fk("token_families"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_families")),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("jti", sa.String(length=36), nullable=False),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["token_families.id"],
            name=op.f("fk_refresh_tokens_family_id_token_families"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_refresh_tokens")),
    )
    op.create_index(op.f("ix_refresh_tokens_family_id"), "refresh_tokens", ["family_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_refresh_tokens_family_id"), table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_table("token_families")
    op.drop_index("ix_api_keys_tenant_id_user_key", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_index(op.f("ix_retired_client_keys_tenant_id"), table_name="retired_client_keys")
    op.drop_table("retired_client_keys")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_constraint(op.f("uq_tenants_rotate_key_hash"), type_="unique")
        batch.drop_column("disabled_at")
        batch.drop_column("operator_created")
        batch.drop_column("label")
        batch.drop_column("strict_users")
        batch.drop_column("rotate_key_hash")
        batch.drop_column("key_generation")
