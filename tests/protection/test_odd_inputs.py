"""Inputs that once answered 500 answer 4xx problem+json, store nothing and log no
traceback (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from jose import jwt

from tests.api.helpers import assert_problem
from tests.conftest import TEST_JWT_SECRET
from tests.identity.helpers import KID
from tests.protection.helpers import audit_total, fetch, http_client, tenant_of

NESTED_BODY = b'{"a":' * 1200 + b"1" + b"}" * 1200  # 7.2 KB, deeper than the parser's stack
NESTED_ARRAY = b"[" * 6000 + b"]" * 6000


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def _assert_quiet(caplog: pytest.LogCaptureFixture) -> None:
    loud = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert loud == [], [r.getMessage() for r in loud]


async def _tenant_count(app: FastAPI) -> int:
    return int((await fetch(app, "SELECT count(*) AS n FROM tenants"))[0]["n"])


@pytest.mark.parametrize("body", [NESTED_BODY, NESTED_ARRAY], ids=["object", "array"])
@pytest.mark.parametrize("path", ["/api/token", "/api/token/refresh", "/api/token/revoke"])
async def test_deeply_nested_json_to_the_token_routes(
    app: FastAPI, path: str, body: bytes, no_tracebacks: pytest.LogCaptureFixture
) -> None:
    tenants, rows = await _tenant_count(app), await audit_total(app)
    async with http_client(app, raise_app_exceptions=False) as http:
        response = await http.post(
            path,
            content=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {uuid.uuid4()}"},
        )
    assert_problem(response, 400)
    assert await _tenant_count(app) == tenants
    assert await audit_total(app) == rows
    _assert_quiet(no_tracebacks)


async def test_deeply_nested_json_to_a_typed_body_route(
    app: FastAPI, client_key: str, no_tracebacks: pytest.LogCaptureFixture
) -> None:
    async with http_client(app, client_key, raise_app_exceptions=False) as http:
        await tenant_of(app, http)
        response = await http.post(
            "/api/apikeys/validate",
            content=NESTED_ARRAY,
            headers={"Content-Type": "application/json"},
        )
    assert_problem(response, 400)
    _assert_quiet(no_tracebacks)


@pytest.mark.parametrize(
    "query",
    [
        "offset=9223372036854775808",
        "offset=9223372036854775807",
        "offset=1000000001",
        "since=0001-01-01T00:00:00%2B01:00",
        "until=0001-01-01T00:00:00%2B14:00",
        "since=9999-12-31T23:59:59-14:00",
    ],
)
async def test_audit_query_out_of_range(
    app: FastAPI, client_key: str, query: str, no_tracebacks: pytest.LogCaptureFixture
) -> None:
    async with http_client(app, client_key, raise_app_exceptions=False) as http:
        await tenant_of(app, http)
        assert_problem(await http.get(f"/api/audit?{query}"), 400)
    _assert_quiet(no_tracebacks)


async def test_audit_query_at_the_edges_of_time(app: FastAPI, client_key: str) -> None:
    async with http_client(app, client_key) as http:
        await tenant_of(app, http)
        for query in ("since=0001-01-01T00:00:00Z", "until=9999-12-31T23:59:59Z"):
            response = await http.get(f"/api/audit?{query}&offset=1000000000")
            assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "expires_at",
    ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59Z"],
)
async def test_api_key_expiry_out_of_range(
    app: FastAPI, client_key: str, expires_at: str, no_tracebacks: pytest.LogCaptureFixture
) -> None:
    async with http_client(app, client_key, raise_app_exceptions=False) as http:
        tenant = await tenant_of(app, http)
        created = await http.post("/api/apikeys/user/alice", json={})
        assert created.status_code == 200, created.text
        key_id = created.json()["data"]["key_id"]
        before = await fetch(app, "SELECT * FROM api_keys WHERE tenant_id = :t", t=tenant)
        rows = await audit_total(app)
        body = {"expires_at": expires_at}
        assert_problem(await http.post("/api/apikeys/user/alice", json=body), 400)
        assert_problem(await http.patch(f"/api/apikeys/user/alice/{key_id}", json=body), 400)
        after = await fetch(app, "SELECT * FROM api_keys WHERE tenant_id = :t", t=tenant)
    assert after == before
    # Refused writes are audited as refusals; nothing else is written.
    assert await audit_total(app) - rows <= 2
    _assert_quiet(no_tracebacks)


async def test_long_forwarded_address_from_a_trusted_proxy(
    app: FastAPI, client_key: str, no_tracebacks: pytest.LogCaptureFixture
) -> None:
    """The test client's address, 127.0.0.1, is the default trusted proxy."""
    junk = "x" * 200
    ipv6 = "2001:db8:85a3:1234:5678:8a2e:370:7334%" + "e" * 80
    async with http_client(app, client_key, raise_app_exceptions=False) as http:
        tenant = await tenant_of(app, http)
        for forwarded in (junk, ipv6, "203.0.113.7"):
            response = await http.post(
                f"/api/role/r{len(forwarded)}", headers={"X-Forwarded-For": forwarded}
            )
            assert response.status_code == 200, response.text
    rows = await fetch(
        app,
        "SELECT resource, ip_address FROM audit_log WHERE chain_id = :t AND action = 'CREATE_ROLE'",
        t=tenant,
    )
    cipher = app.state.auth.cipher  # resources are stored encrypted with encryption on
    addresses = {cipher.open(row["resource"]): row["ip_address"] for row in rows}
    assert addresses["r11"] == "203.0.113.7"
    assert all(address is None or len(address) <= 64 for address in addresses.values())
    assert addresses[f"r{len(junk)}"] is None  # not an address: not recorded as one
    assert addresses[f"r{len(ipv6)}"] == "2001:db8:85a3:1234:5678:8a2e:370:7334"
    _assert_quiet(no_tracebacks)


