"""Access tokens on every route kind: ``admin`` writes (key management aside), ``check`` only reads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from tests.api.helpers import assert_bare, assert_problem
from tests.identity.helpers import SecretWatch, issue_tokens, watched_client

READS = [
    ("GET", "/api/roles"),
    ("GET", "/api/members/editors"),
    ("GET", "/api/membership/alice/editors"),
    ("GET", "/api/user_roles/alice"),
    ("GET", "/api/permission/editors/publish"),
    ("GET", "/api/role_permissions/editors"),
    ("GET", "/api/has_permission/alice/publish"),
    ("GET", "/api/user_permissions/alice"),
    ("GET", "/api/which_roles_can/publish"),
    ("GET", "/api/which_users_can/publish"),
    ("GET", "/api/workflow/user/alice/can_run/publish"),
    ("GET", "/api/workflow/users/publish"),
    ("GET", "/api/apikeys/user/alice"),
    ("GET", "/api/settings"),
]

WRITES: list[tuple[str, str, object]] = [
    ("POST", "/api/role/viewers", None),
    ("DELETE", "/api/role/editors", None),
    ("POST", "/api/membership/bob/editors", None),
    ("DELETE", "/api/membership/alice/editors", None),
    ("POST", "/api/permission/editors/delete", None),
    ("DELETE", "/api/permission/editors/publish", None),
    ("PUT", "/api/settings", {"strict_users": True}),
    ("POST", "/api/apikeys/user/alice", None),
    ("POST", "/api/keys/rotate", None),
    ("POST", "/api/keys/get_rotate_key", None),
]


def _later(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def _populate(http: httpx.AsyncClient) -> str:
    assert_bare(await http.post("/api/role/editors"), True)
    assert_bare(await http.post("/api/permission/editors/publish"), True)
    assert_bare(await http.post("/api/membership/alice/editors"), True)
    response = await http.post("/api/apikeys/user/alice", json={"expires_at": _later(30)})
    assert response.status_code == 200
    secret: str = response.json()["data"]["api_key"]
    return secret


async def _snapshot(http: httpx.AsyncClient) -> list[object]:
    """Every read answer, without its timestamp."""
    answers: list[object] = []
    for method, path in READS:
        body = (await http.request(method, path)).json()
        body.pop("timestamp", None)
        answers.append(body)
    return answers


async def test_admin_token_works_on_every_route_kind(
    api: httpx.AsyncClient, app: FastAPI, watch: SecretWatch
) -> None:
    tokens = await issue_tokens(api, "admin")
    async with watched_client(app, watch, tokens["access_token"]) as http:
        secret = await _populate(http)
        for method, path in READS:
            assert (await http.request(method, path)).status_code == 200, path
        assert_bare(await http.get("/api/members/editors"), [{"user": "alice", "role": "editors"}])
        key_id = (await http.get("/api/apikeys/user/alice")).json()["data"]["keys"][0]["key_id"]
        calls: list[tuple[str, str, object]] = [
            ("POST", "/api/apikeys/validate", {"api_key": secret}),
            ("POST", "/api/apikeys/check_permission", {"api_key": secret, "permission": "p"}),
            ("PATCH", f"/api/apikeys/user/alice/{key_id}", {"expires_at": _later(10)}),
            ("DELETE", f"/api/apikeys/user/alice/{key_id}", None),
            ("PUT", "/api/settings", {"strict_users": True}),
            ("DELETE", "/api/permission/editors/publish", None),
            ("DELETE", "/api/membership/alice/editors", None),
            ("DELETE", "/api/role/editors", None),
        ]
        for method, path, body in calls:
            response = await http.request(method, path, json=body)
            assert response.status_code == 200, (path, response.text)


async def test_check_token_reads_and_decides(
    api: httpx.AsyncClient, app: FastAPI, watch: SecretWatch
) -> None:
    secret = await _populate(api)
    tokens = await issue_tokens(api, "check")
    async with watched_client(app, watch, tokens["access_token"]) as http:
        assert await _snapshot(http) == await _snapshot(api)
        for path, body in (
            ("/api/apikeys/validate", {"api_key": secret}),
            ("/api/apikeys/check_permission", {"api_key": secret, "permission": "publish"}),
        ):
            response = await http.post(path, json=body)
            assert response.status_code == 200
            assert response.json()["data"]["valid"] is True
        allowed = await http.get("/api/has_permission/alice/publish")
        assert allowed.json()["data"] == {"has_permission": True}


async def test_check_token_cannot_write(
    api: httpx.AsyncClient, app: FastAPI, watch: SecretWatch
) -> None:
    await _populate(api)
    before = await _snapshot(api)
    tokens = await issue_tokens(api, "check")
    async with watched_client(app, watch, tokens["access_token"]) as http:
        for method, path, body in WRITES:
            response = await http.request(method, path, json=body)
            assert response.status_code == 403, (method, path)
            assert_problem(response, 403)
    assert await _snapshot(api) == before
    assert (await api.post("/api/keys/get_rotate_key")).status_code == 200


async def test_check_token_cannot_change_api_keys(
    api: httpx.AsyncClient, app: FastAPI, watch: SecretWatch
) -> None:
    await _populate(api)
    key_id = (await api.get("/api/apikeys/user/alice")).json()["data"]["keys"][0]["key_id"]
    tokens = await issue_tokens(api, "check")
    async with watched_client(app, watch, tokens["access_token"]) as http:
        path = f"/api/apikeys/user/alice/{key_id}"
        assert_problem(await http.patch(path, json={"expires_at": _later(1)}), 403)
        assert_problem(await http.delete(path), 403)
        assert_problem(await http.delete(f"/api/apikeys/user/alice/{uuid.uuid4()}"), 403)
    assert (await api.get("/api/apikeys/user/alice")).json()["data"]["keys"][0]["is_active"]
