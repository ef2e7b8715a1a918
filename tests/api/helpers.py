"""Assertions on the contract's response shapes, and a second-tenant client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event

PROBLEM_JSON = "application/problem+json"
PROBLEM_MEMBERS = {"type", "title", "status", "detail", "success", "code", "message"}


def assert_bare(response: httpx.Response, value: object) -> Any:
    """A 200 whose body is exactly ``{"result": value}``; returns the result.

    ``value`` is the result the contract gives, written out (with the stand-ins of
    :mod:`tests.api.matchers` for what the server makes up), never read from the
    response: ``tests/test_assertion_helpers.py`` refuses a test that does.
    """
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body == {"result": value}, f"answered {body!r}, expected {{'result': {value!r}}}"
    return body["result"]


def assert_wrapped(response: httpx.Response, data: object) -> Any:
    """A 200 in the wrapped envelope carrying exactly ``data``; returns the data.

    ``data`` is the data the contract gives, written out (with the stand-ins of
    :mod:`tests.api.matchers` for what the server makes up), never read from the
    response: ``tests/test_assertion_helpers.py`` refuses a test that does.
    """
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"success", "code", "message", "data", "timestamp"}
    assert body["success"] is True
    assert body["code"] == 200
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["data"] == data, f"answered data {body['data']!r}, expected {data!r}"
    assert_utc_timestamp(body["timestamp"])
    return body["data"]


def assert_utc_timestamp(value: object) -> None:
    assert isinstance(value, str)
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem+json error with the legacy envelope members."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert set(body) >= PROBLEM_MEMBERS
    assert body["status"] == status
    assert body["code"] == status
    assert body["success"] is False
    assert isinstance(body["type"], str)
    assert body["type"]
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["message"] == body["detail"]
    assert "Traceback" not in response.text
    return body


def tenant_headers(client_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {client_key}"}


@asynccontextmanager
async def tenant_client(
    app: FastAPI, client_key: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client authenticated as another tenant (a fresh one unless a key is given)."""
    key = client_key or str(uuid.uuid4())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=tenant_headers(key)
    ) as http:
        yield http


@contextmanager
def statements(app: FastAPI) -> Iterator[list[str]]:
    """Every SQL statement the app's engine executes inside the block."""
    engine = app.state.auth.database.engine.sync_engine
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
