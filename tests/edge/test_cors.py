"""CORS: off by default; configured origins only; refusals are problem+json."""

from __future__ import annotations

from app.config import Settings
from tests.edge.conftest import EdgeClient, bearer, new_key

ORIGIN = "https://app.example.com"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type, x-request-id",
}


def test_defaults() -> None:
    settings = Settings(_env_file=None)
    assert settings.allow_cors is False
    assert settings.cors_origins == []


async def test_off_by_default(edge_client: EdgeClient) -> None:
    async with edge_client() as (_app, http):
        preflight = await http.options("/api/role/r", headers=PREFLIGHT)
        simple = await http.get("/api/roles", headers={"Origin": ORIGIN} | bearer(new_key()))
    # No CORS layer: the preflight reaches the router (405, the gate lets OPTIONS through).
    assert preflight.status_code == 405
    assert "access-control-allow-origin" not in preflight.headers
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


async def test_preflight_from_an_allowed_origin(edge_client: EdgeClient) -> None:
    async with edge_client(
        allow_cors=True, cors_origins=f"{ORIGIN}, https://admin.example.com"
    ) as (_app, http):
        response = await http.options("/api/role/r", headers=PREFLIGHT)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-methods"] == (
        "GET, POST, PUT, PATCH, DELETE, OPTIONS"
    )
    assert response.headers["access-control-allow-headers"] == (
        "Accept, Accept-Language, Authorization, Content-Language, Content-Type, X-Request-ID"
    )
    assert response.headers["access-control-max-age"] == "600"
    assert "access-control-allow-credentials" not in response.headers


async def test_simple_request_from_an_allowed_origin(edge_client: EdgeClient) -> None:
    async with edge_client(allow_cors=True, cors_origins=ORIGIN) as (_app, http):
        response = await http.get("/api/roles", headers={"Origin": ORIGIN} | bearer(new_key()))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-expose-headers"] == (
        "X-Request-ID, Link, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, "
        "X-RateLimit-Reset"
    )
    assert "Origin" in response.headers["vary"]


async def test_other_origins_methods_and_headers_are_refused(edge_client: EdgeClient) -> None:
    async with edge_client(allow_cors=True, cors_origins=ORIGIN) as (_app, http):
        other_origin = await http.options(
            "/api/role/r", headers=PREFLIGHT | {"Origin": "https://evil.example"}
        )
        other_method = await http.options(
            "/api/role/r", headers=PREFLIGHT | {"Access-Control-Request-Method": "TRACE"}
        )
        other_header = await http.options(
            "/api/role/r", headers=PREFLIGHT | {"Access-Control-Request-Headers": "x-custom"}
        )
        simple = await http.get(
            "/api/roles", headers={"Origin": "https://evil.example"} | bearer(new_key())
        )
    for response, what in (
        (other_origin, "origin"),
        (other_method, "method"),
        (other_header, "headers"),
    ):
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["type"] == "urn:auth:problem:cors-refused"
        assert body["detail"] == f"Disallowed CORS {what}."
    assert "access-control-allow-origin" not in other_origin.headers
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


async def test_wildcard_is_allowed_in_development(edge_client: EdgeClient) -> None:
    async with edge_client(allow_cors=True, cors_origins="*") as (_app, http):
        response = await http.options(
            "/api/role/r", headers=PREFLIGHT | {"Origin": "https://any.example"}
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
