"""Starting the service: zero configuration, ``auth-server migrate``, refusals.

``serve`` always runs as a real process; ``migrate`` runs through :func:`app.cli.main`
in this process (:func:`tests.e2e.server.run_cli_in_process`): its output and the
schema it writes are the subject, not the process."""

from __future__ import annotations

import sqlite3
import stat
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from app.db.migrations import head_revision
from app.models import Base
from tests.e2e.server import ServerProcess, free_port, run_cli, run_cli_in_process, server_env

pytestmark = pytest.mark.e2e

SCHEMA_TABLES = {*Base.metadata.tables, "alembic_version"}


def sqlite_schema(path: Path) -> tuple[set[str], list[str]]:
    """The table names of a SQLite file and its Alembic revision(s)."""
    with closing(sqlite3.connect(path)) as connection:
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        versions = [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]
    return tables, versions


def test_zero_configuration_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with (
        ServerProcess(tmp_path, server_env(home, AUTH_PORT=str(free_port()))) as server,
        httpx.Client(base_url=server.url, timeout=10.0) as http,
    ):
        docs = http.get("/docs")
        assert docs.status_code == 200
        assert docs.headers["content-type"] == "text/html; charset=utf-8"
        assert '<div id="swagger-ui"' in docs.text
        assert http.get("/docs-static/assets/swagger-ui-bundle.js").status_code == 200
        schema = http.get("/openapi.json")
        assert schema.status_code == 200
        assert schema.json()["info"]["title"] == "auth"
        assert "/api/has_permission/{user}/{name}" in schema.json()["paths"]

    database = home / ".auth.sqlite3"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    tables, versions = sqlite_schema(database)
    assert tables == SCHEMA_TABLES
    assert versions == [head_revision()]


def test_migrate_creates_the_schema(tmp_path: Path) -> None:
    database = tmp_path / "fresh" / "auth.sqlite3"
    env = server_env(tmp_path / "home", AUTH_SQLITE_PATH=str(database))
    result = run_cli_in_process(["migrate"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"database at sqlite+aiosqlite:///{database} upgraded to head\n"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    tables, versions = sqlite_schema(database)
    assert tables == SCHEMA_TABLES
    assert versions == [head_revision()]


def test_serve_without_migrating_a_migrated_database(
    tmp_path: Path, fresh_database_env: dict[str, str]
) -> None:
    env = server_env(
        tmp_path / "home",
        AUTH_PORT=str(free_port()),
        AUTH_MIGRATE_ON_START="false",
        **fresh_database_env,
    )
    assert run_cli_in_process(["migrate"], env, tmp_path).returncode == 0
    with (
        ServerProcess(tmp_path, env) as server,
        httpx.Client(base_url=server.url, timeout=10.0) as http,
    ):
        assert http.get("/health").json() == {"status": "healthy"}


def test_serve_runs_alembic_only_when_the_schema_is_behind(
    tmp_path: Path, fresh_database_env: dict[str, str]
) -> None:
    """The first start migrates; a restart on the current schema reads its revision and
    leaves Alembic alone (nothing logged by ``alembic.*``)."""
    env = server_env(tmp_path / "home", AUTH_PORT=str(free_port()), **fresh_database_env)
    logs = []
    for start in ("first", "restart"):
        workdir = tmp_path / start
        workdir.mkdir()
        with ServerProcess(workdir, env) as server:
            assert httpx.get(f"{server.url}/health", timeout=10).json() == {"status": "healthy"}
        logs.append(server.log())
    first, restart = logs
    assert "Running upgrade  -> 0001" in first, first
    assert "alembic." not in restart, restart
    assert "Traceback" not in first + restart


def test_unmigrated_database_is_refused(tmp_path: Path, fresh_database_env: dict[str, str]) -> None:
    env = server_env(
        tmp_path / "home",
        AUTH_PORT=str(free_port()),
        AUTH_MIGRATE_ON_START="false",
        **fresh_database_env,
    )
    result = run_cli(["serve"], env, tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"auth-server: database schema is at revision none but this release needs "
        f"{head_revision()}: run `auth-server migrate` (or set AUTH_MIGRATE_ON_START=true)"
    )
    assert "Traceback" not in result.stderr


def test_invalid_configuration_names_the_variable(tmp_path: Path) -> None:
    env = server_env(tmp_path / "home", AUTH_PORT="0")
    result = run_cli(["serve"], env, tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "auth-server: invalid configuration: AUTH_PORT: "
        "Input should be greater than or equal to 1\n"
    )
