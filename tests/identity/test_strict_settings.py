"""``GET``/``PUT /api/settings``: the per-tenant ``strict_users`` switch."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.db.url import DatabaseTarget
from app.main import create_app
from tests.api.helpers import assert_problem, assert_wrapped
from tests.conftest import make_settings
from tests.identity.helpers import SecretWatch, new_key, watched_client


@pytest.fixture(scope="module")
async def strict_app(
    database_target: DatabaseTarget, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FastAPI]:
    """The same database served with ``AUTH_STRICT_USERS_DEFAULT=true``."""
    settings = make_settings(
        database_target, tmp_path_factory.mktemp("strict"), strict_users_default=True
    )
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


async def test_default_follows_the_server_default(api: httpx.AsyncClient) -> None:
    assert_wrapped(await api.get("/api/settings"), {"strict_users": False})


async def test_server_default_true(strict_app: FastAPI, watch: SecretWatch) -> None:
    async with watched_client(strict_app, watch, new_key()) as api:
        assert_wrapped(await api.get("/api/settings"), {"strict_users": True})
        assert_wrapped(
            await api.get("/api/has_permission/alice/publish"),
            {"has_permission": False, "reason": "user_not_key_backed"},
        )
        assert_wrapped(
            await api.put("/api/settings", json={"strict_users": False}), {"strict_users": False}
        )
        assert_wrapped(await api.get("/api/settings"), {"strict_users": False})
        assert_wrapped(
            await api.get("/api/has_permission/alice/publish"), {"has_permission": False}
        )


async def test_a_chosen_setting_outlives_the_server_default(
    api: httpx.AsyncClient, client_key: str, strict_app: FastAPI, watch: SecretWatch
) -> None:
    assert_wrapped(
        await api.put("/api/settings", json={"strict_users": False}), {"strict_users": False}
    )
    async with watched_client(strict_app, watch, client_key) as same_tenant:
        assert_wrapped(await same_tenant.get("/api/settings"), {"strict_users": False})


async def test_put_toggles(api: httpx.AsyncClient, app: FastAPI, watch: SecretWatch) -> None:
    for value in (True, False, True):
        assert_wrapped(
            await api.put("/api/settings", json={"strict_users": value}), {"strict_users": value}
        )
        assert_wrapped(await api.get("/api/settings"), {"strict_users": value})
    async with watched_client(app, watch, new_key()) as other:
        assert_wrapped(await other.get("/api/settings"), {"strict_users": False})


async def test_put_refuses_non_booleans(api: httpx.AsyncClient) -> None:
    bodies: list[object] = [
        {"strict_users": "yes"},
        {"strict_users": "true"},
        {"strict_users": 1},
        {"strict_users": 0},
        {"strict_users": None},
        {"strict_users": True, "other": 1},
        {},
        [True],
    ]
    for body in bodies:
        response = await api.put("/api/settings", json=body)
        assert response.status_code == 400, body
        assert_problem(response, 400)
    for content in (b"", b"{", b"true"):
        headers = {"Content-Type": "application/json"}
        response = await api.put("/api/settings", content=content, headers=headers)
        assert response.status_code == 400, content
        assert_problem(response, 400)
    assert_wrapped(await api.get("/api/settings"), {"strict_users": False})
