"""The rotate key: issued once, then recovery without the client key."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.tenants.service import disable_tenant
from tests.api.helpers import assert_bare, assert_problem, assert_wrapped
from tests.api.matchers import ROTATE_KEY, UUID4
from tests.identity.helpers import (
    SecretWatch,
    assert_unauthorized,
    bearer,
    db_session,
    is_uuid4,
    issue_tokens,
    new_key,
    tenant_id_of,
    watched_client,
)


async def _rotate_key(api: httpx.AsyncClient) -> str:
    response = await api.post("/api/keys/get_rotate_key")
    key: str = assert_wrapped(response, {"rotate_key": ROTATE_KEY})["rotate_key"]
    return key


async def _recover(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    """Recover; the tenant's new client key (``data.new_key``, as rotation answers): the
    ``new_client_key`` asked for, else a new UUID4."""
    response = await client.post("/api/keys/recover", json=body)
    chosen = body.get("new_client_key")
    expected = chosen.lower() if isinstance(chosen, str) else UUID4
    key: str = assert_wrapped(response, {"new_key": expected})["new_key"]
    return key


async def test_rotate_key_is_issued_once(api: httpx.AsyncClient) -> None:
    await _rotate_key(api)
    response = await api.post("/api/keys/get_rotate_key")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"result", "reason", "hint"}
    assert body["result"] is False
    assert body["reason"] == "rotate_key_already_issued"
    assert isinstance(body["hint"], str)
    assert body["hint"]


async def test_recover_moves_the_tenant(
    api: httpx.AsyncClient, client: httpx.AsyncClient, app: FastAPI, watch: SecretWatch
) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    tokens = await issue_tokens(api)
    rotate_key = await _rotate_key(api)
    recovered = await _recover(client, {"rotate_key": rotate_key})
    assert_unauthorized(await api.get("/api/roles"))
    assert_unauthorized(
        await api.get("/api/roles", headers=bearer(tokens["access_token"])), invalid_token=True
    )
    assert_unauthorized(await client.post("/api/keys/recover", json={"rotate_key": rotate_key}))
    async with watched_client(app, watch, recovered) as new:
        assert_bare(await new.get("/api/roles"), [{"role": "editors", "description": None}])
        fresh = await _rotate_key(new)
    assert fresh != rotate_key
    again = await _recover(client, {"rotate_key": fresh})
    async with watched_client(app, watch, again) as newest:
        assert_bare(await newest.get("/api/roles"), [{"role": "editors", "description": None}])


async def test_rotation_retires_the_rotate_key(
    api: httpx.AsyncClient, client: httpx.AsyncClient, app: FastAPI, watch: SecretWatch
) -> None:
    """A rotate key is bound to the client key it was issued under: rotating kills it,
    and the new key may fetch a fresh one."""
    stolen = await _rotate_key(api)
    new_client_key = (await api.post("/api/keys/rotate")).json()["data"]["new_key"]
    assert_unauthorized(await client.post("/api/keys/recover", json={"rotate_key": stolen}))
    async with watched_client(app, watch, new_client_key) as owner:
        fresh = await _rotate_key(owner)
        assert_bare(await owner.get("/api/roles"), [])
    assert fresh != stolen
    assert is_uuid4(await _recover(client, {"rotate_key": fresh}))


async def test_someone_elses_rotation_retires_the_owners_rotate_key(
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    app: FastAPI,
    watch: SecretWatch,
    client_key: str,
) -> None:
    rotate_key = await _rotate_key(api)
    tenant = await tenant_id_of(app, client_key)
    # Someone holding the leaked client key rotates it away; the owner's offline
    # rotate key dies with that rotation, as any rotate key does.
    thief_key = (await api.post("/api/keys/rotate")).json()["data"]["new_key"]
    assert_unauthorized(await client.post("/api/keys/recover", json={"rotate_key": rotate_key}))
    async with watched_client(app, watch, thief_key) as thief:
        assert_bare(await thief.get("/api/roles"), [])
    # The operator's path back is the tenant command, not the rotate key.
    assert await tenant_id_of(app, thief_key) == tenant


async def test_chosen_client_key_is_honoured(
    api: httpx.AsyncClient, client: httpx.AsyncClient, app: FastAPI, watch: SecretWatch
) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    rotate_key = await _rotate_key(api)
    chosen = new_key()
    recovered = await _recover(client, {"rotate_key": rotate_key, "new_client_key": chosen})
    assert recovered == chosen
    async with watched_client(app, watch, chosen) as new:
        assert_bare(await new.get("/api/roles"), [{"role": "editors", "description": None}])


@pytest.mark.parametrize("owner", ["live", "retired", "own"])
async def test_chosen_key_in_use_is_409(
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    app: FastAPI,
    watch: SecretWatch,
    client_key: str,
    owner: str,
) -> None:
    rotate_key = await _rotate_key(api)
    taken = new_key()
    async with watched_client(app, watch, taken) as other:
        assert_bare(await other.get("/api/roles"), [])
        if owner == "retired":
            assert (await other.post("/api/keys/rotate")).status_code == 200
    chosen = client_key.upper() if owner == "own" else taken
    response = await client.post(
        "/api/keys/recover", json={"rotate_key": rotate_key, "new_client_key": chosen}
    )
    assert_problem(response, 409)
    assert_bare(await api.get("/api/roles"), [])
    await _recover(client, {"rotate_key": rotate_key})


async def test_chosen_key_must_be_a_uuid4(
    api: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    rotate_key = await _rotate_key(api)
    for chosen in (str(uuid.uuid1()), "not-a-key", "", 5):
        response = await client.post(
            "/api/keys/recover", json={"rotate_key": rotate_key, "new_client_key": chosen}
        )
        assert response.status_code == 400, chosen
        assert_problem(response, 400)
    assert_bare(await api.get("/api/roles"), [])
    await _recover(client, {"rotate_key": rotate_key})


async def test_bad_rotate_key_is_401(client: httpx.AsyncClient) -> None:
    for rotate_key in ("rrk_" + "A" * 43, "rrk_short", "rak_" + "A" * 43, "x"):
        response = await client.post("/api/keys/recover", json={"rotate_key": rotate_key})
        assert response.status_code == 401, rotate_key
        assert_unauthorized(response)


async def test_bad_recover_body_is_400(client: httpx.AsyncClient) -> None:
    bodies: list[object] = [
        {},
        {"new_client_key": str(uuid.uuid4())},
        {"rotate_key": 5},
        {"rotate_key": ""},
        {"rotate_key": "rrk_x", "extra": True},
        ["rrk_x"],
    ]
    for body in bodies:
        response = await client.post("/api/keys/recover", json=body)
        assert response.status_code == 400, body
        assert_problem(response, 400)


async def test_malformed_recover_json_is_400(client: httpx.AsyncClient) -> None:
    headers = {"Content-Type": "application/json"}
    response = await client.post("/api/keys/recover", content=b'{"rotate_key": ', headers=headers)
    assert_problem(response, 400)


async def test_recover_of_a_disabled_tenant_is_401(
    api: httpx.AsyncClient, client: httpx.AsyncClient, app: FastAPI, client_key: str
) -> None:
    rotate_key = await _rotate_key(api)
    tenant_id = await tenant_id_of(app, client_key)
    async with db_session(app) as session:
        assert await disable_tenant(session, tenant_id)
    assert_unauthorized(await client.post("/api/keys/recover", json={"rotate_key": rotate_key}))
