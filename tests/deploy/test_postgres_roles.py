"""deploy/postgres/roles.sql: an owner role that migrates, a DML-only role that serves.

PostgreSQL only: skipped when the server is unreachable, a failure under ``CI=true``
(as in :mod:`tests.databases`). Role names are unique per run and dropped afterwards,
since roles are cluster-wide.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.engine import make_url

from app.db.migrations import upgrade
from app.db.url import resolve_database_target
from app.main import create_app
from tests.api.helpers import assert_bare, assert_wrapped
from tests.conftest import make_settings
from tests.databases import ADMIN_URL, postgresql_database

ROLES_SQL = Path(__file__).resolve().parents[2] / "deploy" / "postgres" / "roles.sql"


def psql_executable() -> str:
    found = shutil.which("psql")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("psql is required under CI=true (Debian package postgresql-client)")
        pytest.skip("psql is not installed")
    return found


def apply_roles_sql(database_url: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run roles.sql the documented way: psql as the administrator, -v variables."""
    admin = make_url(database_url).set(database="postgres").render_as_string(hide_password=False)
    arguments = [psql_executable(), admin, "--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1"]
    for name, value in variables.items():
        arguments += ["-v", f"{name}={value}"]
    return subprocess.run(
        [*arguments, "-f", str(ROLES_SQL)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def login_url(database_url: str, role: str, password: str) -> str:
    url = make_url(database_url).set(username=role, password=password)
    return url.render_as_string(hide_password=False)


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        yield connection
    finally:
        await connection.close()


async def drop_roles(*roles: str) -> None:
    async with connect(make_url(ADMIN_URL).render_as_string(hide_password=False)) as admin:
        for role in roles:
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture
async def database_and_roles() -> AsyncIterator[tuple[str, dict[str, str]]]:
    """A fresh database with roles.sql applied; the roles are dropped afterwards."""
    suffix = uuid.uuid4().hex[:10]
    variables = {
        "owner_role": f"auth_owner_{suffix}",
        "app_role": f"auth_app_{suffix}",
        "owner_password": secrets.token_urlsafe(24),
        "app_password": secrets.token_urlsafe(24),
    }
    try:
        async with postgresql_database("auth_roles") as url:
            variables["dbname"] = str(make_url(url).database)
            result = await asyncio.to_thread(apply_roles_sql, url, **variables)
            assert (result.returncode, result.stderr) == (0, "")
            yield url, variables
    finally:
        await drop_roles(variables["owner_role"], variables["app_role"])


async def test_owner_migrates_and_the_dml_role_serves(
    database_and_roles: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, roles = database_and_roles
    owner, app_role = roles["owner_role"], roles["app_role"]
    owner_url = login_url(url, owner, roles["owner_password"])
    app_url = login_url(url, app_role, roles["app_password"])

    async with connect(url) as admin:
        assert (
            await admin.fetchval(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
            )
            == owner
        )
        # Nothing exists yet: every privilege the service will use comes from the
        # default privileges that roles.sql set for the owner's future tables.
        assert (
            await admin.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
        )

    await asyncio.to_thread(upgrade, resolve_database_target(owner_url))

    async with connect(url) as admin:
        owners = await admin.fetch(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
        )
        assert [row["tableowner"] for row in owners] == [owner]

    settings = make_settings(resolve_database_target(app_url), tmp_path)
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {uuid.uuid4()}"}
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers=headers
        ) as api,
    ):
        assert_bare(await api.post("/api/role/engineers"), True)
        assert_bare(await api.post("/api/membership/alice/engineers"), True)
        assert_bare(await api.post("/api/permission/engineers/deploy"), True)
        assert_wrapped(await api.get("/api/has_permission/alice/deploy"), {"has_permission": True})
        assert_bare(await api.delete("/api/permission/engineers/deploy"), True)
        assert_wrapped(await api.get("/api/has_permission/alice/deploy"), {"has_permission": False})
        assert_bare(await api.get("/api/roles"), [{"role": "engineers", "description": None}])
        health = await api.get("/health")
        assert (health.status_code, health.json()) == (200, {"status": "healthy"})

    async with connect(app_url) as dml:
        assert await dml.fetchval("SELECT current_user") == app_role
        with pytest.raises(
            asyncpg.InsufficientPrivilegeError, match=r"^permission denied for schema public$"
        ):
            await dml.execute("CREATE TABLE intruder (id integer)")
        with pytest.raises(
            asyncpg.InsufficientPrivilegeError, match=r"^must be owner of table roles$"
        ):
            await dml.execute("DROP TABLE roles")
        with pytest.raises(
            asyncpg.InsufficientPrivilegeError, match=r"^must be owner of table roles$"
        ):
            await dml.execute("ALTER TABLE roles ADD COLUMN intruder integer")
        with pytest.raises(
            asyncpg.InsufficientPrivilegeError, match=r"^permission denied for table roles$"
        ):
            await dml.execute("TRUNCATE roles")
        assert await dml.fetchval("SELECT count(*) FROM roles") == 1


async def test_roles_sql_is_idempotent(database_and_roles: tuple[str, dict[str, str]]) -> None:
    """A second run (after migrations, with a new password) succeeds and changes only
    the password."""
    url, roles = database_and_roles
    owner_url = login_url(url, roles["owner_role"], roles["owner_password"])
    await asyncio.to_thread(upgrade, resolve_database_target(owner_url))
    password_query = "SELECT rolpassword FROM pg_authid WHERE rolname = $1"
    async with connect(url) as admin:
        before = await admin.fetchval(password_query, roles["app_role"])

    again = await asyncio.to_thread(
        apply_roles_sql, url, **{**roles, "app_password": secrets.token_urlsafe(24)}
    )
    assert (again.returncode, again.stderr) == (0, "")

    async with connect(url) as admin:
        after = await admin.fetchval(password_query, roles["app_role"])
        assert re.match(r"^SCRAM-SHA-256\$", after)
        assert after != before
        lacking = await admin.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r' AND NOT "
            "has_table_privilege($1, c.oid, 'SELECT,INSERT,UPDATE,DELETE')",
            roles["app_role"],
        )
        assert lacking == []
        attributes = await admin.fetchrow(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
            "FROM pg_roles WHERE rolname = $1",
            roles["app_role"],
        )
        assert tuple(attributes) == (False, False, False, False, False)


