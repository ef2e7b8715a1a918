"""Validating API keys and checking their user's permission in one call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from app.models import ApiKey
from tests.api.helpers import assert_bare, assert_utc_timestamp, assert_wrapped
from tests.identity.helpers import SecretWatch, db_session, new_key, watched_client
from tests.identity.test_apikeys_create import create

pytestmark = pytest.mark.stored_data

UNKNOWN = {"valid": False, "reason": "unknown_key"}


async def validate(api: httpx.AsyncClient, secret: str) -> httpx.Response:
    return await api.post("/api/apikeys/validate", json={"api_key": secret})


async def _set(app: FastAPI, key_id: str, **values: Any) -> None:
    async with db_session(app) as session:
        await session.execute(update(ApiKey).where(ApiKey.key_id == key_id).values(**values))


async def _last_used(api: httpx.AsyncClient, user: str = "alice") -> str | None:
    entry = (await api.get(f"/api/apikeys/user/{user}")).json()["data"]["keys"][0]
    value: str | None = entry["last_used_at"]
    return value


async def test_valid_key(api: httpx.AsyncClient) -> None:
    key = await create(api, "alice@example.com", label="laptop")
    expected = {
        "valid": True,
        "user": "alice@example.com",
        "key_id": key["key_id"],
        "label": "laptop",
        "expires_at": None,
    }
    assert_wrapped(await validate(api, key["api_key"]), expected)


async def test_valid_key_with_expiry(api: httpx.AsyncClient) -> None:
    expires_at = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    key = await create(api, "alice", expires_at=expires_at.isoformat())
    data = (await validate(api, key["api_key"])).json()["data"]
    assert set(data) == {"valid", "user", "key_id", "label", "expires_at"}
    assert data["valid"] is True
    assert_utc_timestamp(data["expires_at"])
    assert datetime.fromisoformat(data["expires_at"]) == expires_at


async def test_unknown_key(api: httpx.AsyncClient) -> None:
    for secret in ("rak_" + "A" * 43, "rak_short", "rrk_" + "A" * 43, "anything at all"):
        assert_wrapped(await validate(api, secret), UNKNOWN)


async def test_revoked_key(api: httpx.AsyncClient) -> None:
    key = await create(api, "alice")
    assert (await api.delete(f"/api/apikeys/user/alice/{key['key_id']}")).status_code == 200
    assert_wrapped(await validate(api, key["api_key"]), {"valid": False, "reason": "revoked"})


async def test_expired_key(api: httpx.AsyncClient, app: FastAPI) -> None:
    key = await create(api, "alice", expires_at=(datetime.now(UTC) + timedelta(days=1)).isoformat())
    await _set(app, key["key_id"], expires_at=datetime.now(UTC) - timedelta(minutes=1))
    assert_wrapped(await validate(api, key["api_key"]), {"valid": False, "reason": "expired"})
    entry = (await api.get("/api/apikeys/user/alice")).json()["data"]["keys"][0]
    assert entry["is_active"] is False


async def test_key_of_another_tenant_is_unknown(
    api: httpx.AsyncClient, app: FastAPI, watch: SecretWatch
) -> None:
    key = await create(api, "alice")
    async with watched_client(app, watch, new_key()) as other:
        assert_wrapped(await validate(other, key["api_key"]), UNKNOWN)
        body = {"api_key": key["api_key"], "permission": "publish"}
        assert_wrapped(await other.post("/api/apikeys/check_permission", json=body), UNKNOWN)
    assert await _last_used(api) is None


async def test_check_permission(api: httpx.AsyncClient) -> None:
    key = await create(api, "alice")
    assert_bare(await api.post("/api/role/editors"), True)
    assert_bare(await api.post("/api/permission/editors/publish"), True)
    assert_bare(await api.post("/api/membership/alice/editors"), True)
    valid = {"valid": True, "user": "alice", "key_id": key["key_id"], "label": None}
    for permission, allowed in (("publish", True), ("delete", False)):
        body = {"api_key": key["api_key"], "permission": permission}
        response = await api.post("/api/apikeys/check_permission", json=body)
        assert_wrapped(response, {**valid, "expires_at": None, "has_permission": allowed})


async def test_check_permission_with_invalid_key(api: httpx.AsyncClient) -> None:
    key = await create(api, "alice")
    assert (await api.delete(f"/api/apikeys/user/alice/{key['key_id']}")).status_code == 200
    for secret, reason in ((key["api_key"], "revoked"), ("rak_" + "b" * 43, "unknown_key")):
        body = {"api_key": secret, "permission": "publish"}
        response = await api.post("/api/apikeys/check_permission", json=body)
        assert_wrapped(response, {"valid": False, "reason": reason})


async def test_last_used_at_is_written_at_most_once_a_minute(
    api: httpx.AsyncClient, app: FastAPI
) -> None:
    key = await create(api, "alice")
    assert await _last_used(api) is None
    before = datetime.now(UTC) - timedelta(seconds=1)
    assert (await validate(api, key["api_key"])).status_code == 200
    first = await _last_used(api)
    assert first is not None
    assert_utc_timestamp(first)
    assert datetime.fromisoformat(first) >= before
    body = {"api_key": key["api_key"], "permission": "publish"}
    assert (await api.post("/api/apikeys/check_permission", json=body)).status_code == 200
    assert (await validate(api, key["api_key"])).status_code == 200
    assert await _last_used(api) == first

    stale = datetime.now(UTC) - timedelta(minutes=2)
    await _set(app, key["key_id"], last_used_at=stale)
    assert (await validate(api, key["api_key"])).status_code == 200
    refreshed = await _last_used(api)
    assert refreshed is not None
    assert datetime.fromisoformat(refreshed) > stale + timedelta(minutes=1)


async def test_failed_validation_does_not_touch_last_used(api: httpx.AsyncClient) -> None:
    key = await create(api, "alice")
    assert (await api.delete(f"/api/apikeys/user/alice/{key['key_id']}")).status_code == 200
    assert (await validate(api, key["api_key"])).status_code == 200
    assert await _last_used(api) is None
