"""Request bodies of the API-key routes: every malformed body is 400 problem+json."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.helpers import assert_problem, assert_wrapped

JSON = {"Content-Type": "application/json"}

ROUTES = [
    pytest.param("POST", "/api/apikeys/user/alice", id="create"),
    pytest.param("PATCH", f"/api/apikeys/user/alice/{uuid.uuid4()}", id="update"),
    pytest.param("POST", "/api/apikeys/validate", id="validate"),
    pytest.param("POST", "/api/apikeys/check_permission", id="check-permission"),
]

BAD_BODIES = [
    pytest.param('{"label": "x", "colour": "red"}', id="unknown-field"),
    pytest.param('{"label": ', id="malformed"),
    pytest.param("[]", id="array"),
    pytest.param('"text"', id="string"),
    pytest.param("42", id="number"),
    pytest.param("\xff\xfe", id="not-utf8"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("content", BAD_BODIES)
async def test_bad_bodies(api: httpx.AsyncClient, method: str, path: str, content: str) -> None:
    response = await api.request(method, path, content=content.encode("latin-1"), headers=JSON)
    body = assert_problem(response, 400)
    assert "Traceback" not in body["detail"]
    assert_wrapped(await api.get("/api/apikeys/user/alice"), {"count": 0, "keys": []})


WRONG_TYPES = [
    pytest.param("POST", "/api/apikeys/user/alice", {"label": 5}, id="label-int"),
    pytest.param("POST", "/api/apikeys/user/alice", {"label": ["x"]}, id="label-list"),
    pytest.param("POST", "/api/apikeys/user/alice", {"label": "a/b"}, id="label-slash"),
    pytest.param("POST", "/api/apikeys/user/alice", {"label": "x" * 65}, id="label-long"),
    pytest.param("POST", "/api/apikeys/user/alice", {"label": ""}, id="label-empty"),
    pytest.param("POST", "/api/apikeys/user/alice", {"expires_at": "soon"}, id="expires-soon"),
    pytest.param("POST", "/api/apikeys/user/alice", {"expires_at": True}, id="expires-bool"),
    pytest.param("PATCH", f"/api/apikeys/user/alice/{uuid.uuid4()}", {}, id="update-empty"),
    pytest.param(
        "PATCH", f"/api/apikeys/user/alice/{uuid.uuid4()}", {"expires_at": "soon"}, id="update-soon"
    ),
    pytest.param("POST", "/api/apikeys/validate", {}, id="validate-empty"),
    pytest.param("POST", "/api/apikeys/validate", {"api_key": 5}, id="validate-int"),
    pytest.param("POST", "/api/apikeys/validate", {"api_key": None}, id="validate-null"),
    pytest.param(
        "POST", "/api/apikeys/check_permission", {"api_key": "rak_x"}, id="check-no-permission"
    ),
    pytest.param(
        "POST",
        "/api/apikeys/check_permission",
        {"api_key": "rak_x", "permission": "bad name"},
        id="check-bad-permission",
    ),
]


@pytest.mark.parametrize(("method", "path", "body"), WRONG_TYPES)
async def test_wrong_types(
    api: httpx.AsyncClient, method: str, path: str, body: dict[str, object]
) -> None:
    assert_problem(await api.request(method, path, json=body), 400)
    assert_wrapped(await api.get("/api/apikeys/user/alice"), {"count": 0, "keys": []})


@pytest.mark.parametrize("content", [b"", b"{}"])
async def test_create_accepts_an_empty_json_body(api: httpx.AsyncClient, content: bytes) -> None:
    response = await api.post("/api/apikeys/user/alice", content=content, headers=JSON)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["label"] is None
    assert (await api.get("/api/apikeys/user/alice")).json()["data"]["count"] == 1


@pytest.mark.parametrize("path", ["/api/apikeys/validate", "/api/apikeys/check_permission"])
async def test_bodyless_validation_is_400(api: httpx.AsyncClient, path: str) -> None:
    assert_problem(await api.post(path, content=b"", headers=JSON), 400)
