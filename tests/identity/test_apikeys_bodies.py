"""Request bodies of the API-key routes: every malformed body is 400 problem+json."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.helpers import assert_problem, assert_wrapped

JSON = {"Content-Type": "application/json"}

CREATE = ("POST", "/api/apikeys/user/alice")
UPDATE = ("PATCH", f"/api/apikeys/user/alice/{uuid.uuid4()}")
VALIDATE = ("POST", "/api/apikeys/validate")
CHECK = ("POST", "/api/apikeys/check_permission")
ROUTES = {"create": CREATE, "update": UPDATE, "validate": VALIDATE, "check-permission": CHECK}

BAD_BODIES = {
    "unknown field": b'{"label": "x", "colour": "red"}',
    "malformed JSON": b'{"label": ',
    "array": b"[]",
    "string": b'"text"',
    "number": b"42",
    "not UTF-8": b"\xff\xfe",
}

WRONG_FIELDS: dict[str, list[object]] = {
    "create": [
        {"label": 5},
        {"label": ["x"]},
        {"label": "a/b"},
        {"label": "x" * 65},
        {"label": ""},
        {"expires_at": "soon"},
        {"expires_at": True},
        {"label": "x", "user": "bob"},
    ],
    "update": [{}, {"expires_at": "soon"}, {"expires_at": None}, {"expires_at": 1, "label": "x"}],
    "validate": [{}, {"api_key": 5}, {"api_key": None}, {"api_key": ""}],
    "check-permission": [
        {"api_key": "rak_x"},
        {"permission": "publish"},
        {"api_key": "rak_x", "permission": "bad name"},
        {"api_key": "rak_x", "permission": 5},
    ],
}


async def _assert_nothing_stored(api: httpx.AsyncClient) -> None:
    assert_wrapped(await api.get("/api/apikeys/user/alice"), {"count": 0, "keys": []})


@pytest.mark.parametrize("route", list(ROUTES))
async def test_bad_bodies(api: httpx.AsyncClient, route: str) -> None:
    method, path = ROUTES[route]
    for case, content in BAD_BODIES.items():
        response = await api.request(method, path, content=content, headers=JSON)
        assert response.status_code == 400, case
        assert "Traceback" not in assert_problem(response, 400)["detail"]
    await _assert_nothing_stored(api)


@pytest.mark.parametrize("route", list(WRONG_FIELDS))
async def test_wrong_fields(api: httpx.AsyncClient, route: str) -> None:
    method, path = ROUTES[route]
    for body in WRONG_FIELDS[route]:
        response = await api.request(method, path, json=body)
        assert response.status_code == 400, body
        assert_problem(response, 400)
    await _assert_nothing_stored(api)


async def test_create_accepts_an_empty_json_body(api: httpx.AsyncClient) -> None:
    for content in (b"", b"{}"):
        response = await api.post("/api/apikeys/user/alice", content=content, headers=JSON)
        assert response.status_code == 200, response.text
        assert response.json()["data"]["label"] is None
    assert (await api.get("/api/apikeys/user/alice")).json()["data"]["count"] == 2


async def test_validation_needs_a_body(api: httpx.AsyncClient) -> None:
    for path in ("/api/apikeys/validate", "/api/apikeys/check_permission"):
        assert_problem(await api.post(path, content=b"", headers=JSON), 400)
