"""Tenants are isolated: one tenant never sees nor changes another's data."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.api.helpers import assert_bare, assert_wrapped, tenant_client

pytestmark = pytest.mark.stored_data


async def _populate(api: httpx.AsyncClient) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    assert_bare(await api.post("/api/permission/editors/publish"), True)
    assert_bare(await api.post("/api/membership/alice/editors"), True)


async def _assert_populated(api: httpx.AsyncClient) -> None:
    assert_bare(await api.get("/api/roles"), [{"role": "editors", "description": None}])
    assert_bare(await api.get("/api/members/editors"), [{"user": "alice", "role": "editors"}])
    assert_wrapped(await api.get("/api/role_permissions/editors"), [{"name": "publish"}])
    assert_wrapped(await api.get("/api/has_permission/alice/publish"), {"has_permission": True})


async def test_other_tenant_sees_nothing(api: httpx.AsyncClient, app: FastAPI) -> None:
    await _populate(api)
    async with tenant_client(app) as other:
        assert_bare(await other.get("/api/roles"), [])
        assert_bare(await other.get("/api/members/editors"), [])
        assert_bare(await other.get("/api/user_roles/alice"), [])
        assert_wrapped(await other.get("/api/membership/alice/editors"), {"has_permission": False})
        assert_bare(await other.get("/api/permission/editors/publish"), False)
        assert_wrapped(await other.get("/api/role_permissions/editors"), [])
        no = {"has_permission": False}
        assert_wrapped(await other.get("/api/has_permission/alice/publish"), no)
        assert_wrapped(await other.get("/api/workflow/user/alice/can_run/publish"), no)
        assert_wrapped(
            await other.get("/api/user_permissions/alice"), {"count": 0, "permissions": []}
        )
        assert_bare(await other.get("/api/which_roles_can/publish"), [])
        assert_bare(await other.get("/api/which_users_can/publish"), [])
        assert_wrapped(await other.get("/api/workflow/users/publish"), {"count": 0, "members": []})


async def test_other_tenant_cannot_change_anything(api: httpx.AsyncClient, app: FastAPI) -> None:
    await _populate(api)
    async with tenant_client(app) as other:
        assert_bare(await other.post("/api/permission/editors/delete"), False)
        assert_bare(await other.post("/api/membership/mallory/editors"), False)
        assert_bare(await other.delete("/api/membership/alice/editors"), True)
        assert_bare(await other.delete("/api/permission/editors/publish"), True)
        assert_wrapped(await other.delete("/api/role/editors"), {"result": False})
    await _assert_populated(api)
    assert_bare(await api.get("/api/permission/editors/delete"), False)
    assert_wrapped(await api.get("/api/membership/mallory/editors"), {"has_permission": False})


async def test_same_names_in_two_tenants_are_independent(
    api: httpx.AsyncClient, app: FastAPI
) -> None:
    await _populate(api)
    async with tenant_client(app) as other:
        assert_bare(await other.post("/api/role/editors"), True)
        assert_bare(await other.post("/api/permission/editors/read"), True)
        assert_bare(await other.post("/api/membership/bob/editors"), True)
        assert_bare(await other.get("/api/members/editors"), [{"user": "bob", "role": "editors"}])
        assert_wrapped(await other.get("/api/role_permissions/editors"), [{"name": "read"}])
        assert_bare(await other.get("/api/which_users_can/publish"), [])

        assert_wrapped(await other.delete("/api/role/editors"), {"result": True})
        assert_bare(await other.get("/api/roles"), [])
    await _assert_populated(api)
    assert_bare(await api.get("/api/which_users_can/read"), [])
