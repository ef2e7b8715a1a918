"""Authenticated audit chain heads, and a head for every tenant.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Reviewed notes:
* ``audit_heads.head_mac`` is HMAC-SHA256 under the audit key over the chain id, the
  head (seq, hash) and the base (seq, hash) (``app/audit/chain.py``). Deleting the
  newest rows and resetting the head, or deleting the oldest rows and moving the base,
  now breaks verification.
* A migration cannot know the audit key, so existing heads stay ``NULL`` ("unsigned,
  pre-0005"). ``auth-server audit verify`` reports them as breaks until an operator
  runs ``auth-server audit verify --sign`` once, which signs a head only after its
  rows verify against it. Appends never sign an unsigned head (that would let someone
  who truncated a chain and cleared its MAC have the next write launder it).
* Every tenant gets a head when it is created; tenants that have none yet (no audited
  event so far) get an unsigned genesis head here, so ``verify`` can report a tenant
  whose chain was deleted whole.
* Downgrade drops the column; the genesis heads stay (they are what the first append
  would have created).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64


def upgrade() -> None:
    with op.batch_alter_table("audit_heads") as batch:
        batch.add_column(sa.Column("head_mac", sa.String(length=64), nullable=True))
    op.execute(
        sa.text(
            "INSERT INTO audit_heads (chain_id, seq, head_hash, base_seq, base_hash) "
            "SELECT id, 0, :genesis, 0, :genesis FROM tenants "
            "WHERE id NOT IN (SELECT chain_id FROM audit_heads)"
        ).bindparams(genesis=GENESIS_HASH)
    )


def downgrade() -> None:
    with op.batch_alter_table("audit_heads") as batch:
        batch.drop_column("head_mac")
