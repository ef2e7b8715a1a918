"""Fixtures for the edge tests: apps of their own, with the settings each test needs.

The edge layers do not depend on the database engine, so these apps run on one
migrated SQLite database shared by the module's tests (tenants keep them apart).
Every app is built by :func:`edge_client` with explicit settings (tight limits where a
test wants them) and runs its real lifespan.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.db.migrations import upgrade
from app.db.url import DatabaseTarget
from app.main import create_app
from tests.conftest import make_settings
from tests.databases import sqlite_target

EdgeClient = Callable[..., AbstractAsyncContextManager[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture(scope="module")
async def edge_database(tmp_path_factory: pytest.TempPathFactory) -> DatabaseTarget:
    target = sqlite_target(tmp_path_factory.mktemp("edge-db"))
    await asyncio.to_thread(upgrade, target)
    return target


@pytest.fixture
def edge_client(edge_database: DatabaseTarget, tmp_path: Path) -> EdgeClient:
    """``async with edge_client(**settings) as (app, http)``: a fresh app and a client.

    ``prepare(app)`` runs before start-up (to add probe routes); ``client`` sets the
    client address the transport reports; ``headers`` are sent with every request;
    ``raise_app_exceptions=False`` lets a test see the 500 answer of an unhandled error.
    """

    @asynccontextmanager
    async def build(
        *,
        prepare: Callable[[FastAPI], None] | None = None,
        client: tuple[str, int] = ("127.0.0.1", 50000),
        headers: dict[str, str] | None = None,
        raise_app_exceptions: bool = True,
        **overrides: Any,
    ) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
        app = create_app(make_settings(edge_database, tmp_path, **overrides))
        if prepare is not None:
            prepare(app)
        transport = httpx.ASGITransport(
            app=app, client=client, raise_app_exceptions=raise_app_exceptions
        )
        async with (
            LifespanManager(app),
            httpx.AsyncClient(
                transport=transport, base_url="http://testserver", headers=headers
            ) as http,
        ):
            yield app, http

    return build


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def new_key() -> str:
    return str(uuid.uuid4())
