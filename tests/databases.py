"""Real test databases: a temporary SQLite file, or a fresh PostgreSQL database.

PostgreSQL comes from ``AUTH_TEST_POSTGRESQL_URL`` (default: the local server as
``postgres``). When it is unreachable the PostgreSQL half of the suite is skipped,
except under ``CI=true``, where that is a failure.

Tests that set up, alter or inspect rows of several tenants directly open their
sessions on :data:`DIRECT_ACCESS`, the tests' own operator path
(:mod:`app.db.tenant_guard`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from app.db.tenant_guard import EveryTenant
from app.db.url import DatabaseTarget, resolve_database_target

ADMIN_URL = os.environ.get(
    "AUTH_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


DIRECT_ACCESS = EveryTenant("tests: rows set up, altered and inspected directly")


def sqlite_target(directory: Path, name: str = "auth.sqlite3") -> DatabaseTarget:
    return resolve_database_target(f"sqlite:///{directory / name}")


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin_connection() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(_plain(ADMIN_URL), timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable ({type(exc).__name__}); set AUTH_TEST_POSTGRESQL_URL")


@asynccontextmanager
async def postgresql_database(prefix: str = "auth_test") -> AsyncIterator[str]:
    """Create a uniquely named database, yield its plain URL, drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await _admin_connection()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield make_url(_plain(ADMIN_URL)).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await _admin_connection()
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
