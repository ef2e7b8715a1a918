"""``POST /api/check``: many decisions in one request, each exactly what
``GET /api/has_permission`` answers, in request order, cold and warm, strict or not."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.helpers import assert_bare, assert_problem

pytestmark = pytest.mark.stored_data

USERS = ["alice", "bob", "carol@example.com", "nobody"]
PERMISSIONS = ["publish", "read", "delete", "never-granted"]


async def _seed(api: httpx.AsyncClient) -> None:
    for role, permissions, members in (
        ("editors", ["publish", "read"], ["alice"]),
        ("readers", ["read"], ["bob", "carol@example.com"]),
        ("admins", ["delete"], []),
    ):
        assert_bare(await api.post(f"/api/role/{role}"), True)
        for permission in permissions:
            assert_bare(await api.post(f"/api/permission/{role}/{permission}"), True)
        for user in members:
            assert_bare(await api.post(f"/api/membership/{user}/{role}"), True)
    assert (await api.post("/api/apikeys/user/alice")).status_code == 200


async def _singles(api: httpx.AsyncClient, questions: list[tuple[str, str]]) -> list[Any]:
    answers = []
    for user, permission in questions:
        response = await api.get(f"/api/has_permission/{user}/{permission}")
        assert response.status_code == 200, response.text
        answers.append({"user": user, "permission": permission, **response.json()["data"]})
    return answers


async def _batch(api: httpx.AsyncClient, questions: list[tuple[str, str]]) -> list[Any]:
    body = {"checks": [{"user": u, "permission": p} for u, p in questions]}
    response = await api.post("/api/check", json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["success"] is True
    assert payload["data"]["count"] == len(questions)
    results: list[Any] = payload["data"]["results"]
    return results


@pytest.mark.parametrize("strict", [False, True])
async def test_batch_answers_equal_single_answers(
    app: FastAPI, api: httpx.AsyncClient, strict: bool
) -> None:
    await _seed(api)
    if strict:
        assert (await api.put("/api/settings", json={"strict_users": True})).status_code == 200
    questions = list(itertools.product(USERS, PERMISSIONS))
    questions += list(reversed(questions))  # order is the request's, repeats allowed
    cold = await _batch(api, questions)
    await app.state.auth.decisions.settle()
    warm = await _batch(api, questions)
    singles = await _singles(api, questions)
    assert cold == warm == singles
    allowed = {(r["user"], r["permission"]) for r in singles if r["has_permission"]}
    if strict:
        assert allowed == {("alice", "publish"), ("alice", "read")}
        assert {r["reason"] for r in singles if r["user"] != "alice"} == {"user_not_key_backed"}
    else:
        assert allowed == {
            ("alice", "publish"),
            ("alice", "read"),
            ("bob", "read"),
            ("carol@example.com", "read"),
        }
        assert all("reason" not in r for r in singles)


async def test_a_write_is_seen_by_the_next_batch(app: FastAPI, api: httpx.AsyncClient) -> None:
    await _seed(api)
    question = [("bob", "read")]
    await _batch(api, question)
    await app.state.auth.decisions.settle()
    assert (await _batch(api, question))[0]["has_permission"] is True
    assert_bare(await api.delete("/api/membership/bob/readers"), True)
    assert (await _batch(api, question))[0]["has_permission"] is False


async def test_batch_limits_and_bad_bodies(api: httpx.AsyncClient) -> None:
    one = {"user": "alice", "permission": "read"}
    assert (await api.post("/api/check", json={"checks": [one] * 1000})).status_code == 200
    bodies: list[object] = [
        {"checks": []},
        {"checks": [one] * 1001},
        {"checks": [{"user": "alice"}]},
        {"checks": [{"user": "al ice", "permission": "read"}]},
        {"checks": [{**one, "extra": 1}]},
        {"questions": [one]},
        [one],
    ]
    for body in bodies:
        assert_problem(await api.post("/api/check", json=body), 400)


async def test_a_check_scope_token_may_ask(api: httpx.AsyncClient) -> None:
    await _seed(api)
    token = (await api.post("/api/token", json={"scope": "check"})).json()["access_token"]
    response = await api.post(
        "/api/check",
        json={"checks": [{"user": "alice", "permission": "publish"}]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["results"][0]["has_permission"] is True
