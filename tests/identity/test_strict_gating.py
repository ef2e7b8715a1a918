"""Strict user identity: decisions about users without a live API key are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from app.decisions.revision import bump_revision
from app.models import ApiKey
from tests.api.helpers import assert_bare, assert_wrapped
from tests.identity.helpers import (
    SecretWatch,
    db_session,
    issue_tokens,
    tenant_id_of,
    watched_client,
)
from tests.identity.test_apikeys_create import create

pytestmark = pytest.mark.stored_data

BLOCKED = {"has_permission": False, "reason": "user_not_key_backed"}
DECISIONS = [
    "/api/has_permission/alice/publish",
    "/api/membership/alice/editors",
    "/api/workflow/user/alice/can_run/publish",
]


async def _setup(api: httpx.AsyncClient) -> None:
    """alice is an editor, editors may publish; then strict identity goes on."""
    assert_bare(await api.post("/api/role/editors"), True)
    assert_bare(await api.post("/api/permission/editors/publish"), True)
    assert_bare(await api.post("/api/membership/alice/editors"), True)
    await _strict(api, True)


async def _strict(api: httpx.AsyncClient, value: bool) -> None:
    response = await api.put("/api/settings", json={"strict_users": value})
    assert_wrapped(response, {"strict_users": value})


async def _assert_blocked(api: httpx.AsyncClient) -> None:
    for path in DECISIONS:
        assert_wrapped(await api.get(path), BLOCKED)
    assert_wrapped(
        await api.get("/api/user_permissions/alice"),
        {"count": 0, "permissions": [], "reason": "user_not_key_backed"},
    )


async def _assert_allowed(api: httpx.AsyncClient) -> None:
    for path in DECISIONS:
        assert_wrapped(await api.get(path), {"has_permission": True})
    assert_wrapped(
        await api.get("/api/user_permissions/alice"),
        {"count": 1, "permissions": [{"name": "publish"}]},
    )


def _assert_not_key_backed(response: httpx.Response, user: str) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"result", "reason", "hint"}
    assert body["result"] is False
    assert body["reason"] == "user_not_key_backed"
    assert isinstance(body["hint"], str)
    assert f"/api/apikeys/user/{user}" in body["hint"]


async def test_keyless_user_is_blocked(api: httpx.AsyncClient) -> None:
    await _setup(api)
    await _assert_blocked(api)


async def test_without_strict_nothing_is_blocked(api: httpx.AsyncClient) -> None:
    await _setup(api)
    await _strict(api, False)
    await _assert_allowed(api)
    assert_wrapped(await api.get("/api/has_permission/bob/publish"), {"has_permission": False})


async def test_key_backed_user_answers_without_reason(api: httpx.AsyncClient) -> None:
    await _setup(api)
    await create(api, "alice")
    await _assert_allowed(api)
    assert_wrapped(await api.get("/api/has_permission/alice/delete"), {"has_permission": False})
    assert_wrapped(await api.get("/api/membership/alice/admins"), {"has_permission": False})
    assert_wrapped(
        await api.get("/api/workflow/user/alice/can_run/delete"), {"has_permission": False}
    )


async def test_membership_post_is_409_before_role_existence(api: httpx.AsyncClient) -> None:
    await _strict(api, True)
    assert_bare(await api.post("/api/role/editors"), True)
    for role in ("editors", "ghosts"):
        _assert_not_key_backed(await api.post(f"/api/membership/bob/{role}"), "bob")
    assert_bare(await api.get("/api/user_roles/bob"), [])
    assert_bare(await api.get("/api/members/editors"), [])


async def test_membership_works_as_soon_as_a_key_exists(api: httpx.AsyncClient) -> None:
    await _strict(api, True)
    assert_bare(await api.post("/api/role/editors"), True)
    await create(api, "bob")
    assert_bare(await api.post("/api/membership/bob/editors"), True)
    assert_bare(await api.post("/api/membership/bob/ghosts"), False)
    assert_wrapped(await api.get("/api/membership/bob/editors"), {"has_permission": True})


async def test_revoking_the_last_key_blocks_again(api: httpx.AsyncClient) -> None:
    await _setup(api)
    first, second = await create(api, "alice"), await create(api, "alice")
    await _assert_allowed(api)
    assert (await api.delete(f"/api/apikeys/user/alice/{first['key_id']}")).status_code == 200
    await _assert_allowed(api)
    assert (await api.delete(f"/api/apikeys/user/alice/{second['key_id']}")).status_code == 200
    await _assert_blocked(api)
    _assert_not_key_backed(await api.post("/api/membership/alice/editors"), "alice")


async def test_an_expired_key_does_not_back_a_user(
    api: httpx.AsyncClient, app: FastAPI, client_key: str
) -> None:
    await _setup(api)
    key = await create(api, "alice")
    await _assert_allowed(api)
    async with db_session(app) as session:
        # The key's expiry moves into the past (the service's own writes bump the
        # revision with every change, as here).
        await session.execute(
            update(ApiKey)
            .where(ApiKey.key_id == key["key_id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await bump_revision(session, await tenant_id_of(app, client_key))
    await _assert_blocked(api)


async def test_another_users_key_does_not_count(api: httpx.AsyncClient) -> None:
    await _setup(api)
    await create(api, "bob")
    await _assert_blocked(api)


async def test_listings_are_never_gated(api: httpx.AsyncClient) -> None:
    await _setup(api)
    alice = [{"user": "alice", "role": "editors"}]
    for path, expected in (
        ("/api/user_roles/alice", alice),
        ("/api/members/editors", alice),
        ("/api/which_users_can/publish", alice),
        ("/api/which_roles_can/publish", [{"role": "editors"}]),
        ("/api/permission/editors/publish", True),
    ):
        assert_bare(await api.get(path), expected)


async def test_workflow_listing_and_keys_are_never_gated(api: httpx.AsyncClient) -> None:
    await _setup(api)
    assert_wrapped(
        await api.get("/api/workflow/users/publish"),
        {"count": 1, "members": [{"user": "alice", "role": "editors"}]},
    )
    assert_wrapped(await api.get("/api/apikeys/user/alice"), {"count": 0, "keys": []})
    assert_wrapped(await api.get("/api/role_permissions/editors"), [{"name": "publish"}])


async def test_deletes_are_never_gated(api: httpx.AsyncClient) -> None:
    await _setup(api)
    assert_bare(await api.delete("/api/membership/alice/editors"), True)
    assert_bare(await api.delete("/api/membership/alice/ghosts"), True)
    assert_bare(await api.get("/api/user_roles/alice"), [])
    assert_bare(await api.delete("/api/permission/editors/publish"), True)
    response = await api.delete("/api/role/editors")
    assert_wrapped(response, {"result": True})


async def test_strict_identity_applies_to_access_tokens(
    api: httpx.AsyncClient, app: FastAPI, watch: SecretWatch
) -> None:
    await _setup(api)
    tokens = await issue_tokens(api, "check")
    async with watched_client(app, watch, tokens["access_token"]) as http:
        await _assert_blocked(http)
        await create(api, "alice")
        await _assert_allowed(http)
