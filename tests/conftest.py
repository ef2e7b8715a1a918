"""Shared fixtures: the app on real, migrated SQLite and PostgreSQL databases.

* ``backend`` and ``protection`` are parametrised per test by
  :func:`pytest_generate_tests`, according to what the test touches:

  - by default, on SQLite and on PostgreSQL, field encryption off (``plain``);
  - ``@pytest.mark.stored_data`` (the test reads back what it stored, so encryption at
    rest changes the path): on both databases with encryption off and on
    (``encrypted``), four legs;
  - ``@pytest.mark.database_free`` (the answer never depends on the database: header
    shapes, routing, OpenAPI, error rendering): once, on SQLite, encryption off. The
    ``database_free_guard`` fixture fails such a test if it runs a statement.

  A test that parametrises ``backend`` or ``protection`` itself keeps its own values.
* One database per (backend, protection) per test session, migrated with Alembic
  (never ``create_all``). Tests isolate themselves by tenant: each gets a fresh
  client key. :func:`make_settings` turns encryption on for the encrypted databases,
  so any app a test builds on ``database_target`` matches its data.
* The app runs its real lifespan (``LifespanManager``) and is driven in-process with
  ``httpx.ASGITransport``; ``tests/e2e`` drives real server processes instead.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import event
from starlette.types import ASGIApp, Receive, Scope, Send

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


STORED_DATA = "stored_data"
DATABASE_FREE = "database_free"


def _own_parameters(definition: pytest.Function) -> set[str]:
    """The names a test parametrises itself (``@pytest.mark.parametrize``)."""
    names: set[str] = set()
    for marker in definition.iter_markers("parametrize"):
        argnames = marker.args[0]
        if isinstance(argnames, str):
            names.update(name.strip() for name in argnames.split(","))
        else:
            names.update(argnames)
    return names


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker more than the cores this process may use
    (``PYTEST_XDIST_AUTO_NUM_WORKERS`` still wins). Workers wait on their server
    processes, PostgreSQL and timeouts, and the extra worker runs meanwhile: on two
    cores the machine sat 15% idle with two workers, 5% with three, which finished the
    suite 5-8% sooner (README, "Tests")."""
    configured = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
    if configured and configured.isdigit():
        return int(configured)
    return len(os.sched_getaffinity(0)) + 1


def legs_of(definition: pytest.Function) -> tuple[list[str], list[str]]:
    """The backends and protections a test runs on (see the module docstring)."""
    if definition.get_closest_marker(DATABASE_FREE) is not None:
        return ["sqlite"], ["plain"]
    if definition.get_closest_marker(STORED_DATA) is not None:
        return BACKENDS, PROTECTIONS
    return BACKENDS, ["plain"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    own = _own_parameters(metafunc.definition)
    backends, protections = legs_of(metafunc.definition)
    if "backend" in metafunc.fixturenames and "backend" not in own:
        metafunc.parametrize("backend", backends, indirect=True, scope="session")
    if "protection" in metafunc.fixturenames and "protection" not in own:
        metafunc.parametrize("protection", protections, indirect=True, scope="session")


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
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


SENT_BY: ContextVar[str | None] = ContextVar("sent_by", default=None)
"""The test whose request is being served (set by :class:`TaggedApp`)."""
STATEMENTS_OF: Counter[str] = Counter()
"""Statements each test's requests ran, for :func:`database_free_guard`."""


class TaggedApp:
    """The app, each request tagged with the test that sent it, so the statements it
    runs (and the background work it starts) are counted for that test alone."""

    def __init__(self, app: ASGIApp, node_id: str) -> None:
        self.app = app
        self.node_id = node_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = SENT_BY.set(self.node_id)
        try:
            await self.app(scope, receive, send)
        finally:
            SENT_BY.reset(token)


def _count_statement(*_args: object) -> None:
    sender = SENT_BY.get()
    if sender is not None:
        STATEMENTS_OF[sender] += 1


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        engine = application.state.auth.database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", _count_statement)
        yield application


@pytest.fixture(autouse=True)
def database_free_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test marked ``database_free`` fails if its requests ran a statement."""
    yield
    if request.node.get_closest_marker(DATABASE_FREE) is not None:
        ran = STATEMENTS_OF.pop(request.node.nodeid, 0)
        assert ran == 0, f"marked database_free, but its requests ran {ran} statement(s)"


def tagged_transport(app: FastAPI, request: pytest.FixtureRequest) -> httpx.ASGITransport:
    """An in-process transport whose requests count towards ``request``'s test."""
    return httpx.ASGITransport(app=TaggedApp(app, request.node.nodeid))


@pytest.fixture
async def client(app: FastAPI, request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """An anonymous client (no Authorization header)."""
    transport = tagged_transport(app, request)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def client_key() -> str:
    """A fresh client key: a new, empty tenant for every test."""
    return str(uuid.uuid4())


@pytest.fixture
async def api(
    app: FastAPI, client_key: str, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    """A client authenticated as the test's own tenant."""
    transport = tagged_transport(app, request)
    headers = {"Authorization": f"Bearer {client_key}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as http:
        yield http
