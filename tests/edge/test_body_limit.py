"""AUTH_MAX_BODY_BYTES: 413 problem+json for declared and for chunked bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from http import HTTPStatus

import pytest

from app.config import Settings
from app.edge.body_limit import BodySizeLimitMiddleware
from app.state import app_state
from tests.edge.conftest import EdgeClient, bearer, new_key

LIMIT = 1024
TOO_LARGE = {
    "type": "urn:auth:problem:body-too-large",
    "title": HTTPStatus(413).phrase,
    "status": 413,
    "detail": f"The request body exceeds {LIMIT} bytes.",
    "success": False,
    "code": 413,
    "message": f"The request body exceeds {LIMIT} bytes.",
}


def _body(size: int) -> bytes:
    """A JSON body of exactly ``size`` bytes for POST /api/apikeys/validate."""
    frame = b'{"api_key": "rak_unknown"}'
    return frame[:-1] + b" " * (size - len(frame)) + frame[-1:]


async def _chunks(body: bytes, size: int = 100) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_default_is_64_kib() -> None:
    assert Settings(_env_file=None).max_body_bytes == 65536


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_limit_is_inclusive(edge_client: EdgeClient, chunked: bool) -> None:
    key = bearer(new_key()) | {"Content-Type": "application/json"}
    async with edge_client(max_body_bytes=LIMIT) as (_app, http):
        at_limit = _body(LIMIT)
        over = _body(LIMIT + 1)
        assert len(at_limit) == LIMIT
        accepted = await http.post(
            "/api/apikeys/validate",
            headers=key,
            content=_chunks(at_limit) if chunked else at_limit,
        )
        refused = await http.post(
            "/api/apikeys/validate",
            headers=key,
            content=_chunks(over) if chunked else over,
        )
    assert accepted.status_code == 200
    assert accepted.json()["data"] == {"valid": False, "reason": "unknown_key"}
    assert refused.status_code == 413
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json() == TOO_LARGE


async def test_declared_length_is_refused_before_the_gate(edge_client: EdgeClient) -> None:
    async with edge_client(max_body_bytes=LIMIT) as (app, http):
        response = await http.post("/api/role/r", content=b"x" * (LIMIT + 1))
        failures = app_state(app).failures.snapshot()
    # No credential, yet 413: the body limit answers before authentication is tried.
    assert response.status_code == 413
    assert sum(failures.values()) == 0


async def test_declared_oversize_body_is_never_read() -> None:
    reads = 0
    sent: list[dict[str, object]] = []

    async def app(_scope: object, _receive: object, _send: object) -> None:
        raise AssertionError("the application must not run")

    async def receive() -> dict[str, object]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"", "more_body": True}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    middleware = BodySizeLimitMiddleware(app, max_body_bytes=10)
    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"content-length", b"11")]}
    await middleware(scope, receive, send)  # type: ignore[arg-type]
    assert reads == 0
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]  # type: ignore[operator]


async def test_chunked_body_stops_being_read_past_the_limit() -> None:
    reads = 0

    async def app(_scope: object, _receive: object, _send: object) -> None:
        raise AssertionError("the application must not run")

    async def receive() -> dict[str, object]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 4, "more_body": True}

    async def send(_message: dict[str, object]) -> None:
        return None

    middleware = BodySizeLimitMiddleware(app, max_body_bytes=10)
    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    await middleware(scope, receive, send)  # type: ignore[arg-type]
    assert reads == 3  # 4 + 4 + 4 > 10: the third chunk ends it


async def test_requests_without_body_pass(edge_client: EdgeClient) -> None:
    async with edge_client(max_body_bytes=LIMIT) as (_app, http):
        response = await http.get("/api/roles", headers=bearer(new_key()))
    assert response.status_code == 200
