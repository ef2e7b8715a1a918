"""Rotating the JWT signing secret without downtime (``AUTH_JWT_PREVIOUS_SECRET_KEYS``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.db.url import DatabaseTarget
from app.main import create_app
from app.security.secrets import key_id
from tests.api.helpers import assert_bare
from tests.conftest import TEST_JWT_SECRET, make_settings
from tests.identity.helpers import (
    KID,
    SecretWatch,
    assert_unauthorized,
    bearer,
    header_of,
    issue_tokens,
    watched_client,
)

NEW_SECRET = "rotated-jwt-signing-secret-abcdefghij0123456789"


async def _app(
    database_target: DatabaseTarget, factory: pytest.TempPathFactory, **overrides: object
) -> AsyncIterator[FastAPI]:
    settings = make_settings(database_target, factory.mktemp("signing"), **overrides)
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture(scope="module")
async def rotated_app(
    database_target: DatabaseTarget, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FastAPI]:
    """Signs with the new secret, still verifies the old one."""
    async for application in _app(
        database_target,
        tmp_path_factory,
        jwt_secret_key=NEW_SECRET,
        jwt_previous_secret_keys=f" {TEST_JWT_SECRET} ",
    ):
        yield application


@pytest.fixture(scope="module")
async def forgetful_app(
    database_target: DatabaseTarget, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FastAPI]:
    """Signs with the new secret and has forgotten the old one."""
    async for application in _app(database_target, tmp_path_factory, jwt_secret_key=NEW_SECRET):
        yield application


async def test_old_tokens_verify_and_new_ones_carry_the_new_kid(
    api: httpx.AsyncClient,
    client_key: str,
    rotated_app: FastAPI,
    app: FastAPI,
    watch: SecretWatch,
) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    old = await issue_tokens(api)
    assert header_of(old["access_token"])["kid"] == KID
    roles = [{"role": "editors", "description": None}]
    async with watched_client(rotated_app, watch, client_key) as rotated:
        assert_bare(await rotated.get("/api/roles", headers=bearer(old["access_token"])), roles)
        new = await issue_tokens(rotated)
        refreshed = await rotated.post(
            "/api/token/refresh", json={"refresh_token": old["refresh_token"]}
        )
        assert refreshed.status_code == 200
        for token in (
            new["access_token"],
            new["refresh_token"],
            refreshed.json()["access_token"],
            refreshed.json()["refresh_token"],
        ):
            assert header_of(token)["kid"] == key_id(NEW_SECRET)
            assert header_of(token)["kid"] != KID
        assert_bare(await rotated.get("/api/roles", headers=bearer(new["access_token"])), roles)
    assert_unauthorized(
        await api.get("/api/roles", headers=bearer(new["access_token"])), invalid_token=True
    )


async def test_a_forgotten_secret_no_longer_verifies(
    api: httpx.AsyncClient, client_key: str, forgetful_app: FastAPI, watch: SecretWatch
) -> None:
    old = await issue_tokens(api)
    async with watched_client(forgetful_app, watch, client_key) as forgetful:
        response = await forgetful.get("/api/roles", headers=bearer(old["access_token"]))
        assert_unauthorized(response, invalid_token=True)
        assert_bare(await forgetful.get("/api/roles"), [])
