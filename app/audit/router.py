"""``GET /api/audit``: the caller's own audit trail, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from app.audit.schemas import AuditEntry, AuditPage
from app.audit.service import AuditFilter, entry, query
from app.deps import PrincipalDep, SessionDep, StateDep
from app.responses import Wrapped, problem_examples, wrapped
from app.utc import as_utc

router = APIRouter(prefix="/api", tags=["audit"], responses=problem_examples(400, 401))


@router.get(
    "/audit",
    response_model=Wrapped[AuditPage],
    summary="This tenant's audit trail, newest first",
    description=(
        "Users appear as keyed fingerprints; no key or secret is ever recorded. With "
        "encryption on, resources are stored encrypted and shown here opened."
    ),
)
async def list_audit(
    principal: PrincipalDep,
    session: SessionDep,
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    action: Annotated[
        str | None, Query(pattern=r"^[A-Za-z_]{1,48}$", description="Case-insensitive.")
    ] = None,
    entity_type: Annotated[str | None, Query(pattern=r"^[A-Za-z_]{1,32}$")] = None,
    since: Annotated[datetime | None, Query(description="ISO-8601; inclusive.")] = None,
    until: Annotated[datetime | None, Query(description="ISO-8601; exclusive.")] = None,
) -> Wrapped[AuditPage]:
    audit_filter = AuditFilter(
        chain_id=principal.tenant_id,
        action=action,
        entity_type=entity_type,
        since=as_utc(since) if since else None,
        until=as_utc(until) if until else None,
    )
    total, rows = await query(session, audit_filter, limit=limit, offset=offset)
    page = AuditPage(
        total=total,
        limit=limit,
        offset=offset,
        entries=[AuditEntry.model_validate(entry(row, cipher=state.cipher)) for row in rows],
    )
    return wrapped(page, "Audit entries retrieved")
