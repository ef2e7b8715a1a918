"""Real ``auth-server`` processes: one rate-limit budget shared through Redis, failing
open when Redis is gone, and the logs of a full run (JSON, request ids, no secret)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from app.security.credentials import hash_client_key
from tests.conftest import TEST_JWT_SECRET, TEST_KEY_HASH_SECRET
from tests.e2e.server import ServerProcess, free_port, server_env
from tests.edge.redis_helpers import REDIS_URL, delete_prefix, require_redis

pytestmark = pytest.mark.e2e

LINE_FIELDS = {"timestamp", "level", "logger", "message", "request_id"}
USER = "alice@example.com"


def start(workdir: Path, database: Path, **env: str) -> ServerProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    process = ServerProcess(
        workdir,
        server_env(
            workdir / "home",
            AUTH_PORT=str(free_port()),
            AUTH_SQLITE_PATH=str(database),
            AUTH_KEY_HASH_SECRET=TEST_KEY_HASH_SECRET,
            AUTH_JWT_SECRET_KEY=TEST_JWT_SECRET,
            AUTH_STRICT_USERS_DEFAULT="false",
            **env,
        ),
    )
    return process.__enter__()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def log_lines(server: ServerProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.log().splitlines() if line.strip()]


def test_two_servers_spend_one_shared_budget(servers: ExitStack, tmp_path: Path) -> None:
    require_redis()
    prefix = f"auth-test-{uuid.uuid4().hex[:12]}"
    servers.callback(delete_prefix, prefix)
    shared = {
        "AUTH_RATE_LIMIT_STORAGE_URI": REDIS_URL,
        "AUTH_RATE_LIMIT_KEY_PREFIX": prefix,
        "AUTH_RATE_LIMIT_DEFAULT": "10/minute",
    }
    database = tmp_path / "auth.sqlite3"
    first = start(tmp_path / "a", database, **shared)
    servers.callback(first.stop)
    second = start(tmp_path / "b", database, **shared)
    servers.callback(second.stop)

    key = str(uuid.uuid4())
    headers = {"Authorization": f"Bearer {key}"}
    answers: list[tuple[str, int]] = []
    with httpx.Client(timeout=10) as http:
        for turn in range(12):
            server = (first, second)[turn % 2]
            response = http.get(f"{server.url}/api/roles", headers=headers)
            answers.append((server.url, response.status_code))
            if response.status_code == 429:
                assert response.json()["limit"] == "default"
                assert 1 <= int(response.headers["retry-after"]) <= 60
    # The request that opens the tenant is counted by address; then the tenant's 10.
    assert [status for _, status in answers] == [200] * 11 + [429]
    assert {url for url, status in answers if status == 200} == {first.url, second.url}

    client = redis.Redis.from_url(REDIS_URL)
    try:
        [name] = client.scan_iter(f"{prefix}:LIMITER/default/tenant:*")
        counted = client.get(name)
    finally:
        client.close()
    assert counted == b"11"
    digest = hash_client_key(key, TEST_KEY_HASH_SECRET.encode())
    assert key not in name.decode()
    assert digest[:32] not in name.decode()


def test_a_server_without_its_redis_keeps_answering(servers: ExitStack, tmp_path: Path) -> None:
    server = start(
        tmp_path / "s",
        tmp_path / "auth.sqlite3",
        AUTH_RATE_LIMIT_STORAGE_URI="redis://127.0.0.1:1/0",
        AUTH_RATE_LIMIT_DEFAULT="2/minute",
    )
    servers.callback(server.stop)
    headers = {"Authorization": f"Bearer {uuid.uuid4()}"}
    with httpx.Client(base_url=server.url, timeout=10) as http:
        created = http.post("/api/role/editors", headers=headers)
        statuses = [http.get("/api/roles", headers=headers).status_code for _ in range(5)]
        denied = http.get("/api/has_permission/bob/publish", headers=headers)
        metrics = http.get("/metrics").text
    assert created.status_code == 200
    assert statuses == [200] * 5
    assert denied.json()["data"] == {"has_permission": False}
    # Decisions are not limited by default, so they never ask the store.
    assert "auth_rate_limit_unchecked_requests_total 6.0" in metrics
    downs = [line for line in log_lines(server) if line.get("event") == "rate_limit_storage_down"]
    assert len(downs) == 1
    assert downs[0]["level"] == "WARNING"
    assert downs[0]["logger"] == "app.edge.rate_limit"


def _full_flow(http: httpx.Client) -> tuple[list[str], list[str]]:
    """The reference flow plus tokens, API keys, rotation and recovery.

    Returns every secret the flow saw, and the request ids it sent, in order.
    """
    sent_ids: list[str] = []
    secrets: list[str] = []

    def call(
        method: str, path: str, credential: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        request_id = f"flow-{len(sent_ids):03d}"
        sent_ids.append(request_id)
        headers = {"X-Request-ID": request_id}
        if credential is not None:
            headers["Authorization"] = f"Bearer {credential}"
        return http.request(method, path, headers=headers, **kwargs)

    key = str(uuid.uuid4())
    secrets += [key, key.upper()]
    for method, path in [
        ("POST", "/api/role/editors"),
        ("POST", "/api/permission/editors/publish"),
        ("POST", f"/api/membership/{USER}/editors"),
    ]:
        assert call(method, path, key).status_code == 200
    assert call("GET", f"/api/has_permission/{USER}/publish", key.upper()).json()["data"] == {
        "has_permission": True
    }

    tokens = call("POST", "/api/token", key, json={"scope": "admin"}).json()
    secrets += [tokens["access_token"], tokens["refresh_token"]]
    assert call("GET", "/api/roles", tokens["access_token"]).status_code == 200
    refreshed = call("POST", "/api/token/refresh", json={"refresh_token": tokens["refresh_token"]})
    secrets += [refreshed.json()["access_token"], refreshed.json()["refresh_token"]]
    assert (
        call(
            "POST", "/api/token/refresh", json={"refresh_token": tokens["refresh_token"]}
        ).status_code
        == 401
    )

    issued = call("POST", f"/api/apikeys/user/{USER}", key, json={"label": "ci"})
    api_key = issued.json()["data"]["api_key"]
    secrets.append(api_key)
    assert call("POST", "/api/apikeys/validate", key, json={"api_key": api_key}).json()["data"][
        "valid"
    ]
    checked = call(
        "POST",
        "/api/apikeys/check_permission",
        key,
        json={"api_key": api_key, "permission": "publish"},
    )
    assert checked.json()["data"]["has_permission"] is True

    rotate_key = call("POST", "/api/keys/get_rotate_key", key).json()["data"]["rotate_key"]
    secrets.append(rotate_key)
    rotated = call("POST", "/api/keys/rotate", key).json()["data"]["new_key"]
    secrets += [rotated, rotated.upper()]
    assert call("GET", "/api/roles", key).status_code == 401  # the old key is dead
    # A refused request whose path names a user: only its route template is logged.
    assert call("GET", f"/api/has_permission/{USER}/publish", key).status_code == 401
    assert call("GET", "/api/roles", rotated).status_code == 200
    assert call("POST", "/api/keys/recover", json={"rotate_key": rotate_key}).status_code == 401
    rotate_key = call("POST", "/api/keys/get_rotate_key", rotated).json()["data"]["rotate_key"]
    secrets.append(rotate_key)
    recovered = call("POST", "/api/keys/recover", json={"rotate_key": rotate_key}).json()["data"]
    secrets += [recovered["new_key"], recovered["new_key"].upper()]
    assert call("GET", "/api/roles", recovered["new_key"]).status_code == 200

    # Secrets where they do not belong: a query string and a forged token.
    assert (
        call(
            "GET", f"/api/roles?client_key={key}&token={api_key}", recovered["new_key"]
        ).status_code
        == 200
    )
    forged = tokens["access_token"][:-4] + "AAAA"
    secrets.append(forged)
    assert call("GET", "/api/roles", forged).status_code == 401
    return secrets, sent_ids


def test_logs_of_a_full_run_are_json_and_hold_no_secret(servers: ExitStack, tmp_path: Path) -> None:
    server = start(
        tmp_path / "s", tmp_path / "auth.sqlite3", AUTH_LOG_LEVEL="debug", AUTH_DEBUG="true"
    )
    servers.callback(server.stop)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        secrets, sent_ids = _full_flow(http)
    server.stop()

    raw = server.log()
    lines = log_lines(server)
    for line in lines:
        assert line.keys() >= LINE_FIELDS, line
    for secret in [*secrets, TEST_JWT_SECRET, TEST_KEY_HASH_SECRET]:
        assert secret not in raw
    assert hash_client_key(secrets[0], TEST_KEY_HASH_SECRET.encode()) not in raw

    access = [line for line in lines if line["logger"] == "app.access"]
    flow_access = [line for line in access if line["request_id"].startswith("flow-")]
    assert [line["request_id"] for line in flow_access] == sent_ids
    for line in access:
        assert set(line) == LINE_FIELDS | {
            "event",
            "method",
            "route",
            "status",
            "duration_ms",
            "client_ip",
        }
        assert "?" not in line["message"]
        assert line["client_ip"] == "127.0.0.1"
    assert {line["route"] for line in flow_access} >= {
        "/api/role/{role}",
        "/api/token",
        "/api/keys/rotate",
        "/api/keys/recover",
        "/api/apikeys/user/{user}",
    }
    # Lines written while a request ran carry its id; uvicorn writes through the same format.
    failures = [line for line in lines if line.get("event") == "auth_failure"]
    assert {line["request_id"] for line in failures} <= set(sent_ids)
    assert len(failures) == 5
    assert {line["route"] for line in failures} >= {"/api/has_permission/{user}/{name}"}
    assert USER not in raw  # user ids travel in paths; logs name route templates only
    assert any(line["logger"] == "uvicorn.error" for line in lines)
    assert any(line["logger"] == "sqlalchemy.engine.Engine" for line in lines)
    assert not any(line["logger"] == "uvicorn.access" for line in lines)
