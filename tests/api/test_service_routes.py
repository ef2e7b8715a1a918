"""Service routes: liveness, readiness (healthy and unreachable database)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.config import Settings
from app.db.engine import Database, build_engine
from app.db.url import resolve_database_target
from app.main import create_app
from app.state import AppState
from tests.conftest import make_settings

UNREACHABLE_POSTGRESQL = "postgresql://postgres@127.0.0.1:1/nope"


@pytest.mark.database_free
async def test_ping(client: httpx.AsyncClient) -> None:
    response = await client.get("/ping")
    assert response.status_code == 200
    assert response.json() == {"message": "PONG"}


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy"}


@pytest.fixture
async def unreachable_app(
    settings: Settings, backend: str, tmp_path: Path
) -> AsyncIterator[FastAPI]:
    """The real app, started on the test database, whose database then becomes unreachable.

    The lifespan checks the schema at start, so the app starts on a real database; its
    ``Database`` is then replaced by one whose engine targets nothing that answers
    (PostgreSQL: a closed port; SQLite: a path that is a directory).
    """
    url = UNREACHABLE_POSTGRESQL if backend == "postgresql" else f"sqlite:///{tmp_path}"
    broken = build_engine(make_settings(resolve_database_target(url), tmp_path))
    application = create_app(settings)
    try:
        async with LifespanManager(application):
            state: AppState = application.state.auth
            application.state.auth = dataclasses.replace(state, database=Database(broken))
            yield application
    finally:
        await broken.dispose()


async def test_health_is_503_when_database_is_unreachable(unreachable_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=unreachable_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/health")
        assert response.status_code == 503
        assert response.json() == {"status": "unhealthy", "database": "unreachable"}
        assert int(response.headers["retry-after"]) >= 1
        ping = await http.get("/ping")
        assert ping.status_code == 200
        assert ping.json() == {"message": "PONG"}
