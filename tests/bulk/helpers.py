"""Bulk bodies, and reading what a tenant holds straight from the database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from app.models import Grant, Membership, Role, Tenant
from app.security.credentials import hash_client_key
from app.state import AppState
from app.tenants.service import find_by_key_hash

NDJSON = {"Content-Type": "application/x-ndjson"}


def ndjson(records: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(record).encode() + b"\n" for record in records)


def records(text: str) -> list[dict[str, Any]]:
    """The records of an NDJSON text, split at "\\n" as the format says."""
    return [json.loads(line) for line in text.split("\n") if line.strip()]


def canonical(items: list[dict[str, Any]]) -> list[str]:
    """Records in a comparable order (storage order is not part of the contract)."""
    return sorted(json.dumps(item, sort_keys=True) for item in items)


async def bulk_import(api: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await api.post("/api/bulk", content=body, headers=NDJSON)


@dataclass(frozen=True)
class TenantState:
    id: int
    revision: int


async def tenant_of(app: FastAPI, client_key: str) -> TenantState:
    """The tenant behind ``client_key`` and its stored revision."""
    state: AppState = app.state.auth
    async with state.database.transaction(write=False) as session:
        found = await find_by_key_hash(session, hash_client_key(client_key, state.secrets.key_hash))
        assert found is not None
        statement = select(Tenant.revision).where(Tenant.id == found.id)
        revision = int((await session.execute(statement)).scalar_one())
    return TenantState(found.id, revision)


async def row_counts(app: FastAPI, tenant_id: int) -> tuple[int, int, int]:
    """``(roles, grants, memberships)`` stored for the tenant."""
    state: AppState = app.state.auth
    counts = []
    async with state.database.transaction(write=False, tenant=tenant_id) as session:
        for model in (Role, Grant, Membership):
            statement = select(func.count()).select_from(model)
            counts.append(int((await session.execute(statement)).scalar_one()))
    return counts[0], counts[1], counts[2]
