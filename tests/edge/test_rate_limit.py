"""Rate limiting on apps of their own: budgets, identities, exemptions, failing open."""

from __future__ import annotations

import logging
import math
import time
import uuid
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI
from limits.errors import StorageError

from app.config import Settings
from app.edge import rate_limit
from app.edge.rate_limit import RateLimits
from app.security.credentials import hash_client_key, parse_authorization
from app.security.gate import Visitor, _authenticate
from app.state import app_state
from app.tokens.codec import TokenType
from tests.conftest import TEST_KEY_HASH_SECRET
from tests.edge.conftest import EdgeClient, bearer, new_key
from tests.edge.redis_helpers import REDIS_URL, delete_prefix, require_redis

CONTENT_JSON = {"Content-Type": "application/json"}


def _limits(app: FastAPI) -> RateLimits:
    limits = app_state(app).rate_limits
    assert limits is not None
    return limits


def assert_refused(response: httpx.Response, limit: str, amount: int, what: str) -> None:
    """A 429 problem+json whose headers and detail agree with each other."""
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert response.headers["x-ratelimit-limit"] == str(amount)
    assert response.headers["x-ratelimit-remaining"] == "0"
    reset = int(response.headers["x-ratelimit-reset"])
    assert 0 <= reset - math.floor(time.time()) <= 61
    detail = f"{what} ({amount} per 1 minute); retry after {retry_after} seconds."
    assert response.json() == {
        "type": "urn:auth:problem:rate-limited",
        "title": "Too Many Requests",
        "status": 429,
        "detail": detail,
        "success": False,
        "code": 429,
        "message": detail,
        "limit": limit,
    }


def test_defaults() -> None:
    settings = Settings(_env_file=None)
    assert settings.rate_limit_enabled is True
    assert settings.rate_limit_default == "6000/minute"
    assert settings.rate_limit_decisions is None
    assert settings.rate_limit_write == "30000/minute"
    assert settings.rate_limit_role_create == "600/minute"
    assert settings.rate_limit_auth_failures == "60/minute"
    assert settings.rate_limit_registration == "30/minute"
    assert settings.rate_limit_storage_uri.get_secret_value() == "memory://"


@pytest.mark.parametrize(
    "setting",
    [
        "rate_limit_default",
        "rate_limit_decisions",
        "rate_limit_write",
        "rate_limit_role_create",
        "rate_limit_auth_failures",
        "rate_limit_registration",
    ],
)
def test_limits_must_parse(setting: str) -> None:
    values: dict[str, Any] = {setting: "often"}
    with pytest.raises(ValueError, match=f"AUTH_{setting.upper()}"):
        Settings(_env_file=None, **values)
    values[setting] = "5 per minute"
    assert getattr(Settings(_env_file=None, **values), setting) == "5 per minute"


async def test_default_budget_is_per_tenant(edge_client: EdgeClient) -> None:
    key, other = new_key(), new_key()
    async with edge_client(rate_limit_default="3/minute") as (app, http):
        # The request that opens a tenant is counted by address; the tenant's own
        # budget starts with the next one.
        opened = await http.get("/api/roles", headers=bearer(key))
        spent = [(await http.get("/api/roles", headers=bearer(key))).status_code for _ in range(3)]
        refused = await http.get("/api/roles", headers=bearer(key))
        same_tenant_upper_case = await http.get("/api/roles", headers=bearer(key.upper()))
        other_tenant = await http.get("/api/roles", headers=bearer(other))
        counts = _limits(app).snapshot()["refused"]
    assert opened.status_code == 200
    assert spent == [200, 200, 200]
    assert_refused(refused, "default", 3, "Rate limit exceeded")
    assert same_tenant_upper_case.status_code == 429
    assert other_tenant.status_code == 200
    assert counts == {
        "default": 2,
        "decisions": 0,
        "write": 0,
        "role_create": 0,
        "auth_failures": 0,
        "registration": 0,
    }


async def test_write_budget_counts_writes_only(edge_client: EdgeClient) -> None:
    key = bearer(new_key())
    async with edge_client(rate_limit_write="2/minute") as (_app, http):
        reads = [(await http.get("/api/roles", headers=key)).status_code for _ in range(5)]
        first = await http.post("/api/role/a", headers=key)
        second = await http.post("/api/permission/a/p", headers=key)
        third = await http.delete("/api/role/a", headers=key)
        read_after = await http.get("/api/roles", headers=key)
    assert reads == [200] * 5
    assert [first.status_code, second.status_code] == [200, 200]
    assert_refused(third, "write", 2, "Rate limit exceeded")
    assert read_after.status_code == 200


