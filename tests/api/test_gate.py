"""The client-key gate (contract section 1), as a table over several routes."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import pytest

from tests.api.helpers import assert_bare, assert_problem

ROUTES = [
    ("GET", "/api/roles"),
    ("POST", "/api/role/editors"),
    ("DELETE", "/api/membership/alice/editors"),
    ("GET", "/api/has_permission/alice/publish"),
    ("GET", "/api/workflow/users/publish"),
    ("GET", "/api/no_such_route"),
]


def _wrong_variant() -> str:
    """A UUID with version 4 but the Microsoft (not RFC 4122) variant bits."""
    key = str(uuid.uuid4())
    return key[:19] + "c" + key[20:]


def _jwt_shaped() -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    header = part({"alg": "HS256", "typ": "JWT"})
    payload = part({"sub": "tenant", "exp": 4102444800})
    return f"{header}.{payload}.c2lnbmF0dXJl"


UNAUTHORIZED = [
    pytest.param(None, id="no-header"),
    pytest.param("Basic dXNlcjpwYXNz", id="basic"),
    pytest.param("Bearer", id="bearer-without-token"),
    pytest.param("Bearer ", id="bearer-blank"),
    pytest.param(f"Bearer {uuid.uuid4()} {uuid.uuid4()}", id="two-tokens"),
    pytest.param(f"Token {uuid.uuid4()}", id="other-scheme"),
    pytest.param(str(uuid.uuid4()), id="no-scheme"),
]

MALFORMED = [
    pytest.param(str(uuid.uuid1()), id="uuid1"),
    pytest.param(str(uuid.uuid5(uuid.NAMESPACE_DNS, "example.com")), id="uuid5"),
    pytest.param(_wrong_variant(), id="wrong-variant"),
    pytest.param("abc", id="abc"),
    pytest.param("00000000-0000-0000-0000-000000000000", id="nil"),
    pytest.param(str(uuid.uuid4())[:-1], id="truncated"),
]


@pytest.mark.database_free
@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("authorization", UNAUTHORIZED)
async def test_missing_or_bad_header_is_401(
    client: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await client.request(method, path, headers=headers)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.database_free
@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("token", MALFORMED)
async def test_token_neither_uuid4_nor_jwt_is_400(
    client: httpx.AsyncClient, method: str, path: str, token: str
) -> None:
    response = await client.request(method, path, headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 400)
    assert token not in response.text


@pytest.mark.parametrize(("method", "path"), ROUTES[:-1])
async def test_unverifiable_jwt_is_401_invalid_token(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    token = _jwt_shaped()
    response = await client.request(method, path, headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "invalid_token" in response.headers["www-authenticate"]
    assert token not in response.text


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("bearer {}", id="lower-scheme"),
        pytest.param("BEARER {}", id="upper-scheme"),
        pytest.param("bEaReR {}", id="mixed-scheme"),
        pytest.param("Bearer    {}", id="spaces"),
        pytest.param("Bearer \t {}", id="tab"),
    ],
)
async def test_scheme_case_and_spacing_are_tolerated(
    client: httpx.AsyncClient, client_key: str, template: str
) -> None:
    headers = {"Authorization": template.format(client_key)}
    assert_bare(await client.post("/api/role/editors", headers=headers), True)
    plain = {"Authorization": f"Bearer {client_key}"}
    assert_bare(
        await client.get("/api/roles", headers=plain), [{"role": "editors", "description": None}]
    )


async def test_key_case_selects_the_same_tenant(client: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    upper = {"Authorization": f"Bearer {key.upper()}"}
    lower = {"Authorization": f"Bearer {key.lower()}"}
    assert_bare(await client.post("/api/role/editors", headers=upper), True)
    assert_bare(await client.post("/api/membership/alice/editors", headers=lower), True)
    expected = [{"user": "alice", "role": "editors"}]
    assert_bare(await client.get("/api/members/editors", headers=upper), expected)
    assert_bare(await client.get("/api/members/editors", headers=lower), expected)


@pytest.mark.database_free
@pytest.mark.parametrize(
    ("path", "status"),
    [("/api/roles", 405), ("/api/role/editors", 405), ("/api/no_such_route", 404)],
)
async def test_options_is_not_gated(client: httpx.AsyncClient, path: str, status: int) -> None:
    """With CORS off (the default) a preflight reaches the router, not the gate."""
    response = await client.options(path)
    assert_problem(response, status)
    assert "www-authenticate" not in response.headers


@pytest.mark.database_free
async def test_gate_runs_before_routing(client: httpx.AsyncClient, client_key: str) -> None:
    assert_problem(await client.get("/api/no_such_route"), 401)
    assert_problem(await client.get("/api"), 401)
    headers = {"Authorization": f"Bearer {client_key}"}
    assert_problem(await client.get("/api/no_such_route", headers=headers), 404)


@pytest.mark.parametrize("path", ["/ping", "/health", "/openapi.json", "/docs", "/redoc"])
async def test_service_paths_are_not_gated(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 200
