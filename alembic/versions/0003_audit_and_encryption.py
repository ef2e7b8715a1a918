"""Audit trail (hash-chained per tenant) and the encryption canary.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

Reviewed notes:
* audit_log rows are append-only; (chain_id, seq) is unique so two writers can never
  claim the same place in a chain. No foreign key to tenants: the trail outlives
  anything it describes, and chain 0 holds events of no tenant.
* audit_heads is locked by every append (serialising one chain's writers) and keeps
  the base (seq, hash) that pruning leaves behind so verification still anchors.
* encryption_state holds the canary that proves the configured Fernet keys open the
  stored data.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("chain_id", BigId, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("resource", sa.Text(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("user_fingerprint", sa.String(length=40), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=256), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("chain_id", "seq", name=op.f("uq_audit_log_chain_id_seq")),
    )
    op.create_index("ix_audit_log_chain_id_created_at", "audit_log", ["chain_id", "created_at"])
    op.create_table(
        "audit_heads",
        sa.Column("chain_id", BigId, autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("base_seq", sa.BigInteger(), nullable=False),
        sa.Column("base_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", name=op.f("pk_audit_heads")),
    )
    op.create_table(
        "encryption_state",
        sa.Column("id", BigId, autoincrement=False, nullable=False),
        sa.Column("canary", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_encryption_state")),
    )


def downgrade() -> None:
    op.drop_table("encryption_state")
    op.drop_table("audit_heads")
    op.drop_index("ix_audit_log_chain_id_created_at", table_name="audit_log")
    op.drop_table("audit_log")
