"""Token events and failed authentication in the audit trail.

Issue, refresh, replay and revocation each write one row naming the token family
(never the token). A 401 after the gate writes one ``AUTHENTICATION_FAILED`` row:
in the tenant's chain when the tenant is known (rotated key, disabled tenant),
otherwise in the system chain 0. Gate errors (no header, malformed header) write
nothing at all.
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from app.tenants.service import disable_tenant
from tests.identity.helpers import bearer, claims_of, forge
from tests.protection.helpers import AuditWatch, audit_total, details, state, tenant_of


def _family(token: str) -> str:
    return f"family:{str(claims_of(token)['fam'])[:8]}"


async def test_token_events(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    tenant = await tenant_of(app, api)
    watch = AuditWatch(app, tenant)
    issued = (await api.post("/api/token", json={"scope": "check"})).json()
    family = _family(issued["access_token"])
    rows = await watch.new()
    assert [(row["action"], row["entity_type"], row["resource"]) for row in rows] == [
        ("TOKEN_ISSUE", "token", family)
    ]
    assert details(rows[0]) == {"scope": "check"}

    refreshed = await client.post(
        "/api/token/refresh", json={"refresh_token": issued["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    assert await watch.events() == [("TOKEN_REFRESH", "token", family, True, None)]

    replayed = await client.post(
        "/api/token/refresh", json={"refresh_token": issued["refresh_token"]}
    )
    assert replayed.status_code == 401
    rows = await watch.new()
    assert [(row["action"], row["resource"], bool(row["success"])) for row in rows] == [
        ("TOKEN_REFRESH_REPLAY", family, False)
    ]
    assert details(rows[0]) == {"result": "family revoked"}

    second = (await api.post("/api/token")).json()
    assert (await watch.events())[0][:3] == (
        "TOKEN_ISSUE",
        "token",
        _family(second["access_token"]),
    )
    revoked = await client.post("/api/token/revoke", json={"token": second["access_token"]})
    assert revoked.json() == {"result": True}
    rows = await watch.new()
    assert [(row["action"], row["resource"]) for row in rows] == [
        ("TOKEN_REVOKE", _family(second["access_token"]))
    ]
    assert details(rows[0]) == {"presented": "access"}
    assert (
        await client.post("/api/token/revoke", json={"token": "not-a-token"})
    ).status_code == 200
    assert await watch.new() == []


async def test_failed_authentication(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    tenant = await tenant_of(app, api)
    watch, system = AuditWatch(app, tenant), AuditWatch(app, 0)
    await system.new()

    forged = forge({"sub": "x", "fam": "y"}, secret="another-secret-0123456789abcdef0123")
    assert (await client.get("/api/roles", headers=bearer(forged))).status_code == 401
    rows = await system.new()
    assert [(row["action"], row["entity_type"], bool(row["success"])) for row in rows] == [
        ("AUTHENTICATION_FAILED", "credential", False)
    ]
    assert details(rows[0]) == {"reason": "invalid_token", "status": 401, "route": "/api/roles"}
    assert await watch.new() == []

    async with state(app).database.transaction() as session:
        assert await disable_tenant(session, tenant)
    assert (await api.post("/api/role/ops")).status_code == 401
    rows = await watch.new()
    assert [(row["action"], row["resource"], bool(row["success"])) for row in rows] == [
        ("AUTHENTICATION_FAILED", "ops", False)
    ]
    assert details(rows[0]) == {
        "reason": "disabled_tenant",
        "status": 401,
        "route": "/api/role/{role}",
    }


async def test_gate_errors_are_not_audited(app: FastAPI, client: httpx.AsyncClient) -> None:
    before = await audit_total(app)
    for headers, status in (
        ({}, 401),
        ({"Authorization": "Basic abc"}, 401),
        ({"Authorization": "Bearer two tokens"}, 401),
        ({"Authorization": "Bearer not-a-uuid"}, 400),
    ):
        assert (await client.post("/api/role/ops", headers=headers)).status_code == status
    assert await audit_total(app) == before
