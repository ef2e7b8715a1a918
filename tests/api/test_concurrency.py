"""Identical concurrent writes collapse into one row; a new key makes one tenant."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from app.models import Grant, Membership, Role, Tenant
from app.security.credentials import hash_client_key
from app.state import AppState
from tests.api.helpers import assert_bare, assert_wrapped, tenant_client

CONCURRENCY = 50


async def _scalar(app: FastAPI, statement: Any, tenant: int | None = None) -> Any:
    """``statement``'s one value, in a session bound to ``tenant`` when given."""
    state: AppState = app.state.auth
    async with state.database.session(write=False, tenant=tenant) as session:
        return (await session.execute(statement)).scalar_one()


async def _tenant_id(app: FastAPI, client_key: str) -> int:
    state: AppState = app.state.auth
    key_hash = hash_client_key(client_key, state.secrets.key_hash)
    tenant_id: int = await _scalar(app, select(Tenant.id).where(Tenant.key_hash == key_hash))
    return tenant_id


async def _all_true(api: httpx.AsyncClient, method: str, path: str) -> None:
    responses = await asyncio.gather(*(api.request(method, path) for _ in range(CONCURRENCY)))
    for response in responses:
        assert_bare(response, True)


async def test_concurrent_role_creation(
    api: httpx.AsyncClient, app: FastAPI, client_key: str
) -> None:
    await _all_true(api, "POST", "/api/role/editors")
    assert_bare(await api.get("/api/roles"), [{"role": "editors", "description": None}])
    tenant_id = await _tenant_id(app, client_key)
    count = select(func.count()).select_from(Role)
    assert await _scalar(app, count, tenant_id) == 1


async def test_concurrent_grants(api: httpx.AsyncClient, app: FastAPI, client_key: str) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    await _all_true(api, "POST", "/api/permission/editors/publish")
    assert_wrapped(await api.get("/api/role_permissions/editors"), [{"name": "publish"}])
    tenant_id = await _tenant_id(app, client_key)
    count = select(func.count()).select_from(Grant)
    assert await _scalar(app, count, tenant_id) == 1


async def test_concurrent_memberships(
    api: httpx.AsyncClient, app: FastAPI, client_key: str
) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    await _all_true(api, "POST", "/api/membership/alice@example.com/editors")
    expected = [{"user": "alice@example.com", "role": "editors"}]
    assert_bare(await api.get("/api/members/editors"), expected)
    tenant_id = await _tenant_id(app, client_key)
    count = select(func.count()).select_from(Membership)
    assert await _scalar(app, count, tenant_id) == 1


async def test_concurrent_first_requests_create_one_tenant(app: FastAPI) -> None:
    client_key = str(uuid.uuid4())
    async with tenant_client(app, client_key) as api:
        reads = [api.get("/api/roles") for _ in range(CONCURRENCY // 2)]
        writes = [api.post("/api/role/editors") for _ in range(CONCURRENCY // 2)]
        responses = await asyncio.gather(*reads, *writes)
        editors = [{"role": "editors", "description": None}]
        for response in responses[: len(reads)]:
            assert response.status_code == 200
            assert response.json() in ({"result": []}, {"result": editors})
        for response in responses[len(reads) :]:
            assert_bare(response, True)
        assert_bare(await api.get("/api/roles"), editors)
    state: AppState = app.state.auth
    key_hash = hash_client_key(client_key, state.secrets.key_hash)
    count = select(func.count()).select_from(Tenant).where(Tenant.key_hash == key_hash)
    assert await _scalar(app, count) == 1
