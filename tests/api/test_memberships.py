"""Memberships: add (false without the role), remove (always true), check, listings."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from tests.api.helpers import assert_bare, assert_wrapped

pytestmark = pytest.mark.stored_data

USERS = ["alice", "alice@example.com", "bob+tag@example.org", "svc|worker", "team:ops", "a.b-c_d"]


@pytest.mark.parametrize("user", USERS)
async def test_membership_round_trip(api: httpx.AsyncClient, user: str) -> None:
    path = quote(user, safe="")
    assert_bare(await api.post("/api/role/editors"), True)
    assert_bare(await api.post(f"/api/membership/{path}/editors"), True)
    assert_wrapped(await api.get(f"/api/membership/{path}/editors"), {"has_permission": True})
    assert_bare(await api.get(f"/api/user_roles/{path}"), [{"user": user, "role": "editors"}])
    assert_bare(await api.get("/api/members/editors"), [{"user": user, "role": "editors"}])
    assert_bare(await api.delete(f"/api/membership/{path}/editors"), True)
    assert_wrapped(await api.get(f"/api/membership/{path}/editors"), {"has_permission": False})
    assert_bare(await api.get(f"/api/user_roles/{path}"), [])


async def test_add_membership_is_idempotent(api: httpx.AsyncClient) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    assert_bare(await api.post("/api/membership/alice/editors"), True)
    assert_bare(await api.post("/api/membership/alice/editors"), True)
    assert_bare(await api.get("/api/members/editors"), [{"user": "alice", "role": "editors"}])


async def test_add_membership_to_missing_role_is_false(api: httpx.AsyncClient) -> None:
    assert_bare(await api.post("/api/membership/alice/ghosts"), False)
    assert_bare(await api.get("/api/user_roles/alice"), [])
    assert_bare(await api.get("/api/roles"), [])


async def test_remove_membership_is_always_true(api: httpx.AsyncClient) -> None:
    assert_bare(await api.delete("/api/membership/alice/ghosts"), True)
    assert_bare(await api.post("/api/role/editors"), True)
    assert_bare(await api.delete("/api/membership/alice/editors"), True)
    assert_bare(await api.delete("/api/membership/alice/editors"), True)


async def test_remove_membership_touches_only_that_pair(api: httpx.AsyncClient) -> None:
    for role in ("editors", "viewers"):
        assert_bare(await api.post(f"/api/role/{role}"), True)
        for user in ("alice", "bob"):
            assert_bare(await api.post(f"/api/membership/{user}/{role}"), True)
    assert_bare(await api.delete("/api/membership/alice/editors"), True)
    assert_bare(await api.get("/api/user_roles/alice"), [{"user": "alice", "role": "viewers"}])
    assert_bare(await api.get("/api/members/editors"), [{"user": "bob", "role": "editors"}])


async def test_check_membership_unknown_user_or_role(api: httpx.AsyncClient) -> None:
    assert_wrapped(await api.get("/api/membership/alice/ghosts"), {"has_permission": False})
    assert_bare(await api.post("/api/role/editors"), True)
    assert_wrapped(await api.get("/api/membership/nobody/editors"), {"has_permission": False})


async def test_user_roles_lists_every_role(api: httpx.AsyncClient) -> None:
    for role in ("viewers", "admins", "editors"):
        assert_bare(await api.post(f"/api/role/{role}"), True)
        assert_bare(await api.post(f"/api/membership/carol/{role}"), True)
    body = (await api.get("/api/user_roles/carol")).json()
    assert sorted(body["result"], key=lambda item: item["role"]) == [
        {"user": "carol", "role": "admins"},
        {"user": "carol", "role": "editors"},
        {"user": "carol", "role": "viewers"},
    ]


async def test_members_lists_every_user(api: httpx.AsyncClient) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    for user in ("zed", "alice@example.com", "bob"):
        assert_bare(await api.post(f"/api/membership/{user}/editors"), True)
    body = (await api.get("/api/members/editors")).json()
    assert sorted(body["result"], key=lambda item: item["user"]) == [
        {"user": "alice@example.com", "role": "editors"},
        {"user": "bob", "role": "editors"},
        {"user": "zed", "role": "editors"},
    ]


async def test_members_of_unknown_role_is_empty(api: httpx.AsyncClient) -> None:
    assert_bare(await api.get("/api/members/ghosts"), [])


async def test_user_names_are_case_sensitive(api: httpx.AsyncClient) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    assert_bare(await api.post("/api/membership/Alice/editors"), True)
    assert_wrapped(await api.get("/api/membership/alice/editors"), {"has_permission": False})
    assert_bare(await api.get("/api/user_roles/alice"), [])


async def test_special_characters_unencoded_in_path(api: httpx.AsyncClient) -> None:
    user = "ops+oncall|eu:team@example.com"
    assert_bare(await api.post("/api/role/editors"), True)
    assert_bare(await api.post(f"/api/membership/{user}/editors"), True)
    assert_bare(
        await api.get(f"/api/user_roles/{quote(user, safe='')}"),
        [{"user": user, "role": "editors"}],
    )
    assert_wrapped(await api.get(f"/api/membership/{user}/editors"), {"has_permission": True})
