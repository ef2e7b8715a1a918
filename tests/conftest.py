"""Shared fixtures: the app on real, migrated SQLite and PostgreSQL databases.

* ``backend`` and ``protection`` are parametrised: every test that uses the app runs
  on both databases, with field encryption off (``plain``) and on (``encrypted``).
* One database per (backend, protection) per test session, migrated with Alembic
  (never ``create_all``). Tests isolate themselves by tenant: each gets a fresh
  client key. :func:`make_settings` turns encryption on for the encrypted databases,
  so any app a test builds on ``database_target`` matches its data.
* The app runs its real lifespan (``LifespanManager``) and is driven in-process with
  ``httpx.ASGITransport``; ``tests/e2e`` drives real server processes instead.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.config import Settings
from app.db.migrations import upgrade
from app.db.url import DatabaseTarget, resolve_database_target
from app.main import create_app
from tests.databases import postgresql_database, sqlite_target

BACKENDS = ["sqlite", "postgresql"]
PROTECTIONS = ["plain", "encrypted"]
TEST_KEY_HASH_SECRET = "test-key-hash-secret-0123456789abcdef"
TEST_JWT_SECRET = "test-jwt-signing-secret-0123456789abcdef"
TEST_FERNET_KEY = "x3mJ8X2m1bS4m0O8gQ1c7cJb6m0h8Zr5J8yG0o1Lq3E="
_ENCRYPTED_DATABASES: set[str] = set()


def _url(target: DatabaseTarget) -> str:
    return target.url.render_as_string(hide_password=False)


def encryption_settings(target: DatabaseTarget) -> dict[str, object]:
    """The encryption settings a test database was populated with."""
    if _url(target) in _ENCRYPTED_DATABASES:
        return {"enable_encryption": True, "encryption_key": TEST_FERNET_KEY}
    return {}


GENEROUS_RATE_LIMITS: dict[str, object] = {
    "rate_limit_default": "1000000/minute",
    "rate_limit_write": "1000000/minute",
    "rate_limit_role_create": "1000000/minute",
    "rate_limit_auth_failures": "1000000/minute",
    "rate_limit_registration": "1000000/minute",
}


def make_settings(target: DatabaseTarget, state_dir: Path, **overrides: object) -> Settings:
    """Settings for tests: explicit, never read from a developer's ``.env``."""
    values: dict[str, object] = {
        "database_url": _url(target),
        "key_hash_secret": TEST_KEY_HASH_SECRET,
        "jwt_secret_key": TEST_JWT_SECRET,
        "state_dir": state_dir,
        # Core RBAC tests run with strict identity off; tests/identity turns it on per
        # tenant (PUT /api/settings) and checks the server default separately.
        "strict_users_default": False,
        # The session's tests share one app, one client address and one rate-limit
        # store: generous budgets here; tests/edge checks the limits on apps of its own.
        **GENEROUS_RATE_LIMITS,
        **encryption_settings(target),
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session", params=PROTECTIONS)
def protection(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
async def database_target(
    backend: str, protection: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DatabaseTarget]:
    """A migrated database for this backend and protection, shared by the session."""
    if backend == "sqlite":
        target = sqlite_target(tmp_path_factory.mktemp(f"sqlite-{protection}"))
        await asyncio.to_thread(upgrade, target)
        if protection == "encrypted":
            _ENCRYPTED_DATABASES.add(_url(target))
        yield target
        return
    async with postgresql_database() as url:
        target = resolve_database_target(url)
        await asyncio.to_thread(upgrade, target)
        if protection == "encrypted":
            _ENCRYPTED_DATABASES.add(_url(target))
        yield target


@pytest.fixture(scope="session")
def settings(database_target: DatabaseTarget, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(database_target, tmp_path_factory.mktemp("state"))


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An anonymous client (no Authorization header)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def client_key() -> str:
    """A fresh client key: a new, empty tenant for every test."""
    return str(uuid.uuid4())


@pytest.fixture
async def api(app: FastAPI, client_key: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client authenticated as the test's own tenant."""
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {client_key}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as http:
        yield http
