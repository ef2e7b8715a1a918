"""Creating and listing per-user API keys: shape, shown once, hashed at rest, limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from app.models import ApiKey
from tests.api.helpers import assert_problem, assert_utc_timestamp, assert_wrapped
from tests.api.matchers import API_KEY, API_KEY_PREFIX, UTC_TIMESTAMP, UUID4, instant
from tests.identity.helpers import (
    SecretWatch,
    db_session,
    new_key,
    watched_client,
)

pytestmark = pytest.mark.stored_data


async def create(api: httpx.AsyncClient, user: str, **body: Any) -> dict[str, Any]:
    response = await api.post(f"/api/apikeys/user/{user}", json=body or None)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _in_days(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()


async def test_created_key_shape(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/apikeys/user/alice@example.com")
    data = assert_wrapped(
        response,
        {
            "api_key": API_KEY,
            "key_id": UUID4,
            "user": "alice@example.com",
            "label": None,
            "key_prefix": API_KEY_PREFIX,
            "created": UTC_TIMESTAMP,
            "expires_at": None,
        },
    )
    assert data["key_prefix"] == data["api_key"][:12]


async def test_created_key_with_label_and_expiry(api: httpx.AsyncClient) -> None:
    expires_at = _in_days(30)
    data = await create(api, "alice", label="ci deploy", expires_at=expires_at)
    assert data["label"] == "ci deploy"
    assert datetime.fromisoformat(data["expires_at"]) == datetime.fromisoformat(expires_at)
    assert_utc_timestamp(data["expires_at"])


async def test_every_secret_is_new(api: httpx.AsyncClient) -> None:
    secrets = {(await create(api, "alice"))["api_key"] for _ in range(5)}
    assert len(secrets) == 5


async def test_list_shows_every_key_but_never_a_secret(api: httpx.AsyncClient) -> None:
    first = await create(api, "alice", label="first")
    second = await create(api, "alice", expires_at=_in_days(10))
    await create(api, "bob")
    delete = await api.delete(f"/api/apikeys/user/alice/{first['key_id']}")
    assert delete.status_code == 200
    response = await api.get("/api/apikeys/user/alice")
    revoked = {
        "key_id": first["key_id"],
        "key_prefix": first["key_prefix"],
        "label": "first",
        "is_active": False,
        "created": instant(first["created"]),
        "revoked_at": UTC_TIMESTAMP,
        "expires_at": None,
        "last_used_at": None,
    }
    live = {
        "key_id": second["key_id"],
        "key_prefix": second["key_prefix"],
        "label": None,
        "is_active": True,
        "created": instant(second["created"]),
        "revoked_at": None,
        "expires_at": instant(second["expires_at"]),
        "last_used_at": None,
    }
    assert_wrapped(response, {"count": 2, "keys": [revoked, live]})  # creation order
    for secret in (first["api_key"], second["api_key"]):
        assert secret not in response.text


async def test_list_of_unknown_user_is_empty(api: httpx.AsyncClient) -> None:
    assert_wrapped(await api.get("/api/apikeys/user/nobody"), {"count": 0, "keys": []})


async def test_keys_are_per_tenant(
    api: httpx.AsyncClient, app: FastAPI, watch: SecretWatch
) -> None:
    await create(api, "alice")
    async with watched_client(app, watch, new_key()) as other:
        assert_wrapped(await other.get("/api/apikeys/user/alice"), {"count": 0, "keys": []})


async def test_database_holds_no_plaintext_secret(api: httpx.AsyncClient, app: FastAPI) -> None:
    data = await create(api, "alice", label="stored")
    async with db_session(app) as session:
        row = (
            await session.execute(select(ApiKey).where(ApiKey.key_id == data["key_id"]))
        ).scalar_one()
        columns = {column.key: getattr(row, column.key) for column in ApiKey.__table__.columns}
    secret = data["api_key"]
    assert row.key_hash != secret
    assert len(row.key_hash) == 64
    assert row.key_prefix == secret[:12]
    assert all(secret not in str(value) for value in columns.values())
    assert all(secret[12:] not in str(value) for value in columns.values())
    answers = [
        await api.get("/api/apikeys/user/alice"),
        await api.post("/api/apikeys/validate", json={"api_key": secret}),
    ]
    for answer in answers:
        assert answer.status_code == 200
        assert row.key_hash not in answer.text


async def test_25_active_keys_then_400(api: httpx.AsyncClient, app: FastAPI) -> None:
    created = [await create(api, "alice") for _ in range(25)]
    body = assert_problem(await api.post("/api/apikeys/user/alice"), 400)
    assert "25" in body["detail"]
    assert (await api.post("/api/apikeys/user/bob")).status_code == 200

    revoke = await api.delete(f"/api/apikeys/user/alice/{created[0]['key_id']}")
    assert revoke.status_code == 200
    await create(api, "alice")
    assert_problem(await api.post("/api/apikeys/user/alice"), 400)

    async with db_session(app) as session:
        await session.execute(
            update(ApiKey)
            .where(ApiKey.key_id == created[1]["key_id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    await create(api, "alice")
    assert_problem(await api.post("/api/apikeys/user/alice"), 400)
    listing = (await api.get("/api/apikeys/user/alice")).json()["data"]
    assert listing["count"] == 27
    assert sum(entry["is_active"] for entry in listing["keys"]) == 25
