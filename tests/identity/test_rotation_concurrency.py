"""Rotation under concurrent writes loses nothing (PostgreSQL: real row locks).

Writes with the old key start every 10 ms around the rotation; each either
committed before the swap (and is visible under the new key) or answered 401.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from tests.api.helpers import assert_bare, assert_wrapped
from tests.identity.helpers import SecretWatch, assert_unauthorized, new_key, watched_client

WRITES = 40
STAGGER = 0.01


def _write(index: int) -> str:
    return f"/api/role/role{index}" if index % 2 else f"/api/permission/base/perm{index}"


async def _later(delay: float, api: httpx.AsyncClient, path: str) -> httpx.Response:
    await asyncio.sleep(delay)
    return await api.post(path)


async def test_rotation_under_concurrent_writes(backend: str, app: FastAPI) -> None:
    if backend != "postgresql":
        pytest.skip("row-lock interleaving is exercised on PostgreSQL")
    watch = SecretWatch()
    async with watched_client(app, watch, new_key()) as api:
        await _rotate_under_writes(api, app, watch)


async def _rotate_under_writes(api: httpx.AsyncClient, app: FastAPI, watch: SecretWatch) -> None:
    assert_bare(await api.post("/api/role/base"), True)
    writes = [_later(index * STAGGER, api, _write(index)) for index in range(WRITES)]
    rotation = _later(WRITES // 2 * STAGGER, api, "/api/keys/rotate")
    *responses, rotated = await asyncio.gather(*writes, rotation)
    assert rotated.status_code == 200, rotated.text
    assert_unauthorized(await api.post(_write(WRITES)))

    async with watched_client(app, watch, rotated.json()["data"]["new_key"]) as new:
        roles = {entry["role"] for entry in (await new.get("/api/roles")).json()["result"]}
        grants = (await new.get("/api/role_permissions/base")).json()["data"]
        permissions = {entry["name"] for entry in grants}
        assert_wrapped(await new.get("/api/settings"), {"strict_users": False})
    acknowledged = set()
    for index, response in enumerate(responses):
        name = _write(index).rsplit("/", 1)[1]
        if response.status_code == 200:
            assert_bare(response, True)
            assert name in (roles if index % 2 else permissions)
            acknowledged.add(name)
        else:
            assert_unauthorized(response)
    assert roles | permissions == acknowledged | {"base"}
