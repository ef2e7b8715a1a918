"""Structured logs: JSON lines with request ids, the access line, redaction, config."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from app.config import Settings
from app.edge.context import RequestContext, enter, leave
from app.edge.logs import JsonFormatter, TextFormatter, build_log_config, redact
from tests.edge.conftest import EdgeClient, bearer, new_key


@contextmanager
def json_lines(*loggers: str) -> Iterator[list[dict[str, Any]]]:
    """Collect what ``loggers`` write, formatted by :class:`JsonFormatter`."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    saved = []
    for name in loggers:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    lines: list[dict[str, Any]] = []
    try:
        yield lines
    finally:
        for logger, level in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


def _record(message: str, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("app.test", logging.WARNING, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return record


def test_json_line_fields() -> None:
    token = enter(RequestContext(request_id="req-1"))
    try:
        line = JsonFormatter().format(_record("hello %s", event="e", reason="r", count=3))
    finally:
        leave(token)
    payload = json.loads(line)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", payload.pop("timestamp"))
    assert payload == {
        "level": "WARNING",
        "logger": "app.test",
        "message": "hello %s",
        "request_id": "req-1",
        "event": "e",
        "reason": "r",
        "count": 3,
    }
    outside = json.loads(JsonFormatter().format(_record("x")))
    assert outside["request_id"] is None


def test_exceptions_are_one_line() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        record = _record("failed")
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line)["exception"].endswith("ValueError: bad")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Authorization: Bearer 3f6b1c2e-aaaa-4bbb-8ccc-000000000000",
            "Authorization: Bearer [redacted]",
        ),
        ("bearer eyJabc.def.ghi", "Bearer [redacted]"),
        ("key rak_ABCDEFGHijklmnop0123 here", "key rak_[redacted] here"),
        ("rotate rrk_0123456789abcdef", "rotate rrk_[redacted]"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "token [redacted-jwt]"),
        ("GET /api/roles 200", "GET /api/roles 200"),
    ],
)
def test_redaction(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert json.loads(JsonFormatter().format(_record(text)))["message"] == expected
    assert json.loads(JsonFormatter().format(_record("m", detail=text)))["detail"] == expected


def test_text_format() -> None:
    token = enter(RequestContext(request_id="req-2"))
    try:
        line = TextFormatter().format(_record("hello", event="e"))
    finally:
        leave(token)
    assert re.fullmatch(r"\S+Z WARNING app\.test \[req-2\] hello event=e", line)


def test_log_config() -> None:
    config = build_log_config(Settings(_env_file=None))
    assert config["formatters"]["default"] == {"()": "app.edge.logs.JsonFormatter"}
    assert config["root"] == {"handlers": ["default"], "level": logging.INFO}
    assert config["loggers"]["uvicorn.access"] == {"handlers": [], "propagate": False}
    assert config["loggers"]["uvicorn.error"]["propagate"] is True
    assert config["loggers"]["sqlalchemy.engine"]["level"] == logging.WARNING
    text = build_log_config(
        Settings(_env_file=None, log_format="text", log_level="warning", debug=True)
    )
    assert text["formatters"]["default"] == {"()": "app.edge.logs.TextFormatter"}
    assert text["root"]["level"] == logging.WARNING
    assert text["loggers"]["app"]["level"] == logging.DEBUG
    assert text["loggers"]["sqlalchemy.engine"]["level"] == logging.INFO


def test_log_format_is_json_or_text() -> None:
    with pytest.raises(ValueError, match="log_format"):
        Settings(_env_file=None, log_format="xml")


async def test_every_line_of_a_request_carries_its_id(edge_client: EdgeClient) -> None:
    secret_query = "?api_key=rak_should-never-appear&token=abc"
    with json_lines("app.access", "app.security.auth") as lines:
        async with edge_client(client=("192.0.2.44", 1234)) as (_app, http):
            await http.get(
                f"/api/has_permission/alice/read{secret_query}",
                headers=bearer(new_key()) | {"X-Request-ID": "flow-1"},
            )
            await http.get("/api/roles", headers={"X-Request-ID": "flow-2"})
    access = [line for line in lines if line["logger"] == "app.access"]
    failure = [line for line in lines if line["logger"] == "app.security.auth"]
    for line in access:
        assert line.pop("duration_ms") >= 0
        line.pop("timestamp")
    assert access == [
        {
            "level": "INFO",
            "logger": "app.access",
            "message": "GET /api/has_permission/{user}/{name} 200",
            "request_id": "flow-1",
            "event": "request",
            "method": "GET",
            "route": "/api/has_permission/{user}/{name}",
            "status": 200,
            "client_ip": "192.0.2.44",
        },
        {
            "level": "INFO",
            "logger": "app.access",
            "message": "GET /api/roles 401",
            "request_id": "flow-2",
            "event": "request",
            "method": "GET",
            "route": "/api/roles",
            "status": 401,
            "client_ip": "192.0.2.44",
        },
    ]
    assert [line["request_id"] for line in failure] == ["flow-2"]
    assert failure[0]["reason"] == "missing_header"
    assert "should-never-appear" not in json.dumps(lines)
    assert "alice" not in json.dumps(access)


async def test_refusal_and_error_lines_name_the_route_never_the_raw_path(
    edge_client: EdgeClient,
) -> None:
    """Failed authentication (the gate's and the service's) and unhandled errors log
    the route template: the user id and permission in the raw path never reach a line."""

    def prepare(app: Any) -> None:
        async def explode(user: str) -> None:
            raise RuntimeError("boom")

        app.add_api_route("/probe/explode/{user}", explode, methods=["GET"])

    user, permission = "carol.secret-user@example.com", "read-ledger-42"
    loggers = ("app.access", "app.security.auth", "app.errors")
    with json_lines(*loggers) as lines:
        async with edge_client(prepare=prepare, raise_app_exceptions=False) as (_app, http):
            path = f"/api/has_permission/{user}/{permission}"
            assert (await http.get(path)).status_code == 401  # no credential: the gate
            malformed = await http.get(path, headers={"Authorization": "Bearer not-a-key"})
            assert malformed.status_code == 400  # the gate: a malformed credential
            forged = await http.get(path, headers=bearer("e30.e30.c2ln"))
            assert forged.status_code == 401  # a forged token: refused by the service
            assert (await http.get(f"/probe/explode/{user}")).status_code == 500
    failures = [line for line in lines if line["logger"] == "app.security.auth"]
    assert [line["route"] for line in failures] == ["/api/has_permission/{user}/{name}"] * 3
    assert all("path" not in line for line in failures)
    [error] = [line for line in lines if line["logger"] == "app.errors"]
    assert (error["message"], error["route"]) == ("unhandled error", "/probe/explode/{user}")
    assert "RuntimeError" in error["exception"]
    text = json.dumps(lines)
    assert user not in text
    assert permission not in text


@pytest.mark.parametrize(
    "text",
    [
        'header was "Bearer 3f6b0c2e-0000-4000-8000-000000000000" then',
        'quoted \\"Bearer abc.def\\" inside',
        "multi\nline Bearer secret-value\ttab",
    ],
)
def test_a_masked_line_stays_valid_json(text: str) -> None:
    """The JSON line is masked as a whole, after encoding: it must still parse, and
    the credential must be gone from every field."""
    line = JsonFormatter().format(_record(text, detail=text))
    parsed = json.loads(line)
    for value in (parsed["message"], parsed["detail"]):
        assert "Bearer [redacted]" in value
        assert "3f6b0c2e" not in value
        assert "secret-value" not in value
        assert "abc.def" not in value
