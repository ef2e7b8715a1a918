"""Refresh (single use, replay revokes the family) and revocation (RFC 7009)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import assert_bare, assert_problem
from tests.identity.helpers import assert_unauthorized, bearer, claims_of, issue_tokens
from tests.identity.test_tokens_issue import assert_token_response


async def _refresh(api: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await api.post("/api/token/refresh", json={"refresh_token": refresh_token})


async def _works(api: httpx.AsyncClient, access_token: str) -> bool:
    response = await api.get("/api/roles", headers=bearer(access_token))
    if response.status_code == 401:
        assert_unauthorized(response, invalid_token=True)
        return False
    assert_bare(response, [])
    return True


@pytest.mark.parametrize("scope", ["admin", "check"])
async def test_refresh_rotates_the_pair(api: httpx.AsyncClient, scope: str) -> None:
    old = await issue_tokens(api, scope)
    new = assert_token_response(await _refresh(api, old["refresh_token"]), scope)
    assert new["access_token"] != old["access_token"]
    assert new["refresh_token"] != old["refresh_token"]
    assert claims_of(new["access_token"])["fam"] == claims_of(old["access_token"])["fam"]
    assert await _works(api, new["access_token"])
    newest = assert_token_response(await _refresh(api, new["refresh_token"]), scope)
    assert await _works(api, newest["access_token"])


async def test_refresh_with_the_form(client: httpx.AsyncClient, api: httpx.AsyncClient) -> None:
    old = await issue_tokens(api, "admin")
    form = {"grant_type": "refresh_token", "refresh_token": old["refresh_token"]}
    new = assert_token_response(await client.post("/api/token/refresh", data=form), "admin")
    assert await _works(api, new["access_token"])


async def test_replay_revokes_the_whole_family(api: httpx.AsyncClient) -> None:
    first = await issue_tokens(api)
    other_login = await issue_tokens(api)
    second = (await _refresh(api, first["refresh_token"])).json()
    third = (await _refresh(api, second["refresh_token"])).json()
    assert await _works(api, third["access_token"])

    replay = await _refresh(api, first["refresh_token"])
    assert_unauthorized(replay, invalid_token=True)
    assert replay.headers["cache-control"] == "no-store"
    for tokens in (first, second, third):
        assert not await _works(api, tokens["access_token"])
    assert_unauthorized(await _refresh(api, third["refresh_token"]), invalid_token=True)
    assert await _works(api, other_login["access_token"])


@pytest.mark.parametrize("which", ["access_token", "refresh_token"])
async def test_revoke_kills_the_family(api: httpx.AsyncClient, which: str) -> None:
    tokens = await issue_tokens(api)
    refreshed = (await _refresh(api, tokens["refresh_token"])).json()
    assert_bare(await api.post("/api/token/revoke", json={"token": refreshed[which]}), True)
    for pair in (tokens, refreshed):
        assert not await _works(api, pair["access_token"])
    assert_unauthorized(await _refresh(api, refreshed["refresh_token"]), invalid_token=True)
    assert_bare(await api.post("/api/token/revoke", json={"token": refreshed[which]}), True)


async def test_revoke_with_the_form(client: httpx.AsyncClient, api: httpx.AsyncClient) -> None:
    tokens = await issue_tokens(api)
    form = {"token": tokens["refresh_token"], "token_type_hint": "refresh_token"}
    assert_bare(await client.post("/api/token/revoke", data=form), True)
    assert not await _works(api, tokens["access_token"])


async def test_revoke_always_answers_200(client: httpx.AsyncClient) -> None:
    for token in ("not-a-token", "a.b.c", "0f8fad5b-d9cb-469f-a165-70867728950e"):
        assert_bare(await client.post("/api/token/revoke", json={"token": token}), True)


async def test_body_errors_are_400(client: httpx.AsyncClient) -> None:
    cases: list[tuple[str, object]] = [
        ("/api/token/revoke", {}),
        ("/api/token/revoke", {"token": ""}),
        ("/api/token/revoke", {"token": 5}),
        ("/api/token/revoke", {"token": "x", "extra": 1}),
        ("/api/token/refresh", {}),
        ("/api/token/refresh", {"refresh_token": 5}),
        ("/api/token/refresh", {"refresh_token": "x", "extra": 1}),
        ("/api/token/refresh", ["x"]),
    ]
    for path, body in cases:
        response = await client.post(path, json=body)
        assert response.status_code == 400, (path, body)
        assert_problem(response, 400)


async def test_an_access_token_cannot_refresh(api: httpx.AsyncClient) -> None:
    tokens: dict[str, Any] = await issue_tokens(api)
    assert_unauthorized(await _refresh(api, tokens["access_token"]), invalid_token=True)
    assert await _works(api, tokens["access_token"])


async def test_a_refresh_token_is_not_an_access_token(api: httpx.AsyncClient) -> None:
    tokens = await issue_tokens(api)
    assert not await _works(api, tokens["refresh_token"])
    assert await _works(api, tokens["access_token"])
