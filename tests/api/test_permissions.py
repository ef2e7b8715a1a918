"""Permission grants: grant (false without the role), revoke (always true), check, list."""

from __future__ import annotations

import httpx
import pytest

from tests.api.helpers import assert_bare, assert_wrapped

pytestmark = pytest.mark.stored_data


async def test_grant_check_revoke(api: httpx.AsyncClient) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    assert_bare(await api.get("/api/permission/editors/publish"), False)
    assert_bare(await api.post("/api/permission/editors/publish"), True)
    assert_bare(await api.get("/api/permission/editors/publish"), True)
    assert_bare(await api.delete("/api/permission/editors/publish"), True)
    assert_bare(await api.get("/api/permission/editors/publish"), False)


async def test_grant_is_idempotent(api: httpx.AsyncClient) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    assert_bare(await api.post("/api/permission/editors/publish"), True)
    assert_bare(await api.post("/api/permission/editors/publish"), True)
    assert_wrapped(await api.get("/api/role_permissions/editors"), [{"name": "publish"}])


async def test_grant_to_missing_role_is_false(api: httpx.AsyncClient) -> None:
    assert_bare(await api.post("/api/permission/ghosts/publish"), False)
    assert_bare(await api.get("/api/permission/ghosts/publish"), False)
    assert_bare(await api.get("/api/roles"), [])
    assert_bare(await api.get("/api/which_roles_can/publish"), [])


async def test_revoke_is_always_true(api: httpx.AsyncClient) -> None:
    assert_bare(await api.delete("/api/permission/ghosts/publish"), True)
    assert_bare(await api.post("/api/role/editors"), True)
    assert_bare(await api.delete("/api/permission/editors/publish"), True)


async def test_revoke_touches_only_that_grant(api: httpx.AsyncClient) -> None:
    for role in ("editors", "viewers"):
        assert_bare(await api.post(f"/api/role/{role}"), True)
        for name in ("read", "publish"):
            assert_bare(await api.post(f"/api/permission/{role}/{name}"), True)
    assert_bare(await api.delete("/api/permission/editors/publish"), True)
    assert_wrapped(await api.get("/api/role_permissions/editors"), [{"name": "read"}])
    body = (await api.get("/api/role_permissions/viewers")).json()
    assert sorted(body["data"], key=lambda item: item["name"]) == [
        {"name": "publish"},
        {"name": "read"},
    ]


async def test_role_permissions_lists_every_grant(api: httpx.AsyncClient) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    for name in ("write", "read", "delete", "select"):
        assert_bare(await api.post(f"/api/permission/editors/{name}"), True)
    assert_wrapped(  # by name
        await api.get("/api/role_permissions/editors"),
        [{"name": "delete"}, {"name": "read"}, {"name": "select"}, {"name": "write"}],
    )


async def test_role_permissions_of_unknown_role_is_empty(api: httpx.AsyncClient) -> None:
    assert_wrapped(await api.get("/api/role_permissions/ghosts"), [])


async def test_permission_names_are_case_sensitive(api: httpx.AsyncClient) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    assert_bare(await api.post("/api/permission/editors/Publish"), True)
    assert_bare(await api.get("/api/permission/editors/publish"), False)
    assert_bare(await api.get("/api/permission/editors/Publish"), True)
