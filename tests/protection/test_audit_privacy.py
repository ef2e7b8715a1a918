"""What an audit row may say about people and secrets.

A tenant's whole life (RBAC writes, checks, API keys, tokens, rotation, recovery,
refusals) is scanned column by column: no row holds a raw user id, a client key, a
token, an API-key secret or a rotate key. Users are ``u_`` + 16 hex, stable within a
tenant and different across tenants. Each row records the caller's address, user
agent (clamped to 256 characters) and request id.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from app.audit.admin import query_entries
from app.config import Settings
from tests.api.helpers import assert_bare, tenant_client
from tests.protection.helpers import (
    FINGERPRINT,
    audit_rows,
    fingerprint,
    http_client,
    leaked,
    tenant_of,
)

pytestmark = pytest.mark.stored_data

USERS = ("dana.scully@fbi.example", "fox+mulder@fbi.example")


async def _life_of_a_tenant(api: httpx.AsyncClient, anonymous: httpx.AsyncClient) -> list[str]:
    """Exercise every audited route; return every secret it handled."""
    secrets: list[str] = []
    assert_bare(await api.post("/api/role/agents"), True)
    assert_bare(await api.post("/api/permission/agents/read-x-files"), True)
    for user in USERS:
        assert_bare(await api.post(f"/api/membership/{user}/agents"), True)
        assert (await api.get(f"/api/has_permission/{user}/read-x-files")).status_code == 200
        assert (await api.get(f"/api/membership/{user}/agents")).status_code == 200
    created = (await api.post(f"/api/apikeys/user/{USERS[0]}", json={"label": "badge"})).json()
    api_key = created["data"]["api_key"]
    secrets.append(api_key)
    assert (await api.post("/api/apikeys/validate", json={"api_key": api_key})).status_code == 200
    checked = await api.post(
        "/api/apikeys/check_permission", json={"api_key": api_key, "permission": "read-x-files"}
    )
    assert checked.json()["data"]["has_permission"] is True

    tokens = (await api.post("/api/token", json={"scope": "admin"})).json()
    pair = (
        await anonymous.post("/api/token/refresh", json={"refresh_token": tokens["refresh_token"]})
    ).json()
    secrets += [tokens["access_token"], tokens["refresh_token"]]
    secrets += [pair["access_token"], pair["refresh_token"]]
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    assert_bare(await anonymous.post("/api/role/cases", headers=headers), True)
    await anonymous.post("/api/token/revoke", json={"token": pair["refresh_token"]})

    assert (await api.put("/api/settings", json={"strict_users": True})).status_code == 200
    assert (await api.post(f"/api/membership/{USERS[1]}/cases")).status_code == 409
    retired = (await api.post("/api/keys/get_rotate_key")).json()["data"]["rotate_key"]
    new_key = (await api.post("/api/keys/rotate")).json()["data"]["new_key"]
    assert (
        await anonymous.post("/api/keys/recover", json={"rotate_key": retired})
    ).status_code == 401
    as_new = {"Authorization": f"Bearer {new_key}"}
    rotate_key = (await anonymous.post("/api/keys/get_rotate_key", headers=as_new)).json()["data"][
        "rotate_key"
    ]
    recovered = (await anonymous.post("/api/keys/recover", json={"rotate_key": rotate_key})).json()[
        "data"
    ]
    assert (await api.get("/api/roles")).status_code == 401
    return [*secrets, retired, rotate_key, new_key, *recovered.values()]


async def test_no_secret_or_user_id_is_stored(checks_app: FastAPI, client_key: str) -> None:
    async with http_client(checks_app, client_key) as api, http_client(checks_app) as anonymous:
        tenant = await tenant_of(checks_app, api)
        secrets = await _life_of_a_tenant(api, anonymous)
    rows = await audit_rows(checks_app, tenant)
    checks = ["ADD_MEMBERSHIP", "CHECK_PERMISSION", "CHECK_MEMBERSHIP"]
    assert [row["action"] for row in rows] == [
        "CREATE_ROLE",
        "ADD_PERMISSION",
        *checks,
        *checks,
        "CREATE_API_KEY",
        "VALIDATE_API_KEY",
        "CHECK_API_KEY_PERMISSION",
        "TOKEN_ISSUE",
        "TOKEN_REFRESH",
        "CREATE_ROLE",
        "TOKEN_REVOKE",
        "UPDATE_SETTINGS",
        "ADD_MEMBERSHIP",
        "GET_ROTATE_KEY",
        "ROTATE_KEY",
        "GET_ROTATE_KEY",
        "RECOVER_KEY",
        "AUTHENTICATION_FAILED",
    ]
    assert leaked(rows, [client_key, *secrets, *USERS]) == set()
    fingerprints = {row["user_fingerprint"] for row in rows} - {None}
    assert fingerprints == {fingerprint(tenant, user) for user in USERS}
    assert all(FINGERPRINT.fullmatch(value) for value in fingerprints)


async def test_fingerprints_differ_across_tenants(app: FastAPI) -> None:
    seen: list[set[str]] = []
    for _tenant in range(2):
        async with tenant_client(app) as api:
            tenant = await tenant_of(app, api)
            assert_bare(await api.post("/api/role/agents"), True)
            for _repeat in range(2):
                assert_bare(await api.post(f"/api/membership/{USERS[0]}/agents"), True)
                assert_bare(await api.delete(f"/api/membership/{USERS[0]}/agents"), True)
        rows = await audit_rows(app, tenant)
        users = {row["user_fingerprint"] for row in rows[1:]}
        assert users == {fingerprint(tenant, USERS[0])}
        seen.append(users)
    assert seen[0] != seen[1]


async def test_caller_context_is_recorded(
    app: FastAPI, settings: Settings, client_key: str
) -> None:
    headers = {"User-Agent": "agent/" + "x" * 300, "X-Request-ID": "incident-4711.a"}
    async with http_client(app, client_key, headers=headers) as api:
        assert_bare(await api.post("/api/role/ops"), True)
        tenant = await tenant_of(app, api)
        entries = (await api.get("/api/audit")).json()["data"]["entries"]
    [row] = await audit_rows(app, tenant)
    assert row["ip_address"] == "127.0.0.1"
    assert row["user_agent"] == ("agent/" + "x" * 300)[:256]
    assert len(row["user_agent"]) == 256
    assert row["request_id"] == "incident-4711.a"
    assert (entries[0]["ip_address"], entries[0]["user_agent"]) == (
        "127.0.0.1",
        row["user_agent"],
    )
    [operator_view] = await query_entries(settings, tenant=tenant, limit=5)
    assert operator_view["request_id"] == "incident-4711.a"
