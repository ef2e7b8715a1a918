"""Fixtures that run real ``auth-server`` processes.

* ``server``: one process per backend per test module, on a free port, with a
  temporary ``HOME`` and a fresh database (a SQLite file in a temporary directory, or
  a new PostgreSQL database), started through ``auth-server serve`` (which migrates).
* ``fresh_database_env``: the ``AUTH_*`` variables of a fresh, empty database for one
  test (for tests that start their own processes).
* When a test that used a server fails, the server's log is attached to its report.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.databases import postgresql_database
from tests.e2e.server import ServerProcess, free_port, server_env


@asynccontextmanager
async def database_env(backend: str, directory: Path) -> AsyncIterator[dict[str, str]]:
    """``AUTH_SQLITE_PATH`` in ``directory``, or ``AUTH_DATABASE_URL`` of a new database."""
    if backend == "sqlite":
        yield {"AUTH_SQLITE_PATH": str(directory / "auth.sqlite3")}
        return
    async with postgresql_database("auth_e2e") as url:
        yield {"AUTH_DATABASE_URL": url}


@pytest.fixture(scope="module")
async def server_database_env(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, str]]:
    async with database_env(backend, tmp_path_factory.mktemp("e2e-db")) as env:
        yield env


@pytest.fixture
async def fresh_database_env(backend: str, tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    directory = tmp_path / "db"
    directory.mkdir()
    async with database_env(backend, directory) as env:
        yield env


@pytest.fixture(scope="module")
def server(
    server_database_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A healthy ``auth-server serve`` process, terminated after the module."""
    workdir = tmp_path_factory.mktemp("e2e-server")
    env = server_env(
        workdir / "home",
        AUTH_PORT=str(free_port()),
        # Users in these tests hold no API keys; strict identity would deny them.
        AUTH_STRICT_USERS_DEFAULT="false",
        # Every test opens tenants of its own from this one address.
        AUTH_RATE_LIMIT_REGISTRATION="1000/minute",
        **server_database_env,
    )
    with ServerProcess(workdir, env) as process:
        yield process


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and isinstance(item, pytest.Function):
        for value in item.funcargs.values():
            if isinstance(value, ServerProcess):
                report.sections.append((f"auth-server log ({value.url})", value.log()))
    return report
