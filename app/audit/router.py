"""``GET /api/audit``: the caller's own audit trail, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.audit.schemas import AuditEntry, AuditPage
from app.audit.service import AuditFilter, entry, query
from app.deps import PrincipalDep, SessionDep
from app.responses import Wrapped, problem_examples, wrapped
from app.utc import RequestUtcDateTime

MAX_OFFSET = 1_000_000_000
"""Larger offsets would overflow the databases' 64-bit OFFSET; no trail is that long."""

router = APIRouter(prefix="/api", tags=["audit"], responses=problem_examples(400, 401))


@router.get(
    "/audit",
    response_model=Wrapped[AuditPage],
    summary="This tenant's audit trail, newest first",
    description="Users appear as keyed fingerprints; no key or secret is ever recorded.",
)
async def list_audit(
    principal: PrincipalDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    action: Annotated[
        str | None, Query(pattern=r"^[A-Za-z_]{1,48}$", description="Case-insensitive.")
    ] = None,
    entity_type: Annotated[str | None, Query(pattern=r"^[A-Za-z_]{1,32}$")] = None,
    since: Annotated[RequestUtcDateTime | None, Query(description="ISO-8601; inclusive.")] = None,
    until: Annotated[RequestUtcDateTime | None, Query(description="ISO-8601; exclusive.")] = None,
) -> Wrapped[AuditPage]:
    audit_filter = AuditFilter(
        chain_id=principal.tenant_id,
        action=action,
        entity_type=entity_type,
        since=since,
        until=until,
    )
    total, rows = await query(session, audit_filter, limit=limit, offset=offset)
    page = AuditPage(
        total=total,
        limit=limit,
        offset=offset,
        entries=[AuditEntry.model_validate(entry(row)) for row in rows],
    )
    return wrapped(page, "Audit entries retrieved")
