"""Database faults in process, on both databases: unreachable, a statement held past
its timeout by a lock, an exhausted pool. Each answers 503 problem+json with
``Retry-After`` (never an allow, never a 500), logs the outage once, and the service
answers normally again as soon as the database does.

``tests/e2e/test_faults.py`` covers the same behaviour against real server processes
(a stopped and a frozen PostgreSQL cluster, a full disk, SIGKILL, Redis down).
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.db.engine import Database, build_engine
from app.db.url import DatabaseTarget, resolve_database_target
from app.decisions.probe import FamilyState, KeyState
from app.decisions.service import Decisions
from app.main import create_app
from app.state import AppState
from tests.api.helpers import assert_problem
from tests.conftest import make_settings

UNREACHABLE_POSTGRESQL = "postgresql://postgres@127.0.0.1:1/nope"
CHECK = "/api/has_permission/alice/publish"
LOGGER = "app.db"
SHORT = 0.3  # seconds: statement, pool and busy timeouts of these apps


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[FastAPI]:
    async with LifespanManager(app):
        yield app


def client(app: FastAPI, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {key}"},
    )


async def grant_alice(http: httpx.AsyncClient) -> None:
    for path in ("/api/role/editors", "/api/permission/editors/publish",
                 "/api/membership/alice/editors"):  # fmt: skip
        assert (await http.post(path)).json() == {"result": True}
    assert (await http.get(CHECK)).json()["data"]["has_permission"] is True


def assert_unavailable(response: httpx.Response, fault: str) -> None:
    body = assert_problem(response, 503)
    assert body["type"] == "urn:auth:problem:database-unavailable"
    assert body["fault"] == fault
    assert int(response.headers["retry-after"]) >= 1
    assert "has_permission" not in response.text


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


@pytest.fixture
def short_timeouts(database_target: DatabaseTarget, tmp_path: Path) -> dict[str, Any]:
    return {
        "db_statement_timeout": SHORT,
        "db_pool_timeout": SHORT,
        "sqlite_busy_timeout_ms": int(SHORT * 1000),
    }


async def test_unreachable_database_answers_503_never_an_allow(
    database_target: DatabaseTarget,
    backend: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(database_target, tmp_path)
    url = UNREACHABLE_POSTGRESQL if backend == "postgresql" else f"sqlite:///{tmp_path}"
    broken = build_engine(make_settings(resolve_database_target(url), tmp_path))
    key = str(uuid.uuid4())
    try:
        async with running(create_app(settings)) as app, client(app, key) as http:
            await grant_alice(http)
            state: AppState = app.state.auth
            # Every connection fails: the engine's and the decisions' freshness probe.
            database = Database(broken)
            decisions = Decisions(database, UnreachableProbe(), state.cipher, settings)
            app.state.auth = dataclasses.replace(state, database=database, decisions=decisions)
            with caplog.at_level(logging.INFO, logger=LOGGER):
                assert_unavailable(await http.get(CHECK), "unreachable")
                assert_unavailable(await http.post("/api/role/other"), "unreachable")
                assert_unavailable(await http.get("/api/roles"), "unreachable")
            assert outage_lines(caplog) == [
                "database unavailable (unreachable): requests that need it answer 503 "
                "until it answers"
            ]
            assert not [r for r in caplog.records if r.name == "app.errors"]
    finally:
        await broken.dispose()


class UnreachableProbe:
    """A freshness probe whose database refuses every connection."""

    async def by_key_hash(self, key_hash: str) -> KeyState | None:
        raise ConnectionRefusedError("connection refused")

    async def by_tenant(self, tenant_id: int) -> int | None:
        raise ConnectionRefusedError("connection refused")

    async def family(self, family_id: str, tenant_id: int) -> FamilyState | None:
        raise ConnectionRefusedError("connection refused")

    async def close(self) -> None:
        return None


@asynccontextmanager
async def tenants_locked(target: DatabaseTarget) -> AsyncIterator[None]:
    """Hold a lock that stalls the requests: PostgreSQL, an ACCESS EXCLUSIVE lock on
    ``tenants`` (every request reads it); SQLite, the write lock."""
    if target.is_postgresql:
        plain = target.url.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(plain, timeout=5)
        try:
            transaction = connection.transaction()
            await transaction.start()
            await connection.execute("LOCK TABLE tenants IN ACCESS EXCLUSIVE MODE")
            yield
            await transaction.rollback()
        finally:
            await connection.close()
        return
    holder = sqlite3.connect(str(target.url.database), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
        holder.execute("ROLLBACK")
    finally:
        holder.close()


async def test_statement_held_past_its_timeout_answers_503_then_recovers(
    database_target: DatabaseTarget,
    tmp_path: Path,
    short_timeouts: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(database_target, tmp_path, **short_timeouts)
    key = str(uuid.uuid4())
    async with running(create_app(settings)) as app, client(app, key) as http:
        await grant_alice(http)
        with caplog.at_level(logging.INFO, logger=LOGGER):
            async with tenants_locked(database_target):
                started = time.monotonic()
                write = await http.post("/api/role/blocked")
                assert time.monotonic() - started < SHORT + 3
                assert_unavailable(write, "timeout")
                if database_target.is_postgresql:  # SQLite readers never wait (WAL)
                    assert_unavailable(await http.get(CHECK), "timeout")
            assert (await http.get(CHECK)).json()["data"]["has_permission"] is True
            assert (await http.post("/api/role/after")).json() == {"result": True}
        roles = (await http.get("/api/roles")).json()["result"]
        assert "blocked" not in {role["role"] for role in roles}
        lines = outage_lines(caplog)
        assert len(lines) == 2
        assert lines[0].startswith("database unavailable (timeout)")
        assert lines[1] == "database answers again"


async def test_exhausted_pool_answers_503(
    database_target: DatabaseTarget, tmp_path: Path, short_timeouts: dict[str, Any]
) -> None:
    settings = make_settings(
        database_target, tmp_path, db_pool_size=1, db_max_overflow=0, **short_timeouts
    )
    key = str(uuid.uuid4())
    async with running(create_app(settings)) as app, client(app, key) as http:
        await grant_alice(http)
        state: AppState = app.state.auth
        assert (await http.get(CHECK)).json()["data"]["has_permission"] is True
        assert state.decisions is not None
        await state.decisions.settle()  # the tenant's decision snapshot is current
        async with state.database.engine.connect():  # the pool's only connection
            # Decisions confirmed fresh by the probe (its own connection) need no pool;
            # everything that does answers 503.
            assert (await http.get(CHECK)).json()["data"]["has_permission"] is True
            assert_unavailable(await http.get("/api/roles"), "timeout")
            assert_unavailable(await http.post("/api/role/other"), "timeout")
            health = await http.get("/health")
            assert (health.status_code, health.json()) == (
                503,
                {"status": "unhealthy", "database": "timeout"},
            )
        assert (await http.get(CHECK)).json()["data"]["has_permission"] is True
        assert (await http.get("/health")).json() == {"status": "healthy"}
