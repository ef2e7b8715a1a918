"""The hot path's shape. A cold ``has_permission`` (no current decision snapshot) costs
one freshness probe, which also reads the tenant, and one decision SELECT, strict
identity included, answered from indexes only (checked with each database's query plan: the two unique
indexes on SQLite; on PostgreSQL, grants may come from ``(tenant_id, permission_key)``). A warm
one runs no statement through the engine: one freshness probe, then memory. A write is
seen by the very next check."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select, text

from app.audit.trail import AuditOrigin, AuditTrail
from app.rbac.service import RbacService
from app.security.credentials import hash_client_key
from app.state import AppState, app_state
from app.tenants.service import disable_tenant
from app.tenants.tenancy import Tenancy
from tests.api.helpers import assert_bare, assert_wrapped, statements
from tests.identity.helpers import db_session

pytestmark = pytest.mark.stored_data


def queries(seen: list[str]) -> list[str]:
    return [sql for sql in seen if sql.upper().startswith("SELECT")]


async def _seed(api: httpx.AsyncClient, strict: bool) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    assert_bare(await api.post("/api/permission/editors/publish"), True)
    assert (await api.post("/api/apikeys/user/alice")).status_code == 200
    assert_bare(await api.post("/api/membership/alice/editors"), True)
    if strict:
        assert (await api.put("/api/settings", json={"strict_users": True})).status_code == 200


async def _tenant(app: FastAPI) -> int:
    state: AppState = app.state.auth
    async with state.database.transaction(write=False) as session:
        return int((await session.execute(text("SELECT max(id) FROM tenants"))).scalar_one())


@asynccontextmanager
async def cold(app: FastAPI) -> AsyncIterator[int]:
    """Inside the block the newest tenant has no current snapshot (the cache keeps
    none, and its rebuilds under way have finished); yields that tenant's id."""
    tenant = await _tenant(app)
    decisions = app.state.auth.decisions
    await decisions.settle()
    budget, decisions.cache.budget = decisions.cache.budget, 0
    decisions.cache.forget(tenant)
    try:
        yield tenant
    finally:
        decisions.cache.budget = budget


