"""``POST /api/bulk`` (import) and ``GET /api/bulk`` (export). HTTP only.

Both need an admin credential (a ``check``-scope token is refused, 403). The import's
body is read and parsed before the tenant is looked up, so a slow upload or a large
parse never holds the database's write lock; its size limit is
``AUTH_BULK_MAX_BODY_BYTES`` (:mod:`app.edge.body_limit`). It counts as one write for
the rate limits. The export streams from a read transaction of its own.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from app.bulk.exporter import export_tenant
from app.bulk.importer import BulkImporter
from app.bulk.records import BULK_PATH, MEDIA_TYPE, RECORD, ImportPlan, parse
from app.deps import AuditDep, StateDep, TenancyDep, WriterDep
from app.errors import PROBLEM_JSON, AppError
from app.responses import Wrapped, problem_examples, wrapped

router = APIRouter(tags=["bulk"], responses=problem_examples(400, 401, 403))


class UnsupportedMediaType(AppError):
    status = 415
    slug = "unsupported-media-type"


class BulkCounts(BaseModel):
    """Records of each type the import applied."""

    roles: int = Field(examples=[2])
    grants: int = Field(examples=[5])
    memberships: int = Field(examples=[1000])


async def import_plan(request: Request) -> ImportPlan:
    """The body, checked and parsed (in a worker thread) into a plan."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != MEDIA_TYPE:
        raise UnsupportedMediaType(f"The body must be JSON lines (Content-Type: {MEDIA_TYPE}).")
    body = await request.body()
    return await asyncio.to_thread(parse, body)


async def bulk_importer(tenancy: TenancyDep, principal: WriterDep, audit: AuditDep) -> BulkImporter:
    return BulkImporter(tenancy, audit, strict_users=principal.strict_users)


PlanDep = Annotated[ImportPlan, Depends(import_plan)]
ImporterDep = Annotated[BulkImporter, Depends(bulk_importer)]


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


RECORD_SCHEMA = RECORD.json_schema()
LINES_EXAMPLE = (
    '{"type": "role", "role": "editors", "description": "Can publish"}\n'
    '{"type": "grant", "role": "editors", "permission": "publish"}\n'
    '{"type": "membership", "user": "alice", "role": "editors"}\n'
)


@router.post(
    BULK_PATH,
    response_model=Wrapped[BulkCounts],
    summary="Import roles, grants and memberships (JSON lines, all or nothing)",
    description=(
        f"Body: `{MEDIA_TYPE}`, one record per line (blank lines skipped), each a role, a "
        "grant or a membership as in the schema; names follow the REST routes' rules. A "
        "grant or membership may name a role defined anywhere in the body or already in "
        "the tenant. Existing rows are kept (the import only adds; a role's given "
        "description replaces the stored one). One transaction: any refused line answers "
        "400 (409 for strict user identity) naming it in `line`, and nothing is stored. "
        "One audit entry (`BULK_IMPORT`) with the counts; the tenant's revision moves "
        "once. Body limit: `AUTH_BULK_MAX_BODY_BYTES` (default 64 MiB)."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {MEDIA_TYPE: {"schema": RECORD_SCHEMA, "example": LINES_EXAMPLE}},
        }
    },
    responses={
        409: _problem("Strict user identity: a member has no live API key (`line` names it)"),
        413: _problem("Request body larger than AUTH_BULK_MAX_BODY_BYTES"),
        415: _problem(f"The body is not {MEDIA_TYPE}"),
    },
)
async def bulk_import(plan: PlanDep, importer: ImporterDep) -> Wrapped[BulkCounts]:
    counts = await importer.apply(plan)
    return wrapped(BulkCounts(**counts.as_dict()), "Bulk import completed")


@router.get(
    BULK_PATH,
    response_class=StreamingResponse,
    summary="Export roles, grants and memberships (JSON lines)",
    description=(
        "The tenant's roles, then grants, then memberships, in the import format, "
        "streamed from one consistent read; `POST /api/bulk` of it into an empty "
        "tenant reproduces this one. API keys and settings are not part of it."
    ),
    responses={
        200: {
            "description": "JSON lines, one record per line",
            "content": {MEDIA_TYPE: {"schema": RECORD_SCHEMA, "example": LINES_EXAMPLE}},
        }
    },
)
async def bulk_export(principal: WriterDep, state: StateDep) -> StreamingResponse:
    lines = export_tenant(state.database, principal.tenant_id, state.cipher)
    return StreamingResponse(lines, media_type=MEDIA_TYPE)