async def test_missing_variables_are_refused() -> None:
    async with postgresql_database("auth_roles") as url:
        result = await asyncio.to_thread(apply_roles_sql, url, dbname=str(make_url(url).database))
    assert result.returncode == 3
    assert "roles.sql: -v owner_password=... is required" in result.stderr


async def test_compose_init_hook_creates_the_database_and_roles(tmp_path: Path) -> None:
    """deploy/postgres/init-roles.sh, as the postgres image runs it on first start."""
    psql_executable()
    async with postgresql_database("auth_roles") as url:
        # The hook creates its database itself: use a name next to a managed one.
        admin = make_url(url)
        dbname = f"{admin.database}_init"
        suffix = uuid.uuid4().hex[:10]
        owner, app_role = f"auth_owner_{suffix}", f"auth_app_{suffix}"
        secrets_dir = tmp_path / "secrets"
        secrets_dir.mkdir()
        (secrets_dir / "auth_owner_password").write_text(secrets.token_urlsafe(24))
        (secrets_dir / "auth_app_password").write_text(secrets.token_urlsafe(24))
        env = {
            **os.environ,
            "PGHOST": str(admin.host),
            "PGPORT": str(admin.port or 5432),
            "POSTGRES_USER": str(admin.username),
            "DB_NAME": dbname,
            "OWNER_ROLE": owner,
            "APP_ROLE": app_role,
            "SECRETS_DIR": str(secrets_dir),
            "ROLES_SQL": str(ROLES_SQL),
        }
        try:
            result = await asyncio.to_thread(
                subprocess.run,
                ["sh", str(ROLES_SQL.with_name("init-roles.sh"))],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert (result.returncode, result.stderr) == (0, "")
            async with connect(url) as connection:
                database_owner = await connection.fetchval(
                    "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", dbname
                )
                assert database_owner == owner
                login = await connection.fetch(
                    "SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[]) AND rolcanlogin "
                    "ORDER BY rolname",
                    [owner, app_role],
                )
                assert [row["rolname"] for row in login] == sorted([owner, app_role])
        finally:
            async with connect(url) as connection:
                await connection.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            await drop_roles(owner, app_role)
