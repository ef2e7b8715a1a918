"""``POST /api/token``: three ways to present the client key, two scopes."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import pytest

from tests.api.helpers import assert_problem
from tests.identity.helpers import (
    KID,
    TOKEN_FIELDS,
    assert_unauthorized,
    bearer,
    claims_of,
    header_of,
    issue_tokens,
    new_key,
)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def assert_token_response(response: httpx.Response, scope: str) -> dict[str, Any]:
    """The RFC 6749 token response of this service, exactly."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert set(body) == TOKEN_FIELDS
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == scope
    assert body["access_token"] != body["refresh_token"]
    for token, typ in ((body["access_token"], "access"), (body["refresh_token"], "refresh")):
        assert header_of(token)["alg"] == "HS256"
        assert header_of(token)["kid"] == KID
        claims = claims_of(token)
        assert claims["typ"] == typ
        assert claims["scope"] == scope
    access = claims_of(body["access_token"])
    assert access["exp"] - access["iat"] == 900
    return body


def _basic(client_id: str, secret: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


async def test_bearer_client_key_defaults_to_check(api: httpx.AsyncClient) -> None:
    """The least scope that serves a frontend; ``admin`` must be asked for."""
    assert_token_response(await api.post("/api/token"), "check")


@pytest.mark.parametrize("scope", ["admin", "check"])
async def test_bearer_client_key_with_scope(api: httpx.AsyncClient, scope: str) -> None:
    assert_token_response(await api.post("/api/token", json={"scope": scope}), scope)


@pytest.mark.parametrize("scope", [None, "admin", "check"])
async def test_client_credentials_form(
    client: httpx.AsyncClient, client_key: str, scope: str | None
) -> None:
    form = {"grant_type": "client_credentials", "client_secret": client_key}
    if scope:
        form["scope"] = scope
    response = await client.post("/api/token", data=form)
    assert_token_response(response, scope or "check")


@pytest.mark.parametrize("client_id", ["", "swagger"])
async def test_http_basic(client: httpx.AsyncClient, client_key: str, client_id: str) -> None:
    response = await client.post(
        "/api/token",
        content=b"grant_type=client_credentials",
        headers={**_basic(client_id, client_key), **FORM},
    )
    assert_token_response(response, "check")


async def test_all_ways_reach_one_tenant(client: httpx.AsyncClient, client_key: str) -> None:
    first = await client.post("/api/token", headers=bearer(client_key))
    form = {"grant_type": "client_credentials", "client_secret": client_key.upper()}
    second = await client.post("/api/token", data=form)
    tenants = {claims_of(r.json()["access_token"])["tid"] for r in (first, second)}
    assert len(tenants) == 1


async def test_tokens_are_new_each_time(api: httpx.AsyncClient) -> None:
    first, second = await issue_tokens(api), await issue_tokens(api)
    assert first["access_token"] != second["access_token"]
    assert claims_of(first["access_token"])["fam"] != claims_of(second["access_token"])["fam"]


async def test_bad_json_body_is_400(api: httpx.AsyncClient) -> None:
    for body in ({"scope": "root"}, {"scope": "check", "extra": 1}, {"scope": 5}):
        response = await api.post("/api/token", json=body)
        assert response.status_code == 400, body
        assert_problem(response, 400)
    for content in (b"[]", b"{", b'"check"'):
        headers = {"Content-Type": "application/json"}
        response = await api.post("/api/token", content=content, headers=headers)
        assert response.status_code == 400, content
        assert_problem(response, 400)


async def test_bad_form_is_400(client: httpx.AsyncClient, client_key: str) -> None:
    for form in (
        {"grant_type": "password", "client_secret": client_key},
        {"client_secret": client_key},
        {"grant_type": "client_credentials", "client_secret": client_key, "scope": "root"},
    ):
        assert_problem(await client.post("/api/token", data=form), 400)


async def test_missing_client_key_is_401(client: httpx.AsyncClient) -> None:
    assert_unauthorized(await client.post("/api/token"))
    form = {"grant_type": "client_credentials"}
    assert_unauthorized(await client.post("/api/token", data=form))


async def test_malformed_client_key_is_401(client: httpx.AsyncClient) -> None:
    for secret in ("not-a-uuid-but-long-enough", "0" * 36, str(uuid.uuid1())):
        form = {"grant_type": "client_credentials", "client_secret": secret}
        assert_unauthorized(await client.post("/api/token", data=form))
        assert_unauthorized(await client.post("/api/token", headers=_basic("", secret)))


async def test_a_token_cannot_obtain_a_token(api: httpx.AsyncClient) -> None:
    tokens = await issue_tokens(api)
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert_unauthorized(await api.post("/api/token", headers=bearer(token)))


async def test_open_registration_applies_to_token_issuance(client: httpx.AsyncClient) -> None:
    key = new_key()
    tokens = (await client.post("/api/token", headers=bearer(key))).json()
    roles = await client.get("/api/roles", headers=bearer(tokens["access_token"]))
    assert roles.json() == {"result": []}
