"""PATCH (shorten-only expiry) and DELETE (idempotent revocation) of API keys."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.helpers import assert_problem, assert_utc_timestamp, assert_wrapped
from tests.api.matchers import instant
from tests.identity.helpers import SecretWatch, new_key, watched_client
from tests.identity.test_apikeys_create import create

pytestmark = pytest.mark.stored_data


def _in(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).replace(microsecond=0).isoformat()


async def patch(api: httpx.AsyncClient, key_id: str, expires_at: Any) -> httpx.Response:
    return await api.patch(f"/api/apikeys/user/alice/{key_id}", json={"expires_at": expires_at})


async def test_shorten_returns_the_listing_entry(api: httpx.AsyncClient) -> None:
    key = await create(api, "alice", label="deploy", expires_at=_in(timedelta(days=30)))
    shorter = _in(timedelta(days=10))
    response = await patch(api, key["key_id"], shorter)
    data = assert_wrapped(
        response,
        {
            "key_id": key["key_id"],
            "key_prefix": key["key_prefix"],
            "label": "deploy",
            "is_active": True,
            "created": instant(key["created"]),
            "revoked_at": None,
            "expires_at": instant(shorter),
            "last_used_at": None,
        },
    )
    listing = (await api.get("/api/apikeys/user/alice")).json()["data"]
    assert listing["keys"] == [data]


async def test_a_key_without_expiry_can_get_one(api: httpx.AsyncClient) -> None:
    key = await create(api, "alice")
    expires_at = _in(timedelta(days=5))
    response = await patch(api, key["key_id"], expires_at)
    assert response.status_code == 200
    assert datetime.fromisoformat(response.json()["data"]["expires_at"]) == datetime.fromisoformat(
        expires_at
    )


@pytest.mark.parametrize(
    "delta",
    [
        pytest.param(timedelta(days=40), id="longer"),
        pytest.param(timedelta(days=30), id="equal"),
        pytest.param(-timedelta(minutes=1), id="past"),
        pytest.param(timedelta(days=366), id="beyond-365-days"),
    ],
)
async def test_shorten_only(api: httpx.AsyncClient, delta: timedelta) -> None:
    expires_at = _in(timedelta(days=30))
    key = await create(api, "alice", expires_at=expires_at)
    target = expires_at if delta == timedelta(days=30) else _in(delta)
    assert_problem(await patch(api, key["key_id"], target), 400)
    listing = (await api.get("/api/apikeys/user/alice")).json()["data"]
    stored = listing["keys"][0]["expires_at"]
    assert datetime.fromisoformat(stored) == datetime.fromisoformat(expires_at)


async def test_no_expiry_beyond_365_days(api: httpx.AsyncClient) -> None:
    key = await create(api, "alice")
    assert_problem(await patch(api, key["key_id"], _in(timedelta(days=366))), 400)
    body = {"expires_at": _in(timedelta(days=366))}
    assert_problem(await api.post("/api/apikeys/user/alice", json=body), 400)
    body = {"expires_at": _in(-timedelta(seconds=5))}
    assert_problem(await api.post("/api/apikeys/user/alice", json=body), 400)


async def test_patch_of_a_revoked_key_is_409(api: httpx.AsyncClient) -> None:
    key = await create(api, "alice", expires_at=_in(timedelta(days=30)))
    assert (await api.delete(f"/api/apikeys/user/alice/{key['key_id']}")).status_code == 200
    assert_problem(await patch(api, key["key_id"], _in(timedelta(days=1))), 409)


async def test_patch_of_an_unknown_key_is_404(api: httpx.AsyncClient) -> None:
    assert_problem(await patch(api, str(uuid.uuid4()), _in(timedelta(days=1))), 404)


async def test_malformed_key_id_is_400(api: httpx.AsyncClient) -> None:
    for key_id in ("not-a-key", str(uuid.uuid1()), str(uuid.uuid4())[:-1], "0" * 36):
        response = await patch(api, key_id, _in(timedelta(days=1)))
        assert response.status_code == 400, key_id
        assert_problem(response, 400)
        assert_problem(await api.delete(f"/api/apikeys/user/alice/{key_id}"), 400)


async def test_delete_is_idempotent(api: httpx.AsyncClient) -> None:
    key = await create(api, "alice")
    path = f"/api/apikeys/user/alice/{key['key_id']}"
    assert_wrapped(await api.delete(path), {"revoked": True, "already_revoked": False})
    assert_wrapped(await api.delete(path), {"revoked": True, "already_revoked": True})
    entry = (await api.get("/api/apikeys/user/alice")).json()["data"]["keys"][0]
    assert entry["is_active"] is False
    assert_utc_timestamp(entry["revoked_at"])


async def test_key_id_is_case_insensitive(api: httpx.AsyncClient) -> None:
    """A key id is a UUID4, accepted in any case like the client key."""
    key = await create(api, "alice", expires_at=_in(timedelta(days=30)))
    upper = key["key_id"].upper()
    response = await patch(api, upper, _in(timedelta(days=10)))
    assert response.status_code == 200
    assert response.json()["data"]["key_id"] == key["key_id"]
    path = f"/api/apikeys/user/alice/{upper}"
    assert_wrapped(await api.delete(path), {"revoked": True, "already_revoked": False})


async def test_delete_of_unknown_key_is_404(api: httpx.AsyncClient) -> None:
    assert_problem(await api.delete(f"/api/apikeys/user/alice/{uuid.uuid4()}"), 404)


async def test_delete_of_another_users_key_is_404(api: httpx.AsyncClient) -> None:
    key = await create(api, "alice")
    assert_problem(await api.delete(f"/api/apikeys/user/bob/{key['key_id']}"), 404)
    assert_problem(
        await api.patch(
            f"/api/apikeys/user/bob/{key['key_id']}", json={"expires_at": _in(timedelta(days=1))}
        ),
        404,
    )
    assert (await api.get("/api/apikeys/user/alice")).json()["data"]["keys"][0]["is_active"]


async def test_delete_of_another_tenants_key_is_404(
    api: httpx.AsyncClient, app: FastAPI, watch: SecretWatch
) -> None:
    key = await create(api, "alice")
    async with watched_client(app, watch, new_key()) as other:
        assert_problem(await other.delete(f"/api/apikeys/user/alice/{key['key_id']}"), 404)
    assert (await api.get("/api/apikeys/user/alice")).json()["data"]["keys"][0]["is_active"]
