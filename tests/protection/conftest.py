"""Fixtures of the data-protection suite.

* ``settings`` / ``app``: this package's own app on the session's shared databases,
  with rate limiting off (the tests count audit rows and send bursts of writes in
  one tenant, and must not depend on budgets spent by other packages).
* ``checks_app``: a second app on the same databases with
  ``audit_permission_checks`` on.
* ``private_database`` (per test) and ``module_database`` (per module): a fresh,
  migrated database of the session's backend for tests that act on a whole database
  (start-up refusals, re-encryption, tampering, pruning, export).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from app.config import Settings
from app.db.url import DatabaseTarget
from tests.conftest import make_settings
from tests.protection.helpers import PrivateDatabase, fresh_database, running


@pytest.fixture(scope="session")
def settings(database_target: DatabaseTarget, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(
        database_target, tmp_path_factory.mktemp("protection-state"), rate_limit_enabled=False
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running(settings) as application:
        yield application


@pytest.fixture
async def private_database(backend: str, tmp_path: Path) -> AsyncIterator[PrivateDatabase]:
    async with fresh_database(backend, tmp_path) as database:
        yield database


@pytest.fixture(scope="module")
async def module_database(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[PrivateDatabase]:
    async with fresh_database(backend, tmp_path_factory.mktemp("protection-db")) as database:
        yield database


@pytest.fixture(scope="session")
async def checks_app(
    database_target: DatabaseTarget, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FastAPI]:
    """A second app on the same database that also audits permission checks."""
    settings = make_settings(
        database_target,
        tmp_path_factory.mktemp("protection-checks-state"),
        rate_limit_enabled=False,
        audit_permission_checks=True,
    )
    async with running(settings) as application:
        yield application
