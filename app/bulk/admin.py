"""``auth-server import|export`` (operators): the bulk format outside HTTP.

The same parsing, checks and single transaction as ``POST /api/bulk``
(:mod:`app.bulk.records`, :mod:`app.bulk.importer`), recorded in the tenant's audit
chain as ``BULK_IMPORT`` with user agent ``auth-server``; the export is
:mod:`app.bulk.exporter`'s. Each function opens its own engine from the settings and
disposes of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import BinaryIO

from sqlalchemy import func, select

from app.audit.trail import AuditTrail
from app.bulk.exporter import export_lines, snapshot_session
from app.bulk.importer import BulkImporter, Progress
from app.bulk.records import RecordCounts, parse
from app.config import Settings
from app.models import Grant, Membership, Role, Tenant
from app.state import open_state
from app.tenants.admin import OPERATOR
from app.tenants.tenancy import Tenancy


class NoSuchTenant(LookupError):
    def __init__(self, tenant_id: int) -> None:
        super().__init__(f"no tenant with id {tenant_id}")


async def import_records(
    settings: Settings,
    tenant_id: int,
    body: bytes,
    *,
    progress: Progress | None = None,
    step: Callable[[str], None] | None = None,
) -> RecordCounts:
    """Import ``body`` (JSON lines) into the tenant; raises
    :class:`~app.bulk.records.InvalidRecord`, :class:`~app.bulk.importer.MemberNotKeyBacked`
    or :class:`NoSuchTenant`, and then stores nothing."""
    async with open_state(settings) as state:
        if step is not None:
            step("checking the records")
        plan = await asyncio.to_thread(parse, body)
        async with state.database.transaction() as session:
            tenant = await session.get(Tenant, tenant_id)
            if tenant is None:
                raise NoSuchTenant(tenant_id)
            strict = tenant.strict_users
            importer = BulkImporter(
                Tenancy(session, tenant_id, state.cipher),
                AuditTrail.for_state(state, session, tenant_id, OPERATOR),
                strict_users=settings.strict_users_default if strict is None else strict,
                progress=progress,
            )
            return await importer.apply(plan)


async def export_records(
    settings: Settings, tenant_id: int, output: BinaryIO, *, progress: Progress | None = None
) -> int:
    """Write the tenant's JSON lines to ``output``; the number of records."""
    async with open_state(settings) as state, snapshot_session(state.database) as session:
        if await session.get(Tenant, tenant_id) is None:
            raise NoSuchTenant(tenant_id)
        tenancy = Tenancy(session, tenant_id, state.cipher)
        total = 0
        for model in (Role, Grant, Membership):
            statement = select(func.count()).select_from(model)
            total += int((await tenancy.session.execute(statement)).scalar_one())
        written = 0
        if progress is not None:
            progress(written, total)
        async for chunk in export_lines(session, tenant_id, state.cipher):
            output.write(chunk)
            written += chunk.count(b"\n")
            if progress is not None:
                progress(written, total)
        return written
