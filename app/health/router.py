"""``/ping`` (liveness, no I/O) and ``/health`` (readiness: one database round trip)."""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.deps import DatabaseDep

logger = logging.getLogger("app.health")
router = APIRouter(tags=["service"])


class Pong(BaseModel):
    message: Literal["PONG"] = "PONG"


class HealthStatus(BaseModel):
    status: Literal["healthy", "unhealthy"]


@router.get("/ping", response_model=Pong, summary="Liveness: the process answers")
async def ping() -> Pong:
    return Pong()


@router.get(
    "/health",
    response_model=HealthStatus,
    summary="Readiness: the database answers",
    responses={503: {"model": HealthStatus, "description": "The database is unreachable"}},
)
async def health(database: DatabaseDep) -> HealthStatus | JSONResponse:
    try:
        await database.ping()
    except Exception as exc:
        logger.warning("health check failed: database unreachable (%s)", type(exc).__name__)
        return JSONResponse({"status": "unhealthy"}, status_code=503)
    return HealthStatus(status="healthy")
