"""Roles: create (bare, idempotent), delete (wrapped, purges), list."""

from __future__ import annotations

import httpx
import pytest

from tests.api.helpers import assert_bare, assert_wrapped

pytestmark = pytest.mark.stored_data


async def test_create_role_is_bare_true_and_idempotent(api: httpx.AsyncClient) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    assert_bare(await api.post("/api/role/editors"), True)
    assert_bare(await api.get("/api/roles"), [{"role": "editors", "description": None}])


async def test_list_roles_starts_empty(api: httpx.AsyncClient) -> None:
    assert_bare(await api.get("/api/roles"), [])


async def test_list_roles_shape(api: httpx.AsyncClient) -> None:
    for role in ("viewers", "admins", "Editors-2", "ops_team"):
        assert_bare(await api.post(f"/api/role/{role}"), True)
    body = (await api.get("/api/roles")).json()
    assert sorted(body["result"], key=lambda item: item["role"]) == [
        {"role": "Editors-2", "description": None},
        {"role": "admins", "description": None},
        {"role": "ops_team", "description": None},
        {"role": "viewers", "description": None},
    ]


async def test_role_names_are_case_sensitive(api: httpx.AsyncClient) -> None:
    assert_bare(await api.post("/api/role/Admin"), True)
    assert_bare(await api.post("/api/role/admin"), True)
    assert_wrapped(await api.delete("/api/role/ADMIN"), {"result": False})
    roles = {item["role"] for item in (await api.get("/api/roles")).json()["result"]}
    assert roles == {"Admin", "admin"}


async def test_delete_role_is_wrapped(api: httpx.AsyncClient) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    assert_wrapped(await api.delete("/api/role/editors"), {"result": True})
    assert_bare(await api.get("/api/roles"), [])


async def test_delete_missing_role_is_false(api: httpx.AsyncClient) -> None:
    assert_wrapped(await api.delete("/api/role/ghosts"), {"result": False})


async def test_delete_twice_is_false_the_second_time(api: httpx.AsyncClient) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    assert_wrapped(await api.delete("/api/role/editors"), {"result": True})
    assert_wrapped(await api.delete("/api/role/editors"), {"result": False})


async def test_recreated_role_is_empty(api: httpx.AsyncClient) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    assert_bare(await api.post("/api/permission/editors/publish"), True)
    assert_bare(await api.post("/api/membership/alice/editors"), True)
    assert_wrapped(await api.delete("/api/role/editors"), {"result": True})

    assert_bare(await api.post("/api/role/editors"), True)
    assert_bare(await api.get("/api/members/editors"), [])
    assert_wrapped(await api.get("/api/role_permissions/editors"), [])
    assert_bare(await api.get("/api/permission/editors/publish"), False)
    assert_wrapped(await api.get("/api/membership/alice/editors"), {"has_permission": False})
    assert_bare(await api.get("/api/user_roles/alice"), [])
    assert_wrapped(await api.get("/api/has_permission/alice/publish"), {"has_permission": False})


async def test_delete_role_leaves_other_roles_and_users(api: httpx.AsyncClient) -> None:
    for role in ("editors", "viewers"):
        assert_bare(await api.post(f"/api/role/{role}"), True)
        assert_bare(await api.post(f"/api/permission/{role}/read"), True)
        assert_bare(await api.post(f"/api/membership/alice/{role}"), True)
    assert_bare(await api.post("/api/permission/editors/publish"), True)

    assert_wrapped(await api.delete("/api/role/editors"), {"result": True})

    assert_bare(await api.get("/api/roles"), [{"role": "viewers", "description": None}])
    assert_bare(await api.get("/api/user_roles/alice"), [{"user": "alice", "role": "viewers"}])
    assert_wrapped(await api.get("/api/role_permissions/viewers"), [{"name": "read"}])
    assert_wrapped(await api.get("/api/has_permission/alice/read"), {"has_permission": True})
    assert_wrapped(await api.get("/api/has_permission/alice/publish"), {"has_permission": False})