def _counting_probe(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every freshness probe the decision snapshots make."""
    probe = app.state.auth.decisions.probe
    calls: list[str] = []
    for name in ("by_key_hash", "by_tenant", "family"):
        original = getattr(probe, name)

        async def counted(*args: Any, _original: Any = original, _name: str = name) -> Any:
            calls.append(_name)
            return await _original(*args)

        monkeypatch.setattr(probe, name, counted)
    return calls


@pytest.mark.parametrize("strict", [False, True])
async def test_a_cold_check_runs_one_select_a_warm_one_none(
    app: FastAPI, api: httpx.AsyncClient, strict: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cold (no current snapshot): one freshness probe, whose row also authenticates the
    key (no second read of the tenant), and one decision SELECT, strict identity
    included. Warm: no statement through the engine, one freshness probe."""
    await _seed(api, strict)
    decisions = app.state.auth.decisions
    async with cold(app):
        probes = _counting_probe(app, monkeypatch)
        with statements(app) as seen:
            path = "/api/has_permission/alice/publish"
            assert_wrapped(await api.get(path), {"has_permission": True})
    selects = queries(seen)
    assert len(selects) == 1, selects
    assert "FROM memberships, grants" in selects[0]
    assert ("api_keys" in selects[0]) is strict
    assert not [sql for sql in seen if sql.upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert probes == ["by_key_hash"]

    assert_wrapped(await api.get("/api/has_permission/alice/publish"), {"has_permission": True})
    await decisions.settle()  # the snapshot that check started building
    probes.clear()
    with statements(app) as seen:
        assert_wrapped(await api.get("/api/has_permission/alice/publish"), {"has_permission": True})
        assert_wrapped(await api.get("/api/has_permission/alice/delete"), {"has_permission": False})
        assert_wrapped(
            await api.get("/api/has_permission/bob/publish"),
            {"has_permission": False, "reason": "user_not_key_backed"}
            if strict
            else {"has_permission": False},
        )
    assert seen == []
    assert probes == ["by_key_hash"] * 3


@pytest.mark.parametrize("credential", ["client_key", "access_token"])
async def test_routes_read_the_tenant_only_through_the_probe(
    app: FastAPI, api: httpx.AsyncClient, credential: str
) -> None:
    """With no current snapshot, the probe's row authenticates the credential: a read
    and a write route run no SELECT of the tenant or the token family of their own. A
    disabled tenant takes the database path, which refuses it."""
    await _seed(api, strict=False)
    bearer = None
    if credential == "access_token":
        issued = await api.post("/api/token", json={"scope": "admin"})
        assert issued.status_code == 200, issued.text
        bearer = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    async with cold(app) as tenant:
        with statements(app) as seen:
            assert_bare(
                await api.get("/api/roles", headers=bearer),
                [{"role": "editors", "description": None}],
            )
            assert_bare(await api.post("/api/role/writers", headers=bearer), True)
        reads = [sql for sql in queries(seen) if "tenants" in sql or "token_families" in sql]
        assert reads == []
        async with db_session(app) as session:
            assert await disable_tenant(session, tenant)
        with statements(app) as seen:
            refused = await api.get("/api/roles", headers=bearer)
        assert refused.status_code == 401, refused.text
        assert any("tenants" in sql for sql in queries(seen)), "refused on the database path"


async def test_a_write_is_seen_by_the_next_check(app: FastAPI, api: httpx.AsyncClient) -> None:
    """A warm snapshot is never used past a write: each answer below follows the write
    acknowledged just before it."""
    await _seed(api, strict=False)
    decisions = app.state.auth.decisions
    path = "/api/has_permission/alice/publish"
    for write, expected in (
        (api.delete("/api/permission/editors/publish"), False),
        (api.post("/api/permission/editors/publish"), True),
        (api.delete("/api/membership/alice/editors"), False),
        (api.post("/api/membership/alice/editors"), True),
        (api.delete("/api/role/editors"), False),
    ):
        assert_wrapped(await api.get(path), {"has_permission": not expected})
        await decisions.settle()
        assert (await write).status_code == 200
        assert_wrapped(await api.get(path), {"has_permission": expected})
        await decisions.settle()
        assert_wrapped(await api.get(path), {"has_permission": expected})


async def _plan(app: FastAPI, backend: str) -> list[str]:
    """The query plan of the decision SELECT exactly as a tenant's session sends it
    (its tenant criteria included), read back with its own parameters."""
    state: AppState = app.state.auth
    engine = state.database.engine.sync_engine
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, sql: str, parameters: Any, *_args: Any) -> None:
        sent.append((sql, parameters))

    async with state.database.transaction(write=False) as session:
        tenant_id = (await session.execute(text("SELECT max(id) FROM tenants"))).scalar_one()
        tenancy = Tenancy(session, tenant_id, state.cipher)
        trail = AuditTrail(session, state.secrets.audit, tenant_id, AuditOrigin(), enabled=False)
        decision = select(RbacService(tenancy, trail)._holds("alice", "publish"))
        event.listen(engine, "before_cursor_execute", record)
        try:
            await session.execute(decision)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        sql, parameters = sent[-1]
        connection = await session.connection()
        if backend == "sqlite":
            plan = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters)
            return [str(row[-1]) for row in plan.all()]
        # A tiny table is cheapest to scan; forbid that to see which indexes can answer.
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = await connection.exec_driver_sql(f"EXPLAIN {sql}", parameters)
        return [str(row[0]).strip() for row in plan.all()]


