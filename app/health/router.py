"""``/ping`` (liveness, no I/O) and ``/health`` (readiness: the database answers and
can take writes, :func:`app.health.service.readiness`). HTTP only.

``/health`` answers 200 ``{"status": "healthy"}``, or 503 with ``Retry-After`` and
``{"status": "unhealthy", "database": "unreachable" | "timeout" | "full"}``.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.db.faults import DatabaseFault
from app.deps import DatabaseDep, SettingsDep
from app.health.service import readiness

router = APIRouter(tags=["service"])

DatabaseState = Literal["unreachable", "timeout", "full"]


class Pong(BaseModel):
    message: Literal["PONG"] = "PONG"


class HealthStatus(BaseModel):
    status: Literal["healthy", "unhealthy"]
    database: DatabaseState | None = Field(
        default=None,
        description="Only when unhealthy: unreachable, timeout (no answer within the "
        "configured timeouts) or full (reads work, writes cannot be stored).",
    )


@router.get("/ping", response_model=Pong, summary="Liveness: the process answers")
async def ping() -> Pong:
    return Pong()


def _unhealthy(fault: DatabaseFault, retry_after: int) -> JSONResponse:
    body = HealthStatus(status="unhealthy", database=fault.value)
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=503,
        headers={"Retry-After": str(retry_after)},
    )


@router.get(
    "/health",
    response_model=HealthStatus,
    response_model_exclude_none=True,
    summary="Readiness: the database answers and takes writes",
    responses={
        503: {
            "model": HealthStatus,
            "description": "The database is unreachable, hung past its timeout, "
            "or cannot take writes",
        }
    },
)
async def health(database: DatabaseDep, settings: SettingsDep) -> HealthStatus | JSONResponse:
    fault = await readiness(database)
    if fault is not None:
        return _unhealthy(fault, settings.db_retry_after_seconds)
    return HealthStatus(status="healthy")
