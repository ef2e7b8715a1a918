"""Failed authentication is counted per reason and logged without the secret."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from app.security.failures import AuthFailures
from app.state import app_state
from tests.identity.helpers import bearer, claims_of, forge, issue_tokens

LOGGER = "app.security.auth"


@dataclass
class Caller:
    api: httpx.AsyncClient
    client: httpx.AsyncClient
    client_key: str


Failure = tuple[httpx.Response, str | None]
"""The refused answer and the secret that was presented (if any)."""
Trigger = Callable[[Caller], Awaitable[Failure]]


async def _missing_header(c: Caller) -> Failure:
    return await c.client.get("/api/roles"), None


async def _malformed_credential(c: Caller) -> Failure:
    secret = "not-a-client-key-but-a-secret-42"
    return await c.client.get("/api/roles", headers=bearer(secret)), secret


async def _rotated_key(c: Caller) -> Failure:
    assert (await c.api.post("/api/keys/rotate")).status_code == 200
    return await c.api.get("/api/roles"), c.client_key


async def _invalid_token(c: Caller) -> Failure:
    tokens = await issue_tokens(c.api)
    token = forge(claims_of(tokens["access_token"]), secret="x" * 40)
    return await c.client.get("/api/roles", headers=bearer(token)), token


async def _expired_token(c: Caller) -> Failure:
    tokens = await issue_tokens(c.api)
    now = int(time.time())
    claims = {**claims_of(tokens["access_token"]), "iat": now - 99, "nbf": now - 99, "exp": now - 9}
    token = forge(claims)
    return await c.client.get("/api/roles", headers=bearer(token)), token


async def _revoked_token(c: Caller) -> Failure:
    tokens = await issue_tokens(c.api)
    token = tokens["access_token"]
    assert (await c.client.post("/api/token/revoke", json={"token": token})).status_code == 200
    return await c.client.get("/api/roles", headers=bearer(token)), token


async def _refresh_replay(c: Caller) -> Failure:
    token = (await issue_tokens(c.api))["refresh_token"]
    body = {"refresh_token": token}
    assert (await c.client.post("/api/token/refresh", json=body)).status_code == 200
    return await c.client.post("/api/token/refresh", json=body), token


async def _invalid_rotate_key(c: Caller) -> Failure:
    secret = "rrk_" + "Q" * 43
    return await c.client.post("/api/keys/recover", json={"rotate_key": secret}), secret


TRIGGERS: dict[str, tuple[Trigger, int]] = {
    "missing_header": (_missing_header, 401),
    "malformed_credential": (_malformed_credential, 400),
    "rotated_key": (_rotated_key, 401),
    "invalid_token": (_invalid_token, 401),
    "expired_token": (_expired_token, 401),
    "revoked_token": (_revoked_token, 401),
    "refresh_replay": (_refresh_replay, 401),
    "invalid_rotate_key": (_invalid_rotate_key, 401),
}


@pytest.mark.parametrize("reason", list(TRIGGERS))
async def test_failure_is_counted_and_logged(
    reason: str,
    app: FastAPI,
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    client_key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures: AuthFailures = app_state(app).failures
    trigger, status = TRIGGERS[reason]
    caller = Caller(api, client, client_key)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        before = failures.snapshot()
        response, secret = await trigger(caller)
        after = failures.snapshot()
    assert response.status_code == status, response.text
    assert set(after) == set(before)
    delta = {name: after[name] - before[name] for name in after if after[name] != before[name]}
    assert delta == {reason: 1}

    records = [record for record in caplog.records if record.name == LOGGER]
    mine = [record for record in records if getattr(record, "reason", None) == reason]
    assert len(mine) == 1
    record = mine[-1]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "authentication failed"
    # These routes have no parameters: the logged template is the path itself.
    assert getattr(record, "route", None) == response.request.url.path
    assert not hasattr(record, "path")
    assert getattr(record, "method", None) == response.request.method
    for logged in records:
        text = logged.getMessage() + repr(vars(logged))
        assert client_key not in text
        if secret is not None:
            assert secret not in text


async def test_snapshot_lists_every_reason(app: FastAPI) -> None:
    snapshot = app_state(app).failures.snapshot()
    assert set(snapshot) >= set(TRIGGERS) | {"unknown_key", "disabled_tenant"}
    assert all(isinstance(count, int) and count >= 0 for count in snapshot.values())
