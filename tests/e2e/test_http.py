"""Raw HTTP against a real server process: service routes and the error format."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

PROBLEM_JSON = "application/problem+json"
PROBLEM_MEMBERS = {"type", "title", "status", "detail", "success", "code", "message"}


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        yield client


def assert_problem(
    response: httpx.Response, status: int, title: str, extensions: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Check an RFC 9457 body with the legacy members; return it."""
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert set(body) == PROBLEM_MEMBERS | extensions
    assert (body["status"], body["code"], body["title"], body["success"]) == (
        status,
        status,
        title,
        False,
    )
    assert body["message"] == body["detail"]
    return body


def test_service_routes(http: httpx.Client) -> None:
    assert http.get("/ping").json() == {"message": "PONG"}
    health = http.get("/health")
    assert (health.status_code, health.json()) == (200, {"status": "healthy"})


def test_unknown_route_is_problem_404(http: httpx.Client) -> None:
    assert_problem(http.get("/no/such/route"), 404, "Not Found")


def test_slash_inside_a_name_is_404(http: httpx.Client) -> None:
    response = http.post("/api/role/a%2Fb", headers={"Authorization": f"Bearer {uuid.uuid4()}"})
    assert_problem(response, 404, "Not Found")


def test_wrong_method_is_problem_405_with_allow(http: httpx.Client) -> None:
    response = http.put("/api/roles", headers={"Authorization": f"Bearer {uuid.uuid4()}"})
    assert_problem(response, 405, "Method Not Allowed")
    assert response.headers["allow"] == "GET"


def test_missing_authorization_is_401(http: httpx.Client) -> None:
    response = http.get("/api/roles")
    assert_problem(response, 401, "Unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


def test_malformed_credential_is_400(http: httpx.Client) -> None:
    response = http.get("/api/roles", headers={"Authorization": "Bearer not-a-key"})
    assert_problem(response, 400, "Bad Request")


def test_invalid_name_is_400_not_422(http: httpx.Client) -> None:
    headers = {"Authorization": f"Bearer {uuid.uuid4()}"}
    response = http.post("/api/role/bad%20role", headers=headers)
    body = assert_problem(response, 400, "Bad Request", frozenset({"errors"}))
    message = "Invalid role name: must be 1-64 letters, digits, _ or -."
    assert body["detail"] == message
    assert body["errors"] == [{"location": "path.role", "message": message}]
    assert http.get("/api/roles", headers=headers).json() == {"result": []}