async def test_role_creation_budget(edge_client: EdgeClient) -> None:
    key = bearer(new_key())
    async with edge_client(rate_limit_role_create="2 per minute") as (_app, http):
        assert (await http.get("/api/roles", headers=key)).status_code == 200  # opens it
        created = [(await http.post(f"/api/role/r{i}", headers=key)).status_code for i in range(2)]
        refused = await http.post("/api/role/r2", headers=key)
        grant = await http.post("/api/permission/r0/p", headers=key)
        delete = await http.delete("/api/role/r1", headers=key)
        roles = await http.get("/api/roles", headers=key)
    assert created == [200, 200]
    assert_refused(refused, "role_create", 2, "Rate limit exceeded")
    assert [grant.status_code, delete.status_code] == [200, 200]
    assert [entry["role"] for entry in roles.json()["result"]] == ["r0"]


async def test_opening_tenants_is_limited_per_address(edge_client: EdgeClient) -> None:
    """Each new client key has a fresh budget, so opening tenants has its own,
    per client address; known tenants are not affected."""
    known = new_key()
    async with edge_client(rate_limit_registration="2/minute") as (app, http):
        assert (await http.get("/api/roles", headers=bearer(known))).status_code == 200
        second = await http.get("/api/roles", headers=bearer(new_key()))
        refused = await http.get("/api/roles", headers=bearer(new_key()))
        by_token = await http.post("/api/token", headers=bearer(new_key()))
        known_again = await http.get("/api/roles", headers=bearer(known))
        counts = _limits(app).snapshot()["refused"]
    async with edge_client(rate_limit_registration="2/minute", client=("10.0.0.9", 50000)) as (
        _app,
        http,
    ):
        elsewhere = await http.get("/api/roles", headers=bearer(new_key()))
    assert second.status_code == 200
    assert_refused(refused, "registration", 2, "Too many new tenants opened from this address")
    assert by_token.status_code == 429
    assert known_again.status_code == 200
    assert counts["registration"] == 2
    assert elsewhere.status_code == 200


async def test_tokens_and_the_client_key_share_their_tenants_budget(
    edge_client: EdgeClient,
) -> None:
    key = new_key()
    async with edge_client(rate_limit_default="3/minute") as (_app, http):
        assert (await http.get("/api/roles", headers=bearer(key))).status_code == 200  # opens it
        token = (await http.post("/api/token", headers=bearer(key))).json()["access_token"]
        by_token = [
            (await http.get("/api/roles", headers=bearer(token))).status_code for _ in range(3)
        ]
        by_key = await http.get("/api/roles", headers=bearer(key))
    assert by_token == [200, 200, 200]
    assert_refused(by_key, "default", 3, "Rate limit exceeded")


async def test_rotation_buys_no_fresh_budget(edge_client: EdgeClient) -> None:
    """Budgets belong to the tenant, not to its current key."""
    key = new_key()
    async with edge_client(rate_limit_default="3/minute") as (_app, http):
        assert (await http.get("/api/roles", headers=bearer(key))).status_code == 200  # opens it
        before = [(await http.get("/api/roles", headers=bearer(key))).status_code for _ in range(2)]
        rotated = await http.post("/api/keys/rotate", headers=bearer(key))
        new = rotated.json()["data"]["new_key"]
        after = await http.get("/api/roles", headers=bearer(new))
        refused = await http.get("/api/roles", headers=bearer(new))  # a fresh key's 2nd read
    assert [*before, rotated.status_code, after.status_code] == [200, 200, 200, 200]
    assert_refused(refused, "default", 3, "Rate limit exceeded")