async def test_decision_query_uses_the_unique_indexes(
    backend: str, app: FastAPI, api: httpx.AsyncClient
) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    details = await _plan(app, backend)
    if backend == "sqlite":
        searches = [d for d in details if d.startswith("SEARCH")]
        assert len(searches) == 2, details
        assert searches[0].startswith("SEARCH memberships USING INDEX"), details
        assert searches[0].endswith("(tenant_id=? AND user_key=?)"), details
        assert searches[1].startswith("SEARCH grants USING INDEX"), details
        assert searches[1].endswith("(role_id=? AND permission_key=?)"), details
        assert [d for d in details if d.startswith("SCAN")] == ["SCAN CONSTANT ROW"], details
        return
    plan = "\n".join(details)
    assert "uq_memberships_tenant_id_user_key_role_id" in plan, plan
    # The session's tenant criteria also bound grants to the tenant, so PostgreSQL may
    # answer them from (tenant_id, permission_key) instead of (role_id, permission_key)
    # when it costs that cheaper: either stays within the tenant's rows.
    assert (
        "uq_grants_role_id_permission_key" in plan or "ix_grants_tenant_id_permission_key" in plan
    ), plan
    assert "Seq Scan" not in plan, plan


async def test_the_credential_is_derived_once_per_request(
    app: FastAPI, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gate derives the key hash or verifies the token once; the rate limiter and
    the routes reuse it."""
    from app import deps
    from app.security import gate

    assert app_state(app).rate_limits is not None
    hashes: list[str] = []
    original_hash = hash_client_key

    def counting_hash(key: str, secret: bytes) -> str:
        hashes.append(key)
        return original_hash(key, secret)

    monkeypatch.setattr(deps, "hash_client_key", counting_hash)
    monkeypatch.setattr(gate, "hash_client_key", counting_hash)
    assert_bare(await api.get("/api/roles"), [])
    assert len(hashes) == 1

    token = (await api.post("/api/token", json={"scope": "check"})).json()["access_token"]
    codec = app.state.auth.tokens
    verifications: list[str] = []
    original_verify = codec.verify

    def counting_verify(value: str, expected: Any) -> Any:
        verifications.append(value)
        return original_verify(value, expected)

    monkeypatch.setattr(codec, "verify", counting_verify)
    headers = {"Authorization": f"Bearer {token}"}
    assert_bare(await api.get("/api/roles", headers=headers), [])
    assert len(verifications) == 1


@pytest.mark.parametrize("strict", [False, True])
async def test_the_gates_answer_is_the_routes_answer(
    app: FastAPI, api: httpx.AsyncClient, strict: bool
) -> None:
    """A warm decision is answered by the gate before routing (app.rbac.shortcut); its
    status, headers and body equal the route's own answer to the same question."""
    await _seed(api, strict)
    decisions = app.state.auth.decisions
    paths = [
        "/api/has_permission/alice/publish",
        "/api/has_permission/alice/delete",
        "/api/has_permission/bob/publish",
        "/api/workflow/user/alice/can_run/publish",
        "/api/workflow/user/bob/can_run/publish",
    ]

    def shape(response: httpx.Response) -> tuple[int, dict[str, str], dict[str, Any]]:
        body = response.json()
        body.pop("timestamp")
        headers = {
            name: value
            for name, value in response.headers.items()
            # Auth-Revision: only answers from memory carry it (the cold ones here do not).
            if name not in {"x-request-id", "content-length", "date", "auth-revision"}
        }
        return response.status_code, headers, body

    await decisions.settle()
    budget, decisions.cache.budget = decisions.cache.budget, 0
    decisions.cache.forget(await _tenant(app))
    routed = [shape(await api.get(path)) for path in paths]  # cold: the routes answer
    decisions.cache.budget = budget
    await api.get(paths[0])
    await decisions.settle()
    calls: list[str] = []
    original = type(decisions).decide

    def counting(self: Any, *args: Any) -> Any:
        calls.append("decide")
        return original(self, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(decisions), "decide", counting)
        warm = [await api.get(path) for path in paths]
    shortcut = [shape(response) for response in warm]
    assert all(response.headers["auth-revision"].isdigit() for response in warm)
    assert calls == ["decide"] * len(paths)  # answered from the snapshot
    assert shortcut == routed
    # A name the route refuses is refused the same way when warm (400, not an answer).
    assert (await api.get("/api/has_permission/al ice/publish")).status_code == 400
    metrics = (await api.get("/metrics")).text
    assert 'route="/api/has_permission/{user}/{name}"' in metrics
