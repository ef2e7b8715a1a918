"""Tenancy by construction (:mod:`app.db.tenant_guard`).

* Every SQL statement the request paths send to the database is read as it reaches the
  driver: each one that reads, updates or deletes a tenant-owned table carries
  ``<table>.tenant_id = <the caller's tenant>`` (``chain_id`` for the audit tables),
  over a tour of every route family (RBAC writes and reads, API keys, settings,
  tokens, audit, bulk, rotation and recovery, refusals, the decisions' cold path and
  the snapshot they rebuild).
* A deliberately unscoped ORM statement in a request session is refused loudly (500),
  never answered; so are a Core ``UPDATE`` of a tenant-owned table that does not state
  ``session_tenant``, an ORM ``executemany`` one, a second tenant for a session, and a
  flush of another tenant's object. A Core ``executemany`` stating ``session_tenant``
  stays in the session's tenant.
* The named operator paths read every tenant; the app names no others.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import Table, bindparam, event, select, update

from app.audit.service import AuditFilter, query
from app.db.engine import Database
from app.db.tenant_guard import (
    AUDIT_ADMINISTRATION,
    OPERATOR_PATHS,
    EveryTenant,
    TenancyViolation,
    bind_tenant,
    session_tenant,
    tenant_tables,
)
from app.deps import SessionDep, TenancyDep
from app.main import create_app
from app.models import Role
from app.security.credentials import hash_client_key
from app.state import AppState
from app.tenants.service import find_by_key_hash
from tests.api.helpers import assert_bare, assert_problem, tenant_client
from tests.databases import DIRECT_ACCESS

TENANT_COLUMN = {"audit_log": "chain_id", "audit_heads": "chain_id"}
PLACEHOLDER = r"(\?|\$\d+|%\(\w+\)s)(?:::[A-Z][A-Z ]*)?"
"""A bound parameter (SQLite, asyncpg with its cast, or pyformat); group 1 names it."""


@dataclass(frozen=True)
class Statement:
    sql: str
    parameters: Any
    many: bool = False
    """``parameters`` is a list of rows (executemany)."""


@contextmanager
def sent(app: FastAPI) -> Iterator[list[Statement]]:
    """Every statement the app's engine hands its driver inside the block."""
    engine = app.state.auth.database.engine.sync_engine
    seen: list[Statement] = []

    def record(
        _conn: Any, _cursor: Any, sql: str, parameters: Any, _context: Any, many: bool
    ) -> None:
        seen.append(Statement(" ".join(sql.split()), parameters, many))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _bound_values(statement: Statement, placeholder: str, at: int) -> list[Any]:
    """The values bound to the placeholder found at ``at`` in the statement (one per
    row of an executemany)."""
    rows = statement.parameters if statement.many else [statement.parameters]
    if placeholder.startswith("$"):
        return [row[int(placeholder[1:]) - 1] for row in rows]
    if placeholder.startswith("%("):
        return [row[placeholder[2:-2]] for row in rows]
    return [row[statement.sql[:at].count("?")] for row in rows]


def tenant_tables_read(statement: Statement) -> set[str]:
    """The tenant-owned tables a non-INSERT statement names as a table (not as a
    ``table.column`` prefix)."""
    if statement.sql.upper().startswith("INSERT"):
        return set()
    return {
        table.name
        for table in tenant_tables()
        if re.search(rf"(?<![\w.]){table.name}(?![\w.])", statement.sql)
    }


def by_primary_key(statement: Statement) -> bool:
    """An UPDATE or DELETE of one row by its primary key alone: the unit of work writing
    an object the session holds (the guard checks that object's tenant at flush)."""
    match = re.fullmatch(
        rf"(?:UPDATE (\w+) SET .+?|DELETE FROM (\w+)) WHERE (\w+)\.(\w+) = {PLACEHOLDER}",  # noqa: S608
        statement.sql,
    )
    if match is None:
        return False
    name = match.group(1) or match.group(2)
    keys = {table.name: [column.name for column in table.primary_key] for table in tenant_tables()}
    return match.group(3) == name and keys.get(name) == [match.group(4)]


