"""Open registration opens a tenant only on a request that succeeds: a first request
refused as 400 (or 409) leaves no tenant and no audit chain behind."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid

import pytest
from fastapi import FastAPI

from tests.protection.helpers import fetch, http_client, state

REFUSED_FIRST_REQUESTS = [
    pytest.param("GET", "/api/role_permissions/bad.name", None, 400, id="bad-path-name"),
    pytest.param("GET", "/api/audit?limit=0", None, 400, id="bad-query"),
    pytest.param("POST", "/api/apikeys/user/alice", {"bogus": 1}, 400, id="bad-body"),
    pytest.param("PUT", "/api/settings", {"strict_users": "yes"}, 400, id="bad-settings"),
    pytest.param("POST", "/api/apikeys/validate", {}, 400, id="missing-field"),
    pytest.param("POST", "/api/token", {"scope": "root"}, 400, id="token-bad-scope"),
    pytest.param(
        "PATCH",
        f"/api/apikeys/user/alice/{uuid.uuid4()}",
        {"expires_at": "2000-01-01T00:00:00Z"},
        404,
        id="unknown-key",
    ),
]


def _key_hash(app: FastAPI, key: str) -> str:
    return hmac.new(state(app).secrets.key_hash, key.encode(), hashlib.sha256).hexdigest()


async def _tenants(app: FastAPI, key: str) -> list[int]:
    rows = await fetch(app, "SELECT id FROM tenants WHERE key_hash = :h", h=_key_hash(app, key))
    return [int(row["id"]) for row in rows]


async def _orphan_chains(app: FastAPI) -> list[int]:
    rows = await fetch(
        app,
        "SELECT DISTINCT chain_id FROM audit_log WHERE chain_id <> 0 "
        "AND chain_id NOT IN (SELECT id FROM tenants)",
    )
    return [int(row["chain_id"]) for row in rows]


@pytest.mark.parametrize(("method", "path", "body", "status"), REFUSED_FIRST_REQUESTS)
async def test_a_refused_first_request_opens_no_tenant(
    app: FastAPI, method: str, path: str, body: object, status: int
) -> None:
    key = str(uuid.uuid4())
    async with http_client(app, key) as api:
        response = await api.request(method, path, json=body)
        assert response.status_code == status, response.text
        assert await _tenants(app, key) == []
        assert await _orphan_chains(app) == []
        assert (await api.get("/api/roles")).status_code == 200
    assert len(await _tenants(app, key)) == 1


async def test_concurrent_first_requests_open_one_tenant(app: FastAPI) -> None:
    key = str(uuid.uuid4())
    async with http_client(app, key) as api:
        answers = await asyncio.gather(
            *(
                api.get("/api/roles") if n % 2 else api.get("/api/role_permissions/bad.name")
                for n in range(12)
            )
        )
    assert sorted({answer.status_code for answer in answers}) == [200, 400]
    assert len(await _tenants(app, key)) == 1
    assert await _orphan_chains(app) == []


async def test_a_successful_token_request_opens_the_tenant(app: FastAPI) -> None:
    key = str(uuid.uuid4())
    async with http_client(app, key) as api:
        issued = await api.post("/api/token", json={"scope": "check"})
        assert issued.status_code == 200, issued.text
    [tenant] = await _tenants(app, key)
    rows = await fetch(app, "SELECT action FROM audit_log WHERE chain_id = :t", t=tenant)
    assert [row["action"] for row in rows] == ["TOKEN_ISSUE"]