async def test_failed_authentications_close_the_address(edge_client: EdgeClient) -> None:
    other = {"X-Forwarded-For": "198.51.100.20"}
    async with edge_client(rate_limit_auth_failures="3/minute", client=("127.0.0.1", 40000)) as (
        app,
        http,
    ):
        known = new_key()
        assert_bare_ok = await http.post("/api/role/editors", headers=bearer(known))
        failures = [(await http.get("/api/roles")).status_code for _ in range(3)]
        valid_key = await http.get("/api/roles", headers=bearer(new_key()))
        # A known tenant's credentials are never refused by the address's failure
        # budget: a valid caller behind the same NAT keeps working, decisions included.
        known_reads = await http.get("/api/roles", headers=bearer(known))
        known_decision = await http.get("/api/has_permission/a/p", headers=bearer(known))
        known_write = await http.post("/api/permission/editors/p", headers=bearer(known))
        recover = await http.post(
            "/api/keys/recover", headers=CONTENT_JSON, json={"rotate_key": "rrk_" + "a" * 43}
        )
        ping = await http.get("/ping")
        elsewhere = await http.get("/api/roles", headers=bearer(new_key()) | other)
        metrics = (await http.get("/metrics")).text
        counts = _limits(app).snapshot()["refused"]
    assert assert_bare_ok.status_code == 200
    assert failures == [401, 401, 401]
    assert_refused(
        valid_key, "auth_failures", 3, "Too many failed authentications from this address"
    )
    assert [known_reads.status_code, known_decision.status_code, known_write.status_code] == [
        200,
        200,
        200,
    ]
    assert recover.status_code == 429
    assert ping.status_code == 200
    assert elsewhere.status_code == 200
    assert counts["auth_failures"] == 2
    assert 'auth_rate_limited_requests_total{limit="auth_failures"} 2.0' in metrics


async def test_bad_rotate_keys_spend_the_failure_budget(edge_client: EdgeClient) -> None:
    async with edge_client(rate_limit_auth_failures="2/minute") as (_app, http):
        statuses = [
            (
                await http.post(
                    "/api/keys/recover",
                    headers=CONTENT_JSON,
                    json={"rotate_key": "rrk_" + "b" * 43},
                )
            ).status_code
            for _ in range(3)
        ]
    assert statuses == [401, 401, 429]


async def test_service_and_docs_paths_are_never_limited(edge_client: EdgeClient) -> None:
    paths = [
        "/ping",
        "/health",
        "/metrics",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
        "/docs-static/swagger-init.js",
        "/docs-static/assets/favicon.png",
    ]
    async with edge_client(rate_limit_default="1/minute") as (_app, http):
        statuses = {path: [(await http.get(path)).status_code for _ in range(3)] for path in paths}
        anonymous = [(await http.get("/api/roles")).status_code for _ in range(2)]
    assert statuses == {path: [200, 200, 200] for path in paths}
    assert anonymous == [401, 429]


async def test_disabled(edge_client: EdgeClient) -> None:
    key = bearer(new_key())
    async with edge_client(rate_limit_enabled=False, rate_limit_default="1/minute") as (
        app,
        http,
    ):
        statuses = [(await http.get("/api/roles", headers=key)).status_code for _ in range(4)]
        metrics = (await http.get("/metrics")).text
    assert statuses == [200] * 4
    assert app_state(app).rate_limits is None
    assert "auth_rate_limited_requests_total" not in metrics


async def test_unreachable_store_fails_open_and_says_so_once(
    edge_client: EdgeClient, caplog: pytest.LogCaptureFixture
) -> None:
    key = bearer(new_key())
    caplog.set_level(logging.INFO, logger="app.edge.rate_limit")
    async with edge_client(
        rate_limit_storage_uri="redis://127.0.0.1:1/0", rate_limit_default="1/minute"
    ) as (_app, http):
        grant = [
            (await http.post("/api/role/editors", headers=key)).status_code,
            (await http.post("/api/permission/editors/publish", headers=key)).status_code,
            (await http.post("/api/membership/alice/editors", headers=key)).status_code,
        ]
        allowed = await http.get("/api/has_permission/alice/publish", headers=key)
        denied = await http.get("/api/has_permission/bob/publish", headers=key)
        unauthenticated = await http.get("/api/roles")
        metrics = (await http.get("/metrics")).text
    assert grant == [200, 200, 200]
    assert allowed.json()["data"] == {"has_permission": True}
    assert denied.json()["data"] == {"has_permission": False}
    assert unauthenticated.status_code == 401
    records = [r for r in caplog.records if r.name == "app.edge.rate_limit"]
    assert [record.__dict__["event"] for record in records] == ["rate_limit_storage_down"]
    assert "Connection refused" in records[0].__dict__["error"]
    # Decisions are not limited by default, so they never ask the store.
    assert "auth_rate_limit_unchecked_requests_total 4.0" in metrics
    assert "auth_rate_limit_storage_errors_total 1.0" in metrics
    assert "auth_rate_limit_storage_up 0.0" in metrics