def unscoped(statement: Statement, tenant_id: int) -> list[str]:
    """The tenant-owned tables of ``statement`` without ``<table>.<tenant column> =
    tenant_id`` (the unit of work's writes by primary key aside)."""
    if by_primary_key(statement):
        return []
    missing = []
    for table in sorted(tenant_tables_read(statement)):
        column = TENANT_COLUMN.get(table, "tenant_id")
        pattern = rf"{table}\.{column} = {PLACEHOLDER}"
        values = [
            value
            for match in re.finditer(pattern, statement.sql)
            for value in _bound_values(statement, match.group(1), match.start(1))
        ]
        if not values or any(value != tenant_id for value in values):
            missing.append(table)
    return missing


async def _tenant_id(app: FastAPI, client_key: str) -> int:
    state: AppState = app.state.auth
    async with state.database.transaction(write=False) as session:
        found = await find_by_key_hash(session, hash_client_key(client_key, state.secrets.key_hash))
    assert found is not None
    return found.id


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _tour(app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    """Every route family once, as a tenant would call them."""
    decisions = app.state.auth.decisions
    # RBAC writes
    assert_bare(await api.post("/api/role/editors", json={"description": "Edit"}), True)
    assert_bare(await api.post("/api/role/editors", json={"description": "Edit more"}), True)
    assert_bare(await api.post("/api/role/viewers"), True)
    assert_bare(await api.post("/api/permission/editors/publish"), True)
    assert_bare(await api.post("/api/permission/viewers/read"), True)
    created = _ok(await api.post("/api/apikeys/user/alice", json={"label": "laptop"}))
    secret, key_id = created["data"]["api_key"], created["data"]["key_id"]
    assert_bare(await api.post("/api/membership/alice/editors"), True)
    assert_bare(await api.post("/api/membership/bob/viewers"), True)
    # settings, and a refusal audited in its own transaction (strict identity: 409)
    _ok(await api.put("/api/settings", json={"strict_users": True}))
    _ok(await api.get("/api/settings"))
    assert (await api.post("/api/membership/carol/viewers")).status_code == 409
    _ok(await api.put("/api/settings", json={"strict_users": False}))
    # RBAC reads
    for path in (
        "/api/roles",
        "/api/members/editors",
        "/api/user_roles/alice",
        "/api/role_permissions/editors",
        "/api/user_permissions/alice",
        "/api/which_roles_can/publish",
        "/api/which_users_can/publish",
        "/api/workflow/users/publish",
        "/api/membership/alice/editors",
        "/api/permission/editors/publish",
    ):
        _ok(await api.get(path))
    # decisions: the cold path (no snapshot), then the snapshot it rebuilds
    await decisions.settle()
    budget, decisions.cache.budget = decisions.cache.budget, 0
    try:
        _ok(await api.get("/api/has_permission/alice/publish"))
        _ok(await api.get("/api/workflow/user/bob/can_run/read"))
        checks = {"checks": [{"user": "alice", "permission": "publish"}]}
        _ok(await api.post("/api/check", json=checks))
    finally:
        decisions.cache.budget = budget
    _ok(await api.get("/api/has_permission/alice/publish"))
    await decisions.settle()
    # API keys
    _ok(await api.get("/api/apikeys/user/alice"))
    _ok(await api.post("/api/apikeys/validate", json={"api_key": secret}))
    body = {"api_key": secret, "permission": "publish"}
    _ok(await api.post("/api/apikeys/check_permission", json=body))
    soon = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    _ok(await api.patch(f"/api/apikeys/user/alice/{key_id}", json={"expires_at": soon}))
    _ok(await api.delete(f"/api/apikeys/user/alice/{key_id}"))
    # tokens: issue, use, refresh, replay (the revocation is committed), revoke
    pair = _ok(await api.post("/api/token", json={"scope": "admin"}))
    bearer = {"Authorization": f"Bearer {pair['access_token']}"}
    _ok(await client.get("/api/roles", headers=bearer))
    refreshed = _ok(
        await client.post("/api/token/refresh", json={"refresh_token": pair["refresh_token"]})
    )
    replay = await client.post("/api/token/refresh", json={"refresh_token": pair["refresh_token"]})
    assert replay.status_code == 401
    second = _ok(await api.post("/api/token"))
    _ok(await client.post("/api/token/revoke", json={"token": second["refresh_token"]}))
    assert (await client.get("/api/roles", headers=bearer)).status_code == 401
    assert refreshed["access_token"]
    # audit trail
    _ok(await api.get("/api/audit"))
    _ok(await api.get("/api/audit", params={"action": "CREATE_ROLE", "limit": 2}))
    # bulk import and export
    lines = b'{"type": "role", "role": "ops", "description": "On call"}\n'
    lines += b'{"type": "role", "role": "editors", "description": "Edit again"}\n'
    lines += b'{"type": "role", "role": "viewers", "description": "View"}\n'
    lines += b'{"type": "grant", "role": "ops", "permission": "page"}\n'
    imported = await api.post(
        "/api/bulk", content=lines, headers={"Content-Type": "application/x-ndjson"}
    )
    _ok(imported)
    exported = await api.get("/api/bulk")
    assert exported.status_code == 200, exported.text
    # removals
    assert_bare(await api.delete("/api/membership/bob/viewers"), True)
    assert_bare(await api.delete("/api/permission/viewers/read"), True)
    _ok(await api.delete("/api/role/viewers"))


async def _rotation(api: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    """Rotate key, recovery (no credential until the rotate key names the tenant) and
    rotation; the old keys are refused afterwards."""
    rotate_key = _ok(await api.post("/api/keys/get_rotate_key"))["data"]["rotate_key"]
    recovered = _ok(await client.post("/api/keys/recover", json={"rotate_key": rotate_key}))
    new_key = recovered["data"]["new_key"]
    assert (await api.get("/api/roles")).status_code == 401  # a retired key, audited
    headers = {"Authorization": f"Bearer {new_key}"}
    rotated = _ok(await client.post("/api/keys/rotate", headers=headers))
    assert rotated["data"]["migrated"]["roles"] >= 1


async def test_every_request_statement_on_a_tenant_table_names_the_tenant(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, client_key: str
) -> None:
    assert_bare(await api.post("/api/role/first"), True)  # registers the tenant
    tenant_id = await _tenant_id(app, client_key)
    async with tenant_client(app) as other:  # another tenant's rows exist throughout
        assert_bare(await other.post("/api/role/editors"), True)
        assert_bare(await other.post("/api/membership/alice/editors"), True)
    await app.state.auth.decisions.settle()
    with sent(app) as seen:
        await _tour(app, api, client)
        await _rotation(api, client)
        await app.state.auth.decisions.settle()
    tables: set[str] = set()
    failures = []
    for statement in seen:
        tables |= tenant_tables_read(statement)
        missing = unscoped(statement, tenant_id)
        if missing:
            failures.append((missing, statement.sql))
    assert failures == []
    assert tables == {table.name for table in tenant_tables()}
    # the import's description rewrite: a Core executemany stating session_tenant()
    assert any(statement.many and statement.sql.startswith("UPDATE roles") for statement in seen)


def test_the_checker_sees_a_missing_or_foreign_tenant() -> None:
    """The reading above fails on what it must catch."""
    scoped = Statement("SELECT roles.name FROM roles WHERE roles.tenant_id = ?", (7,))
    assert unscoped(scoped, 7) == []
    assert unscoped(scoped, 8) == ["roles"]
    bare = Statement("SELECT roles.name FROM roles WHERE roles.name = ?", ("x",))
    assert unscoped(bare, 7) == ["roles"]
    joined = Statement(
        "SELECT memberships.user_key FROM memberships JOIN roles ON roles.id = "
        "memberships.role_id AND roles.tenant_id = $2 WHERE memberships.user_key = $1",
        ("u", 7),
    )
    assert unscoped(joined, 7) == ["memberships"]
    cast = Statement("DELETE FROM grants WHERE grants.tenant_id = $1::BIGINT", (7,))
    assert unscoped(cast, 7) == []
    many = Statement("UPDATE roles SET x=? WHERE roles.tenant_id = ?", [("a", 7), ("b", 8)], True)
    assert unscoped(many, 7) == ["roles"]
    assert unscoped(Statement("INSERT INTO roles (tenant_id) VALUES (?)", (8,)), 7) == []
    flushed = Statement("UPDATE api_keys SET label=? WHERE api_keys.id = ?", ("x", 3))
    assert unscoped(flushed, 7) == []
    wider = Statement("UPDATE api_keys SET label=? WHERE api_keys.user_key = ?", ("x", "u"))
    assert unscoped(wider, 7) == ["api_keys"]


# --- refusals and opt-outs ---------------------------------------------------------


@pytest.fixture
async def guarded_app(settings: Any, tmp_path: Path) -> AsyncIterator[FastAPI]:
    """An app of the session's database with routes that misuse the session."""
    application = create_app(settings.model_copy(update={"state_dir": tmp_path}))

    @application.get("/guard/unscoped")
    async def unscoped_read(session: SessionDep) -> list[str]:
        return list((await session.execute(select(Role.name))).scalars())

    @application.get("/guard/roles")
    async def tenant_roles(tenancy: TenancyDep) -> list[str]:
        statement = select(Role.name).order_by(Role.name)
        return list((await tenancy.session.execute(statement)).scalars())

    @application.post("/guard/core-update")
    async def core_update(tenancy: TenancyDep) -> bool:
        table = Role.__table__
        assert isinstance(table, Table)
        await tenancy.session.execute(update(table).values(description="x"))
        return True

    @application.post("/guard/rebind")
    async def rebind(tenancy: TenancyDep) -> bool:
        bind_tenant(tenancy.session, tenancy.tenant_id + 1)
        return True

    async with LifespanManager(application):
        yield application


async def test_an_unscoped_statement_is_refused_never_answered(guarded_app: FastAPI) -> None:
    own_key, other_key = str(uuid.uuid4()), str(uuid.uuid4())
    async with tenant_client(guarded_app, other_key) as other:
        assert_bare(await other.post("/api/role/theirs"), True)
    transport = httpx.ASGITransport(app=guarded_app, raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {own_key}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as http:
        assert_bare(await http.post("/api/role/mine"), True)
        assert (await http.get("/guard/roles")).json() == ["mine"]
        for method, path in (
            ("GET", "/guard/unscoped"),
            ("POST", "/guard/core-update"),
            ("POST", "/guard/rebind"),
        ):
            assert assert_problem(await http.request(method, path), 500)["code"] == 500
    async with tenant_client(guarded_app, other_key) as other:
        assert_bare(await other.get("/api/roles"), [{"role": "theirs", "description": None}])


async def test_a_session_without_tenancy_refuses_tenant_tables(app: FastAPI) -> None:
    database: Database = app.state.auth.database
    async with database.transaction(write=False) as session:
        with pytest.raises(TenancyViolation, match="bound to no tenant"):
            await session.execute(select(Role.name))
        with pytest.raises(TenancyViolation, match="bound to no tenant"):
            await session.execute(update(Role).values(description="x"))
    async with database.transaction(write=False) as session:
        with pytest.raises(TenancyViolation, match="bound to no tenant"):
            await query(session, AuditFilter(), limit=10)


async def test_forms_the_criteria_cannot_reach_are_refused(app: FastAPI) -> None:
    """Even in a tenant's session: an executemany UPDATE of a tenant-owned model (ORM
    bulk by primary key) and a Core UPDATE of its table that does not state
    ``session_tenant`` carry no tenant."""
    database: Database = app.state.auth.database
    table = Role.__table__
    assert isinstance(table, Table)
    async with database.session(write=True, tenant=1) as session:
        with pytest.raises(TenancyViolation, match="executemany"):
            await session.execute(update(Role), [{"id": 1, "description": "x"}])
        with pytest.raises(TenancyViolation, match="must state session_tenant"):
            await session.execute(update(table).values(description="x"))
        with pytest.raises(TenancyViolation, match="cannot serve tenant 2"):
            bind_tenant(session, 2)
    async with database.session(write=True) as session:
        stated = update(table).where(session_tenant(table)).values(description="x")
        with pytest.raises(TenancyViolation, match="bound to no tenant"):
            await session.execute(stated)


async def test_a_core_executemany_stating_the_session_tenant_stays_in_it(
    app: FastAPI, api: httpx.AsyncClient, client_key: str
) -> None:
    """The session binds its own tenant into every row: the same names in another
    tenant are left alone."""
    assert_bare(await api.post("/api/role/shared"), True)
    tenant_id = await _tenant_id(app, client_key)
    async with tenant_client(app) as other:
        assert_bare(await other.post("/api/role/shared"), True)
        other_id = await _tenant_id(app, other.headers["Authorization"].split()[1])
    database: Database = app.state.auth.database
    table = Role.__table__
    assert isinstance(table, Table)
    statement = (
        update(table)
        .where(session_tenant(table))
        .where(table.c.name == bindparam("b_name"))
        .values(description=bindparam("b_description"))
    )
    async with database.transaction(tenant=tenant_id) as session:
        rows = [{"b_name": "shared", "b_description": "mine"}, {"b_name": "x", "b_description": ""}]
        await session.execute(statement, rows)
    async with database.session(write=False, every_tenant=DIRECT_ACCESS) as session:
        found = (
            await session.execute(
                select(Role.tenant_id, Role.description).where(
                    Role.name == "shared", Role.tenant_id.in_((tenant_id, other_id))
                )
            )
        ).all()
    assert dict(found) == {tenant_id: "mine", other_id: None}


async def test_a_tenant_session_reads_its_chain_whatever_the_filter_says(
    app: FastAPI, api: httpx.AsyncClient, client_key: str
) -> None:
    assert_bare(await api.post("/api/role/mine"), True)
    tenant_id = await _tenant_id(app, client_key)
    async with tenant_client(app) as other:
        assert_bare(await other.post("/api/role/theirs"), True)
        other_id = await _tenant_id(app, other.headers["Authorization"].split()[1])
    database: Database = app.state.auth.database
    async with database.transaction(write=False, tenant=tenant_id) as session:
        _, rows = await query(session, AuditFilter(), limit=1000)
        assert rows
        assert {row.chain_id for row in rows} == {tenant_id}
        _, rows = await query(session, AuditFilter(chain_id=other_id), limit=1000)
        assert rows == []
    async with database.transaction(write=False, every_tenant=AUDIT_ADMINISTRATION) as session:
        _, rows = await query(session, AuditFilter(), limit=1_000_000)
        assert {tenant_id, other_id} <= {row.chain_id for row in rows}
        names = set((await session.execute(select(Role.tenant_id))).scalars())
        assert {tenant_id, other_id} <= names


async def test_the_unit_of_work_changes_only_the_sessions_tenant(
    app: FastAPI, api: httpx.AsyncClient, client_key: str
) -> None:
    """An object of another tenant that found its way into a tenant's session (here:
    handed over detached) is not written at flush."""
    assert_bare(await api.post("/api/role/mine"), True)
    tenant_id = await _tenant_id(app, client_key)
    async with tenant_client(app) as other:
        assert_bare(await other.post("/api/role/theirs", json={"description": "Theirs"}), True)
        other_id = await _tenant_id(app, other.headers["Authorization"].split()[1])
    database: Database = app.state.auth.database
    async with database.session(write=False, every_tenant=DIRECT_ACCESS) as session:
        theirs = (
            await session.execute(select(Role).where(Role.tenant_id == other_id))
        ).scalar_one()
        session.expunge(theirs)
    stored = theirs.description
    async with database.session(write=True, tenant=tenant_id) as session:
        session.add(theirs)
        theirs.description = "overwritten"
        with pytest.raises(TenancyViolation, match=f"tenant {other_id} was changed"):
            await session.commit()
    async with database.session(write=False, tenant=other_id) as session:
        assert (await session.execute(select(Role.description))).scalar_one() == stored


def test_operator_paths_are_few_and_named() -> None:
    """The app opens sessions on every tenant only through the listed paths."""
    assert all(path.reason.strip() for path in OPERATOR_PATHS)
    with pytest.raises(ValueError, match="name"):
        EveryTenant(" ")
    app_dir = Path(__file__).resolve().parents[2] / "app"
    created = [
        path
        for path in app_dir.rglob("*.py")
        if path.name != "tenant_guard.py" and "EveryTenant(" in path.read_text()
    ]
    assert created == []
