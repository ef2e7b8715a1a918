"""Security headers and request ids on every response, refusals and 500s included."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from fastapi import FastAPI

from app.edge.headers import (
    API_CSP,
    REDOC_CSP,
    SWAGGER_UI_CSP,
    inline_script_hashes,
)
from tests.edge.conftest import EdgeClient, bearer, new_key

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "x-xss-protection": "1; mode=block",
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "referrer-policy": "no-referrer",
}
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def assert_edge_headers(response: httpx.Response, csp: str = API_CSP) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get_list(name) == [value], name
    assert response.headers.get_list("content-security-policy") == [csp]
    assert len(response.headers.get_list("x-request-id")) == 1


def _boom(app: FastAPI) -> None:
    async def boom() -> None:
        raise RuntimeError("unexpected")

    app.add_api_route("/api/boom", boom, methods=["GET"])


async def test_every_kind_of_answer_carries_the_headers(edge_client: EdgeClient) -> None:
    async with edge_client(
        prepare=_boom,
        raise_app_exceptions=False,
        allowed_hosts=["testserver"],
        max_body_bytes=1024,
        allow_cors=True,
        cors_origins=["https://app.example.com"],
        rate_limit_default="3/minute",
    ) as (_app, http):
        key = bearer(new_key())
        # Opening the tenant is counted by address; its own budget of 3 follows.
        assert (await http.get("/api/roles", headers=key)).status_code == 200
        answers = {
            "ok": await http.get("/api/roles", headers=key),
            "not found": await http.get("/api/nothing/here", headers=key),
            "gate 401": await http.get("/api/roles"),
            "unhandled 500": await http.get("/api/boom", headers=key),
            "body 413": await http.post("/api/role/r", headers=key, content=b"x" * 2048),
            "host 400": await http.get("/ping", headers={"Host": "evil.example"}),
            "cors 400": await http.options(
                "/api/roles",
                headers={
                    "Origin": "https://evil.example",
                    "Access-Control-Request-Method": "GET",
                },
            ),
            "rate 429": await http.get("/api/roles", headers=key),
            "service": await http.get("/ping"),
        }
    statuses = {name: response.status_code for name, response in answers.items()}
    assert statuses == {
        "ok": 200,
        "not found": 404,
        "gate 401": 401,
        "unhandled 500": 500,
        "body 413": 413,
        "host 400": 400,
        "cors 400": 400,
        "rate 429": 429,
        "service": 200,
    }
    for name, response in answers.items():
        assert_edge_headers(response)
        if name not in {"ok", "service"}:
            assert response.headers["content-type"] == "application/problem+json", name
    api = {"ok", "not found", "gate 401", "unhandled 500", "body 413", "cors 400", "rate 429"}
    for name in api:
        assert answers[name].headers.get_list("cache-control") == ["no-store"], name
    assert "cache-control" not in answers["service"].headers
    assert answers["unhandled 500"].json()["detail"] == "The service failed to handle this request."


async def test_docs_pages_get_their_own_policy(edge_client: EdgeClient) -> None:
    async with edge_client() as (_app, http):
        swagger = await http.get("/docs")
        redoc = await http.get("/redoc")
        redirect = await http.get("/docs/oauth2-redirect")
        asset = await http.get("/docs-static/swagger-init.js")
        spec = await http.get("/openapi.json")
    assert [r.status_code for r in (swagger, redoc, redirect, asset, spec)] == [200] * 5
    assert_edge_headers(swagger, SWAGGER_UI_CSP)
    assert_edge_headers(redoc, REDOC_CSP)
    assert_edge_headers(asset)
    assert_edge_headers(spec)
    assert SWAGGER_UI_CSP == (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    )
    assert REDOC_CSP == (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    )
    # The redirect page's one inline script is allowed by its hash, and nothing else.
    hashes = inline_script_hashes(redirect.text)
    assert len(hashes) == 1
    assert redirect.headers["content-security-policy"] == (
        f"default-src 'none'; script-src {hashes[0]}; base-uri 'none'; frame-ancestors 'none'"
    )


def test_inline_script_hash_is_the_csp_sha256_of_the_script_text() -> None:
    # The example of the CSP specification: sha256 of "alert('Hello, world.');".
    html = "<p><script>alert('Hello, world.');</script></p>"
    assert inline_script_hashes(html) == ["'sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng='"]


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("abc-123_DEF.9", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("", False),
        ("has space", False),
        ("semi;colon", False),
        ("caf\xe9".encode("latin-1"), False),
    ],
)
async def test_request_id_is_kept_only_when_valid(
    edge_client: EdgeClient, sent: str | bytes, kept: bool
) -> None:
    async with edge_client() as (_app, http):
        value = sent if isinstance(sent, bytes) else sent.encode()
        response = await http.get("/ping", headers=[(b"X-Request-ID", value)])
    returned = response.headers["x-request-id"]
    if kept:
        assert returned == sent
    else:
        assert UUID4.fullmatch(returned)
        assert uuid.UUID(returned).version == 4


async def test_request_id_is_minted_when_absent(edge_client: EdgeClient) -> None:
    async with edge_client() as (_app, http):
        first = await http.get("/ping")
        second = await http.get("/ping")
    assert UUID4.fullmatch(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
