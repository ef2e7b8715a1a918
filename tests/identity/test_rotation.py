"""``POST /api/keys/rotate``: an atomic swap of the tenant's client key."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.models import RetiredClientKey, Tenant
from app.security.credentials import hash_client_key
from app.state import app_state
from tests.api.helpers import assert_bare, assert_problem, assert_wrapped
from tests.api.matchers import UUID4
from tests.identity.helpers import (
    SecretWatch,
    assert_unauthorized,
    bearer,
    db_session,
    issue_tokens,
    tenant_id_of,
    watched_client,
)
from tests.identity.test_apikeys_create import create

ROLES = [{"role": "editors", "description": None}, {"role": "viewers", "description": None}]


async def _populate(api: httpx.AsyncClient) -> str:
    """Two roles, three memberships, three grants, two API keys, a setting."""
    for role in ("editors", "viewers"):
        assert_bare(await api.post(f"/api/role/{role}"), True)
    for user, role in (("alice", "editors"), ("alice", "viewers"), ("bob", "viewers")):
        assert_bare(await api.post(f"/api/membership/{user}/{role}"), True)
    for role, permission in (("editors", "publish"), ("editors", "edit"), ("viewers", "read")):
        assert_bare(await api.post(f"/api/permission/{role}/{permission}"), True)
    await create(api, "bob")
    secret: str = (await create(api, "alice", label="kept"))["api_key"]
    assert_wrapped(
        await api.put("/api/settings", json={"strict_users": True}), {"strict_users": True}
    )
    return secret


POPULATED = {"roles": 2, "memberships": 3, "permissions": 3, "api_keys": 2, "settings": 1}
"""What :func:`_populate` leaves the tenant owning (``migrated`` of its rotation)."""


def _owning(roles: int = 0) -> dict[str, int]:
    """``migrated`` for a tenant with ``roles`` bare roles (settings: always one row)."""
    return {"roles": roles, "memberships": 0, "permissions": 0, "api_keys": 0, "settings": 1}


async def _rotate(api: httpx.AsyncClient, migrated: dict[str, int]) -> str:
    """Rotate; the new client key. ``migrated``: what the tenant owns."""
    response = await api.post("/api/keys/rotate")
    key: str = assert_wrapped(response, {"new_key": UUID4, "migrated": migrated})["new_key"]
    return key


async def test_rotation_moves_everything(
    api: httpx.AsyncClient, app: FastAPI, client_key: str, watch: SecretWatch
) -> None:
    secret = await _populate(api)
    tenant_id = await tenant_id_of(app, client_key)
    new_key = await _rotate(api, POPULATED)
    assert new_key != client_key
    assert await tenant_id_of(app, new_key) == tenant_id

    async with watched_client(app, watch, new_key) as new:
        assert_bare(await new.get("/api/roles"), ROLES)
        assert_bare(
            await new.get("/api/user_roles/alice"),
            [
                {"user": "alice", "role": "editors"},
                {"user": "alice", "role": "viewers"},
            ],
        )
        assert_wrapped(
            await new.get("/api/role_permissions/editors"),
            [
                {"name": "edit"},
                {"name": "publish"},
            ],
        )
        assert_wrapped(await new.get("/api/settings"), {"strict_users": True})
        assert_wrapped(await new.get("/api/has_permission/alice/publish"), {"has_permission": True})
        assert_wrapped(await new.get("/api/has_permission/bob/read"), {"has_permission": True})
        validation = await new.post("/api/apikeys/validate", json={"api_key": secret})
        assert validation.json()["data"]["valid"] is True
        assert validation.json()["data"]["label"] == "kept"


async def test_old_key_is_refused_and_opens_no_tenant(
    api: httpx.AsyncClient, app: FastAPI, client_key: str
) -> None:
    await _populate(api)
    tenant_id = await tenant_id_of(app, client_key)
    await _rotate(api, POPULATED)
    for method, path in (("GET", "/api/roles"), ("POST", "/api/role/x"), ("POST", "/api/token")):
        assert_unauthorized(await api.request(method, path))
    assert_unauthorized(await api.post("/api/keys/rotate"))
    old_hash = hash_client_key(client_key, app_state(app).secrets.key_hash)
    async with db_session(app) as session:
        live = await session.scalar(
            select(func.count()).select_from(Tenant).where(Tenant.key_hash == old_hash)
        )
        retired = await session.get(RetiredClientKey, old_hash)
    assert live == 0
    assert retired is not None
    assert retired.tenant_id == tenant_id


async def test_old_key_in_another_case_is_refused(api: httpx.AsyncClient, client_key: str) -> None:
    await _rotate(api, _owning())
    assert_unauthorized(await api.get("/api/roles", headers=bearer(client_key.upper())))


async def test_rotated_key_is_rotated_again(
    api: httpx.AsyncClient, app: FastAPI, watch: SecretWatch
) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    second = await _rotate(api, _owning(roles=1))
    async with watched_client(app, watch, second) as new:
        third = await _rotate(new, _owning(roles=1))
        assert_unauthorized(await new.get("/api/roles"))
    async with watched_client(app, watch, third) as newest:
        assert_bare(await newest.get("/api/roles"), [{"role": "editors", "description": None}])


async def test_tokens_issued_before_rotation_die(
    api: httpx.AsyncClient, app: FastAPI, watch: SecretWatch
) -> None:
    admin = await issue_tokens(api)
    check = await issue_tokens(api, "check")
    new_key = await _rotate(api, _owning())
    for tokens in (admin, check):
        assert_unauthorized(
            await api.get("/api/roles", headers=bearer(tokens["access_token"])), invalid_token=True
        )
        refresh = await api.post(
            "/api/token/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert_unauthorized(refresh, invalid_token=True)
    async with watched_client(app, watch, new_key) as new:
        fresh = await issue_tokens(new)
        assert_bare(await new.get("/api/roles", headers=bearer(fresh["access_token"])), [])


@pytest.mark.parametrize("scope", ["admin", "check"])
async def test_no_token_may_manage_keys(
    api: httpx.AsyncClient, app: FastAPI, watch: SecretWatch, scope: str
) -> None:
    """Key management is for the client key itself: a token of any scope gets 403 and
    changes nothing (a leaked token cannot fetch a rotate key or rotate the tenant away)."""
    tokens = await issue_tokens(api, scope)
    async with watched_client(app, watch, tokens["access_token"]) as by_token:
        assert_problem(await by_token.post("/api/keys/rotate"), 403)
        assert_problem(await by_token.post("/api/keys/get_rotate_key"), 403)
        assert_bare(await by_token.get("/api/roles"), [])
    assert_bare(await api.get("/api/roles"), [])
    assert (await api.post("/api/keys/get_rotate_key")).status_code == 200
