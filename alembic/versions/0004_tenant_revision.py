"""Tenant revisions: a counter every write transaction of a tenant bumps.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

Reviewed notes:
* ``tenants.revision`` grows by one in every transaction that changes what a decision
  about the tenant may answer (roles, grants, memberships, API keys, settings,
  rotation, recovery, disabling). Decision snapshots are tagged with it: a process
  answers from memory only while its snapshot's revision is the stored one.
* Existing tenants start at 0; the server default keeps inserts that do not name the
  column valid.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column("revision", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("revision")