def _token(tenant_id: int, **claims: Any) -> str:
    now = int(datetime.now(UTC).timestamp())
    payload = {
        "iss": "auth",
        "aud": "auth-api",
        "sub": f"tenant:{tenant_id}",
        "jti": "00000000-0000-4000-8000-000000000000",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "typ": "access",
        "scope": "admin",
        "tid": tenant_id,
        "fam": "00000000-0000-4000-8000-000000000001",
        "gen": 1,
    }
    payload.update(claims)
    return str(jwt.encode(payload, TEST_JWT_SECRET, algorithm="HS256", headers={"kid": KID}))


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": 10**20},
        {"exp": 1e300},
        {"exp": 253402300800 * 1000},
        {"nbf": -(10**20), "iat": -(10**20)},
        {"exp": 10**400},
    ],
    ids=["exp-1e20", "exp-float", "exp-ms", "nbf-negative", "exp-bignum"],
)
@pytest.mark.parametrize("where", ["header", "refresh", "revoke"])
async def test_tokens_with_huge_times(
    app: FastAPI,
    client_key: str,
    claims: dict[str, Any],
    where: str,
    no_tracebacks: pytest.LogCaptureFixture,
) -> None:
    async with http_client(app, client_key, raise_app_exceptions=False) as http:
        tenant = await tenant_of(app, http)
        token = _token(tenant, **claims)
        rows = await audit_total(app)
        if where == "header":
            response = await http.get("/api/roles", headers={"Authorization": f"Bearer {token}"})
            assert_problem(response, 401)
        elif where == "refresh":
            response = await http.post(
                "/api/token/refresh",
                json={"refresh_token": _token(tenant, typ="refresh", **claims)},
            )
            assert_problem(response, 401)
        else:
            response = await http.post("/api/token/revoke", json={"token": token})
            assert response.status_code == 200, response.text
    assert await audit_total(app) - rows <= 1  # at most the failed authentication
    _assert_quiet(no_tracebacks)
