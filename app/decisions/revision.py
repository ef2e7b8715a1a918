"""Tenant revisions: bumped in every transaction that changes what a decision may answer.

:func:`bump_revision` runs in the caller's transaction (the change and its revision
commit together, or neither does). The new revision is remembered on the session
(``session.info``) so the request boundary can answer it as ``Auth-Revision``
(:func:`app.deps.get_session`; a write that changed nothing answers the tenant's
current revision, :func:`current_revision`). On
PostgreSQL it also sends ``NOTIFY auth_revisions, '<tenant>:<revision>'``, delivered
to listening replicas when the transaction commits (never before, never if it rolls
back); see :mod:`app.decisions.listener`.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Tenant

CHANNEL = "auth_revisions"
REVISION_INFO_KEY = "auth_revision"


async def bump_revision(
    session: AsyncSession, tenant_id: int, *, locked: Tenant | None = None
) -> int:
    """Add one to the tenant's revision; the new value. ``locked``: the tenant's row,
    already loaded ``FOR UPDATE`` in this transaction, whose pending changes then go
    out in the same UPDATE as the revision."""
    if locked is not None:
        locked.revision += 1
        await session.flush()
        revision = locked.revision
    else:
        statement = (
            update(Tenant)
            .where(Tenant.id == tenant_id)
            .values(revision=Tenant.revision + 1)
            .returning(Tenant.revision)
        )
        revision = int((await session.execute(statement)).scalar_one())
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_notify(CHANNEL, f"{tenant_id}:{revision}")))
    session.info[REVISION_INFO_KEY] = revision
    return revision


def session_revision(session: AsyncSession) -> int | None:
    """The revision the session's transaction wrote, if it bumped one."""
    value = session.info.get(REVISION_INFO_KEY)
    return value if isinstance(value, int) else None


async def current_revision(session: AsyncSession, tenant_id: int) -> int | None:
    """The tenant's stored revision, read in the session's transaction."""
    found = await session.scalar(select(Tenant.revision).where(Tenant.id == tenant_id))
    return None if found is None else int(found)
