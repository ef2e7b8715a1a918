"""Effective access: decisions, a user's permissions, who can, and workflows."""

from __future__ import annotations

import httpx
import pytest

from tests.api.helpers import assert_bare, assert_wrapped

pytestmark = pytest.mark.stored_data


async def _setup(api: httpx.AsyncClient) -> None:
    """editors: publish, read; viewers: read. alice in both, bob in viewers."""
    for role, names in {"editors": ["publish", "read"], "viewers": ["read"]}.items():
        assert_bare(await api.post(f"/api/role/{role}"), True)
        for name in names:
            assert_bare(await api.post(f"/api/permission/{role}/{name}"), True)
    for user, role in [("alice", "editors"), ("alice", "viewers"), ("bob", "viewers")]:
        assert_bare(await api.post(f"/api/membership/{user}/{role}"), True)


def _by_pair(items: list[dict[str, str]]) -> list[dict[str, str]]:
    return sorted(items, key=lambda item: (item["role"], item["user"]))


async def test_has_permission(api: httpx.AsyncClient) -> None:
    await _setup(api)
    for user, name, expected in [
        ("alice", "publish", True),
        ("alice", "read", True),
        ("bob", "read", True),
        ("bob", "publish", False),
        ("carol", "read", False),
        ("alice", "delete", False),
    ]:
        response = await api.get(f"/api/has_permission/{user}/{name}")
        assert_wrapped(response, {"has_permission": expected})


async def test_has_permission_follows_membership_and_grant_changes(
    api: httpx.AsyncClient,
) -> None:
    await _setup(api)
    assert_bare(await api.delete("/api/membership/alice/editors"), True)
    assert_wrapped(await api.get("/api/has_permission/alice/publish"), {"has_permission": False})
    assert_bare(await api.post("/api/permission/viewers/publish"), True)
    assert_wrapped(await api.get("/api/has_permission/bob/publish"), {"has_permission": True})
    assert_wrapped(await api.delete("/api/role/viewers"), {"result": True})
    assert_wrapped(await api.get("/api/has_permission/bob/read"), {"has_permission": False})


async def test_user_permissions_has_no_duplicates(api: httpx.AsyncClient) -> None:
    await _setup(api)
    assert_wrapped(
        await api.get("/api/user_permissions/alice"),
        {"count": 2, "permissions": [{"name": "publish"}, {"name": "read"}]},  # by name
    )
    assert_wrapped(
        await api.get("/api/user_permissions/bob"), {"count": 1, "permissions": [{"name": "read"}]}
    )


async def test_user_permissions_of_unknown_user(api: httpx.AsyncClient) -> None:
    assert_wrapped(await api.get("/api/user_permissions/nobody"), {"count": 0, "permissions": []})


async def test_which_roles_can(api: httpx.AsyncClient) -> None:
    await _setup(api)
    assert_bare(await api.get("/api/which_roles_can/publish"), [{"role": "editors"}])
    body = (await api.get("/api/which_roles_can/read")).json()
    assert sorted(body["result"], key=lambda item: item["role"]) == [
        {"role": "editors"},
        {"role": "viewers"},
    ]
    assert_bare(await api.get("/api/which_roles_can/delete"), [])


async def test_which_users_can_lists_each_user_role_pair(api: httpx.AsyncClient) -> None:
    await _setup(api)
    body = (await api.get("/api/which_users_can/read")).json()
    assert set(body) == {"result"}
    assert _by_pair(body["result"]) == [
        {"user": "alice", "role": "editors"},
        {"user": "alice", "role": "viewers"},
        {"user": "bob", "role": "viewers"},
    ]
    assert_bare(
        await api.get("/api/which_users_can/publish"), [{"user": "alice", "role": "editors"}]
    )
    assert_bare(await api.get("/api/which_users_can/delete"), [])


async def test_workflow_can_run(api: httpx.AsyncClient) -> None:
    await _setup(api)
    for user, workflow, expected in [
        ("alice", "publish", True),
        ("bob", "publish", False),
        ("bob", "read", True),
        ("carol", "read", False),
    ]:
        response = await api.get(f"/api/workflow/user/{user}/can_run/{workflow}")
        assert_wrapped(response, {"has_permission": expected})


async def test_workflow_users(api: httpx.AsyncClient) -> None:
    await _setup(api)
    members = [  # by role, then user
        {"user": "alice", "role": "editors"},
        {"user": "alice", "role": "viewers"},
        {"user": "bob", "role": "viewers"},
    ]
    assert_wrapped(await api.get("/api/workflow/users/read"), {"count": 3, "members": members})
    assert_wrapped(
        await api.get("/api/workflow/users/publish"),
        {"count": 1, "members": [{"user": "alice", "role": "editors"}]},
    )
    assert_wrapped(await api.get("/api/workflow/users/delete"), {"count": 0, "members": []})
