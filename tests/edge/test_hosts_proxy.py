"""Trusted proxy headers (AUTH_FORWARDED_ALLOW_IPS) and allowed hosts (AUTH_ALLOWED_HOSTS)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Request

from app.config import Settings
from tests.edge.conftest import EdgeClient

INVALID_HOST = {
    "type": "urn:auth:problem:invalid-host",
    "title": "Bad Request",
    "status": 400,
    "detail": "The Host header names no host this service answers for.",
    "success": False,
    "code": 400,
    "message": "The Host header names no host this service answers for.",
}


def _probe(app: FastAPI) -> None:
    async def probe(request: Request) -> dict[str, str | None]:
        client = request.client.host if request.client else None
        return {"client": client, "scheme": request.url.scheme}

    app.add_api_route("/probe", probe, methods=["GET"])


FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


def test_defaults() -> None:
    settings = Settings(_env_file=None)
    assert settings.forwarded_allow_ips == ["127.0.0.1"]
    assert settings.allowed_hosts == ["*"]


async def test_forwarded_headers_count_from_a_trusted_proxy(edge_client: EdgeClient) -> None:
    async with edge_client(prepare=_probe, client=("127.0.0.1", 40000)) as (_app, http):
        forwarded = await http.get("/probe", headers=FORWARDED)
        direct = await http.get("/probe")
    assert forwarded.json() == {"client": "203.0.113.7", "scheme": "https"}
    assert direct.json() == {"client": "127.0.0.1", "scheme": "http"}


async def test_forwarded_headers_are_ignored_from_anyone_else(edge_client: EdgeClient) -> None:
    async with edge_client(prepare=_probe, client=("198.51.100.9", 40000)) as (_app, http):
        response = await http.get("/probe", headers=FORWARDED)
    assert response.json() == {"client": "198.51.100.9", "scheme": "http"}


async def test_forwarded_allow_ips_accepts_networks(edge_client: EdgeClient) -> None:
    async with edge_client(
        prepare=_probe, client=("10.1.2.3", 40000), forwarded_allow_ips="10.0.0.0/8"
    ) as (_app, http):
        response = await http.get("/probe", headers=FORWARDED)
    assert response.json() == {"client": "203.0.113.7", "scheme": "https"}


async def test_a_spoofed_chain_keeps_the_address_the_proxy_saw(edge_client: EdgeClient) -> None:
    # The client sent its own X-Forwarded-For; the trusted proxy appended the real address.
    async with edge_client(prepare=_probe) as (_app, http):
        response = await http.get("/probe", headers={"X-Forwarded-For": "1.1.1.1, 203.0.113.7"})
    assert response.json()["client"] == "203.0.113.7"


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("auth.example.com", 200),
        ("AUTH.EXAMPLE.COM", 200),
        ("auth.example.com:8443", 200),
        ("eu.internal.example", 200),
        ("a.b.internal.example", 200),
        ("internal.example", 400),
        ("example.com", 400),
        ("evil.example", 400),
    ],
)
async def test_allowed_hosts(edge_client: EdgeClient, host: str, status: int) -> None:
    async with edge_client(allowed_hosts="auth.example.com,*.internal.example") as (_app, http):
        response = await http.get("/ping", headers={"Host": host})
    assert response.status_code == status
    if status == 400:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == INVALID_HOST
    else:
        assert response.json() == {"message": "PONG"}


async def test_any_host_by_default(edge_client: EdgeClient) -> None:
    async with edge_client() as (_app, http):
        response = await http.get("/ping", headers={"Host": "whatever.example"})
    assert response.status_code == 200


@pytest.mark.parametrize("pattern", ["auth.*.com", "*example.com", "a*"])
def test_malformed_host_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="AUTH_ALLOWED_HOSTS"):
        Settings(_env_file=None, allowed_hosts=pattern)
