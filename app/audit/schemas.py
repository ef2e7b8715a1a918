"""Bodies of ``GET /api/audit``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from app.responses import NEXT_CURSOR


class AuditEntry(BaseModel):
    id: int
    timestamp: str = Field(examples=["2026-11-30T12:00:00.000000Z"])
    action: str = Field(examples=["ADD_PERMISSION"])
    entity_type: str = Field(examples=["permission"])
    resource: str | None = Field(examples=["editors:publish"])
    details: dict[str, Any]
    success: bool
    user: str | None = Field(description="Keyed fingerprint of the user, never the raw id.")
    ip_address: str | None
    user_agent: str | None


class AuditPage(BaseModel):
    total: int
    limit: int
    offset: int
    entries: list[AuditEntry]
    next_cursor: str | None = NEXT_CURSOR