async def test_outage_ends_when_the_store_answers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.edge.rate_limit")
    monkeypatch.setattr(rate_limit, "STORAGE_RETRY_SECONDS", 0.0)
    limits = RateLimits(Settings(_env_file=None, rate_limit_default="2/minute"))
    real_check = limits._check
    outcomes = iter([StorageError(ConnectionError("down")), None, None, None])

    def flaky_check(*args: Any) -> rate_limit.Refusal | None:
        failure = next(outcomes)
        if failure is not None:
            raise failure
        return real_check(*args)

    monkeypatch.setattr(limits, "_check", flaky_check)
    answers = [await limits.check("key:k", "192.0.2.1", "GET", "/api/roles") for _ in range(4)]
    assert [None if a is None else a.name.value for a in answers] == [None, None, None, "default"]
    records = [r for r in caplog.records if r.name == "app.edge.rate_limit"]
    assert [record.__dict__["event"] for record in records] == [
        "rate_limit_storage_down",
        "rate_limit_storage_recovered",
    ]
    snapshot = limits.snapshot()
    assert snapshot["unchecked"] == 1
    assert snapshot["storage_errors"] == 1
    assert snapshot["storage_available"] is True


async def test_identity_is_the_tenant_the_key_hash_or_the_address(
    edge_client: EdgeClient,
) -> None:
    key, unknown = new_key(), new_key()
    async with edge_client() as (app, http):
        token = (await http.post("/api/token", headers=bearer(key))).json()["access_token"]
        claims = app.state.auth.tokens.verify(token, TokenType.ACCESS)

        async def identity(header: str) -> str | None:
            visitor: Visitor = await _authenticate(app_state(app), parse_authorization(header))
            return visitor.identity

        tenant = f"tenant:{claims.tenant_id}"
        assert await identity(f"Bearer {key}") == tenant
        assert await identity(f"bearer   {key.upper()}") == tenant
        assert await identity(f"Bearer {token}") == tenant
        assert await identity(f"Bearer {unknown}") is None  # counted by address
        assert await identity(f"Bearer {token[:-2]}xx") is None


async def test_shared_store_never_holds_a_raw_key(edge_client: EdgeClient) -> None:
    require_redis()
    prefix = f"auth-test-{uuid.uuid4().hex[:12]}"
    key = new_key()
    try:
        async with edge_client(rate_limit_storage_uri=REDIS_URL, rate_limit_key_prefix=prefix) as (
            _app,
            http,
        ):
            await http.post("/api/role/r", headers=bearer(key))  # opens the tenant
            await http.post("/api/role/s", headers=bearer(key))
            await http.get("/api/roles")
            tenant = (await http.get("/api/roles", headers=bearer(key))).status_code
        client = redis.Redis.from_url(REDIS_URL)
        stored = sorted(name.decode() for name in client.scan_iter(f"{prefix}:*"))
        client.close()
    finally:
        delete_prefix(prefix)
    assert tenant == 200
    tenants = {name.split("/")[2] for name in stored if "/tenant:" in name}
    assert len(tenants) == 1
    [tenant_id] = tenants
    assert stored == [
        f"{prefix}:LIMITER/auth_failures/127.0.0.1/1000000/1/minute",
        f"{prefix}:LIMITER/default/ip:127.0.0.1/1000000/1/minute",
        f"{prefix}:LIMITER/default/{tenant_id}/1000000/1/minute",
        f"{prefix}:LIMITER/registration/127.0.0.1/1000000/1/minute",
        f"{prefix}:LIMITER/role_create/ip:127.0.0.1/1000000/1/minute",
        f"{prefix}:LIMITER/role_create/{tenant_id}/1000000/1/minute",
        f"{prefix}:LIMITER/write/ip:127.0.0.1/1000000/1/minute",
        f"{prefix}:LIMITER/write/{tenant_id}/1000000/1/minute",
    ]
    digest = hash_client_key(key, TEST_KEY_HASH_SECRET.encode())
    for secret in (key, key.upper(), digest, digest[:32]):
        assert not any(secret in name for name in stored)
