"""A change and its audit row commit together, or not at all.

* When the audit row cannot be written (a database trigger refuses it), the change
  is rolled back with it.
* A refused write (strict identity 409, check-scope token 403) changes nothing and
  leaves exactly one ``success=false`` row, never a ``success=true`` one.
* With ``AUTH_ENABLE_AUDIT_LOGGING=false`` nothing is written; decisions are audited
  only with ``AUTH_AUDIT_PERMISSION_CHECKS=true``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.db.url import DatabaseTarget
from tests.api.helpers import assert_bare, assert_problem, assert_wrapped
from tests.conftest import make_settings
from tests.protection.helpers import (
    AuditWatch,
    audit_rows,
    details,
    execute,
    fetch,
    fingerprint,
    http_client,
    running,
    state,
    tenant_of,
)


@asynccontextmanager
async def refusing_audit(app: FastAPI, chain_id: int) -> AsyncIterator[None]:
    """A trigger that makes every audit insert of ``chain_id`` fail."""
    name = f"refuse_audit_{chain_id}"
    if state(app).database.dialect == "sqlite":
        statements = [
            f"CREATE TRIGGER {name} BEFORE INSERT ON audit_log WHEN NEW.chain_id = {chain_id} "
            "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
        ]
        cleanup = [f"DROP TRIGGER {name}"]
    else:
        statements = [
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit refused'; END $$",
            f"CREATE TRIGGER {name} BEFORE INSERT ON audit_log FOR EACH ROW "
            f"WHEN (NEW.chain_id = {chain_id}) EXECUTE FUNCTION {name}()",
        ]
        cleanup = [f"DROP TRIGGER {name} ON audit_log", f"DROP FUNCTION {name}()"]
    for statement in statements:
        await execute(app, statement)
    try:
        yield
    finally:
        for statement in cleanup:
            await execute(app, statement)


async def test_change_rolls_back_with_its_audit_row(app: FastAPI, client_key: str) -> None:
    async with http_client(app, client_key, raise_app_exceptions=False) as api:
        assert_bare(await api.post("/api/role/ops"), True)
        tenant = await tenant_of(app, api)
        async with refusing_audit(app, tenant):
            assert_problem(await api.post("/api/role/auditors"), 500)
            assert_problem(await api.post("/api/permission/ops/deploy"), 500)
            assert_problem(await api.delete("/api/role/ops"), 500)
        assert_bare(await api.get("/api/roles"), [{"role": "ops", "description": None}])
        assert_wrapped(await api.get("/api/role_permissions/ops"), [])
    assert [row["action"] for row in await audit_rows(app, tenant)] == ["CREATE_ROLE"]


async def test_refused_writes_change_nothing(app: FastAPI, api: httpx.AsyncClient) -> None:
    tenant = await tenant_of(app, api)
    watch = AuditWatch(app, tenant)
    assert_bare(await api.post("/api/role/ops"), True)
    assert (await api.put("/api/settings", json={"strict_users": True})).status_code == 200
    await watch.new()

    refused = await api.post("/api/membership/ghost.user/ops")
    assert refused.status_code == 409
    assert refused.json()["reason"] == "user_not_key_backed"
    rows = await watch.new()
    assert [(row["action"], row["resource"], bool(row["success"])) for row in rows] == [
        ("ADD_MEMBERSHIP", "ops", False)
    ]
    assert rows[0]["user_fingerprint"] == fingerprint(tenant, "ghost.user")
    assert details(rows[0]) == {
        "status": 409,
        "refused": "conflict",
        "route": "/api/membership/{user}/{role}",
    }
    assert_bare(await api.get("/api/members/ops"), [])

    token = (await api.post("/api/token", json={"scope": "check"})).json()["access_token"]
    await watch.new()
    headers = {"Authorization": f"Bearer {token}"}
    for method, path, action in (
        ("POST", "/api/role/intruders", "CREATE_ROLE"),
        ("DELETE", "/api/role/ops", "DELETE_ROLE"),
        ("POST", "/api/permission/ops/deploy", "ADD_PERMISSION"),
    ):
        assert_problem(await api.request(method, path, headers=headers), 403)
        rows = await watch.new()
        assert [(row["action"], bool(row["success"])) for row in rows] == [(action, False)]
        assert details(rows[0])["refused"] == "forbidden"
    assert_bare(await api.get("/api/roles"), [{"role": "ops", "description": None}])
    assert_wrapped(await api.get("/api/role_permissions/ops"), [])
    successes = [row["action"] for row in await audit_rows(app, tenant) if row["success"]]
    assert successes == ["CREATE_ROLE", "UPDATE_SETTINGS", "TOKEN_ISSUE"]


@pytest.fixture(scope="module")
async def silent_app(
    database_target: DatabaseTarget, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FastAPI]:
    settings: Settings = make_settings(
        database_target,
        tmp_path_factory.mktemp("silent-state"),
        rate_limit_enabled=False,
        enable_audit_logging=False,
        audit_permission_checks=True,
    )
    async with running(settings) as application:
        yield application


async def test_disabled_audit_writes_nothing(silent_app: FastAPI, client_key: str) -> None:
    async with http_client(silent_app, client_key) as api:
        tenant = await tenant_of(silent_app, api)
        assert_bare(await api.post("/api/role/ops"), True)
        assert_bare(await api.post("/api/membership/ann/ops"), True)
        assert (await api.get("/api/has_permission/ann/deploy")).status_code == 200
        assert (await api.put("/api/settings", json={"strict_users": True})).status_code == 200
        assert (await api.post("/api/membership/bob/ops")).status_code == 409
        assert (await api.post("/api/keys/rotate")).status_code == 200
        assert (await api.get("/api/roles")).status_code == 401
    assert await audit_rows(silent_app, tenant) == []
    heads = await fetch(silent_app, "SELECT * FROM audit_heads WHERE chain_id = :c", c=tenant)
    # Only the empty head every tenant gets when it is created: no row was chained.
    assert [(head["seq"], head["base_seq"]) for head in heads] == [(0, 0)]


UNKNOWN_KEY = {"valid": False, "reason": "unknown_key"}


async def test_decisions_are_audited_only_when_asked(
    app: FastAPI, checks_app: FastAPI, client_key: str
) -> None:
    reads = [
        ("GET", "/api/has_permission/ann/deploy", None),
        ("GET", "/api/has_permission/bob/deploy", None),
        ("GET", "/api/membership/ann/ops", None),
        ("GET", "/api/workflow/user/ann/can_run/deploy", None),
        ("POST", "/api/apikeys/validate", {"api_key": "rak_" + "x" * 43}),
        (
            "POST",
            "/api/apikeys/check_permission",
            {"api_key": "rak_" + "x" * 43, "permission": "deploy"},
        ),
    ]
    async with http_client(app, client_key) as api:
        tenant = await tenant_of(app, api)
        assert_bare(await api.post("/api/role/ops"), True)
        assert_bare(await api.post("/api/permission/ops/deploy"), True)
        assert_bare(await api.post("/api/membership/ann/ops"), True)
        watch = AuditWatch(app, tenant)
        await watch.new()
        for method, path, body in reads:
            assert (await api.request(method, path, json=body)).status_code == 200
        assert await watch.new() == []

    ann, bob = fingerprint(tenant, "ann"), fingerprint(tenant, "bob")
    expected = [
        ("CHECK_PERMISSION", "permission", "deploy", True, ann, {"allowed": True}),
        ("CHECK_PERMISSION", "permission", "deploy", True, bob, {"allowed": False}),
        ("CHECK_MEMBERSHIP", "membership", "ops", True, ann, {"allowed": True}),
        ("CHECK_PERMISSION", "permission", "deploy", True, ann, {"allowed": True}),
        ("VALIDATE_API_KEY", "api_key", None, False, None, UNKNOWN_KEY),
        ("CHECK_API_KEY_PERMISSION", "api_key", None, False, None, UNKNOWN_KEY),
    ]
    async with http_client(checks_app, client_key) as api:
        for (method, path, body), row in zip(reads, expected, strict=True):
            assert (await api.request(method, path, json=body)).status_code == 200
            new = await watch.new()
            assert [(*_summary(found), details(found)) for found in new] == [row], path


def _summary(row: dict[str, object]) -> tuple[object, ...]:
    return (
        row["action"],
        row["entity_type"],
        row["resource"],
        bool(row["success"]),
        row["user_fingerprint"],
    )


async def test_api_key_permission_check_audits_the_permission_answer(
    checks_app: FastAPI, client_key: str
) -> None:
    async with http_client(checks_app, client_key) as api:
        tenant = await tenant_of(checks_app, api)
        assert_bare(await api.post("/api/role/ops"), True)
        assert_bare(await api.post("/api/permission/ops/deploy"), True)
        assert_bare(await api.post("/api/membership/ann/ops"), True)
        created = (await api.post("/api/apikeys/user/ann")).json()["data"]
        secret, key_id = created["api_key"], created["key_id"]
        watch = AuditWatch(checks_app, tenant)
        await watch.new()
        for permission, allowed in (("deploy", True), ("destroy", False)):
            answer = await api.post(
                "/api/apikeys/check_permission", json={"api_key": secret, "permission": permission}
            )
            assert answer.json()["data"]["valid"] is True
            assert answer.json()["data"]["has_permission"] is allowed
            rows = await watch.new()
            assert [(row["action"], details(row)) for row in rows] == [
                ("CHECK_API_KEY_PERMISSION", {"valid": True, "key_id": key_id, "allowed": allowed})
            ], permission
