"""``GET /api/audit``: the caller's own audit trail, newest first. HTTP only.

The query runs in the caller's :class:`~app.tenants.tenancy.Tenancy`: its session
reaches the caller's chain and no other.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.audit.schemas import AuditEntry, AuditPage
from app.audit.service import AuditFilter, trail_page
from app.deps import TenancyDep
from app.paging import AUDIT_DEFAULT_LIMIT
from app.paging.request import PageRequest, listing_responses, paging
from app.responses import Wrapped, problem_examples, wrapped
from app.utc import RequestUtcDateTime

MAX_OFFSET = 1_000_000_000
"""Larger offsets would overflow the databases' 64-bit OFFSET; no trail is that long."""

router = APIRouter(prefix="/api", tags=["audit"], responses=problem_examples(400, 401))


AuditPageDep = Annotated[PageRequest, Depends(paging(AUDIT_DEFAULT_LIMIT))]


@router.get(
    "/audit",
    response_model=Wrapped[AuditPage],
    summary="This tenant's audit trail, newest first",
    description="Users appear as keyed fingerprints; no key or secret is ever recorded. "
    "With encryption on, resources are stored encrypted and shown here opened. "
    "Newest first (time, then entry id). Paged: `limit` (1..1000, default 50) and "
    "`cursor` (from `data.next_cursor` or the `Link` header; bound to the filters), or "
    "the older `offset`. When more entries follow, `data.next_cursor` and "
    '`Link: <...&cursor=...>; rel="next"` are present.',
    responses=listing_responses(),
)
async def list_audit(
    tenancy: TenancyDep,
    page: AuditPageDep,
    offset: Annotated[
        int,
        Query(ge=0, le=MAX_OFFSET, description="Entries to skip (not together with `cursor`)."),
    ] = 0,
    action: Annotated[
        str | None, Query(pattern=r"^[A-Za-z_]{1,48}$", description="Case-insensitive.")
    ] = None,
    entity_type: Annotated[str | None, Query(pattern=r"^[A-Za-z_]{1,32}$")] = None,
    since: Annotated[RequestUtcDateTime | None, Query(description="ISO-8601; inclusive.")] = None,
    until: Annotated[RequestUtcDateTime | None, Query(description="ISO-8601; exclusive.")] = None,
) -> Wrapped[AuditPage]:
    total, entries = await trail_page(
        tenancy.session,
        AuditFilter(action=action, entity_type=entity_type, since=since, until=until),
        page.window(str, int, offset=offset),
        offset=offset,
        cipher=tenancy.cipher,
    )
    answer = AuditPage(
        total=total,
        limit=page.limit,
        offset=offset,
        entries=[AuditEntry.model_validate(shown) for shown in entries.items],
        next_cursor=page.finish(entries),
    )
    return wrapped(answer, "Audit entries retrieved")
