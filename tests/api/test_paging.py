"""Cursor pagination of every listing (contract section 8, "Listings").

Runs on SQLite and PostgreSQL, encryption off and on (the ``api`` fixture). Every
listing is walked by its ``Link`` headers at several page sizes: each entry is served
exactly once, the pages together equal the one-page answer, a page is sorted by name,
and the last page carries no link.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.helpers import assert_bare, assert_problem, tenant_client
from tests.api.paging import (
    Extract,
    bare_items,
    data_items,
    data_member,
    flatten,
    read_page,
    seed_roles,
    walk,
)
from tests.protection.helpers import tenant_of

pytestmark = pytest.mark.stored_data

ROLES = [f"role-{n}" for n in range(7)]
USERS = ["zoe", "Alice", "bob@example.com", "carol", "dave|ops", "erin+1", "frank:x"]
PERMISSIONS = [f"perm-{n}" for n in range(7)]
KEY_OWNER = "carol"

LISTINGS: dict[str, tuple[str, Extract]] = {
    "roles": ("/api/roles", bare_items),
    "members": ("/api/members/role-0", bare_items),
    "user_roles": ("/api/user_roles/zoe", bare_items),
    "role_permissions": ("/api/role_permissions/role-0", data_items),
    "user_permissions": ("/api/user_permissions/zoe", data_member("permissions")),
    "which_roles_can": ("/api/which_roles_can/shared", bare_items),
    "which_users_can": ("/api/which_users_can/shared", bare_items),
    "workflow_users": ("/api/workflow/users/shared", data_member("members")),
    "api_keys": (f"/api/apikeys/user/{KEY_OWNER}", data_member("keys")),
    "audit": ("/api/audit", data_member("entries")),
}
NAME_ORDERED = {"roles", "user_roles", "which_roles_can"}
WRAPPED_OBJECTS = {"user_permissions", "workflow_users", "api_keys", "audit"}


async def _world(api: httpx.AsyncClient) -> None:
    """7 roles; role-0 has 7 members and 7 permissions; zoe is in every role;
    ``shared`` is granted to every role (so zoe holds it 7 times: listed once)."""
    for role in ROLES:
        assert_bare(await api.post(f"/api/role/{role}", json={"description": f"{role} text"}), True)
        assert_bare(await api.post(f"/api/permission/{role}/shared"), True)
        assert_bare(await api.post(f"/api/membership/zoe/{role}"), True)
    for user in USERS[1:]:
        assert_bare(await api.post(f"/api/membership/{user}/role-0"), True)
    for permission in PERMISSIONS:
        assert_bare(await api.post(f"/api/permission/role-0/{permission}"), True)
    for label in range(5):
        created = await api.post(f"/api/apikeys/user/{KEY_OWNER}", json={"label": f"k{label}"})
        assert created.status_code == 200, created.text


def _key(item: Any) -> str:
    return repr(sorted(item.items())) if isinstance(item, dict) else repr(item)


async def test_paging_serves_each_entry_exactly_once(api: httpx.AsyncClient) -> None:
    await _world(api)
    for listing, (path, extract) in sorted(LISTINGS.items()):
        await _check_walks(api, listing, path, extract)


async def _check_walks(api: httpx.AsyncClient, listing: str, path: str, extract: Extract) -> None:
    whole = await walk(api, path, extract)
    assert len(whole) == 1, f"{listing}: a small listing fits the default page"
    assert whole[0].next_link is None
    everything = whole[0].items
    assert len(everything) >= 5, listing
    for limit in (1, 2, 3, len(everything) - 1, len(everything), 1000):
        pages = await walk(api, path, extract, limit=limit)
        served = flatten(pages)
        assert Counter(map(_key, served)) == Counter(map(_key, everything)), (listing, limit)
        assert all(len(page.items) == limit for page in pages[:-1]), (listing, limit)
        assert 1 <= len(pages[-1].items) <= limit
        assert len(pages) == -(-len(everything) // limit), (listing, limit)
        if listing in NAME_ORDERED or listing in {"api_keys", "audit"}:
            assert served == everything, f"{listing}: keyed in clear, one order across pages"
        if listing in WRAPPED_OBJECTS:
            for page in pages:
                assert page.body["data"].get("next_cursor") == page.cursor, listing
            assert "next_cursor" not in pages[-1].body["data"], listing


async def test_pages_are_sorted_by_name(api: httpx.AsyncClient) -> None:
    """One page is in name order; across pages users follow a stable key order."""
    await _world(api)
    members = flatten(await walk(api, "/api/members/role-0", bare_items))
    assert [item["user"] for item in members] == sorted(USERS)
    for page in await walk(api, "/api/members/role-0", bare_items, limit=3):
        users = [item["user"] for item in page.items]
        assert users == sorted(users)
    names = flatten(await walk(api, "/api/role_permissions/role-0", data_items))
    assert [item["name"] for item in names] == sorted([*PERMISSIONS, "shared"])
    pairs = flatten(await walk(api, "/api/which_users_can/shared", bare_items, limit=4))
    roles = [item["role"] for item in pairs]
    assert roles == sorted(roles, key=ROLES.index), "role order holds across pages"
    keys = flatten(await walk(api, f"/api/apikeys/user/{KEY_OWNER}", data_member("keys")))
    assert [key["label"] for key in keys] == [f"k{n}" for n in range(5)], "creation order"


async def test_counts_are_of_the_answer(api: httpx.AsyncClient) -> None:
    await _world(api)
    page = read_page(
        await api.get("/api/user_permissions/zoe", params={"limit": 3}),
        data_member("permissions"),
    )
    assert page.body["data"]["count"] == 3
    last = (await walk(api, "/api/user_permissions/zoe", data_member("permissions"), limit=3))[-1]
    assert last.body["data"] == {"count": 2, "permissions": last.items}


async def test_default_is_the_first_thousand_with_a_link(
    app: FastAPI, api: httpx.AsyncClient
) -> None:
    tenant = await tenant_of(app, api)
    names = [f"r{n:05d}" for n in range(1001)]
    await seed_roles(app, tenant, names, "a description long enough to matter")
    first = read_page(await api.get("/api/roles"), bare_items)
    assert len(first.items) == 1000
    assert first.next_link is not None
    assert first.next_link.startswith("/api/roles?cursor=")
    rest = read_page(await api.get(first.next_link), bare_items)
    assert rest.next_link is None
    served = [item["role"] for item in first.items + rest.items]
    assert served == names
    assert {item["description"] for item in first.items} == {"a description long enough to matter"}
    paged = flatten(await walk(api, "/api/roles", bare_items, limit=1000))
    assert [item["role"] for item in paged] == names


async def _cursor(api: httpx.AsyncClient, path: str, **params: Any) -> str:
    page = read_page(await api.get(path, params={"limit": 1, **params}), lambda body: [])
    assert page.cursor is not None
    return page.cursor


async def test_a_cursor_works_only_where_it_was_issued(
    app: FastAPI, api: httpx.AsyncClient
) -> None:
    await _world(api)
    roles = await _cursor(api, "/api/roles")
    members = await _cursor(api, "/api/members/role-0")
    audit = await _cursor(api, "/api/audit", action="ADD_MEMBERSHIP")
    assert (await api.get("/api/roles", params={"cursor": roles})).status_code == 200
    refusals: list[tuple[str, dict[str, str | int]]] = [
        ("/api/user_roles/zoe", {"cursor": roles}),
        ("/api/which_roles_can/shared", {"cursor": roles}),
        ("/api/members/role-1", {"cursor": members}),
        ("/api/role_permissions/role-0", {"cursor": members}),
        ("/api/audit", {"cursor": audit}),
        ("/api/audit", {"cursor": audit, "action": "CREATE_ROLE"}),
        ("/api/audit", {"cursor": audit, "action": "ADD_MEMBERSHIP", "offset": 1}),
        ("/api/roles", {"cursor": roles[:-2]}),
        ("/api/roles", {"cursor": roles[:20] + ("A" if roles[20] != "A" else "B") + roles[21:]}),
        ("/api/roles", {"cursor": "bm90LWEtY3Vyc29y"}),
        ("/api/roles", {"cursor": "not a cursor"}),
        ("/api/roles", {"cursor": ""}),
        ("/api/roles", {"cursor": "A" * 1025}),
    ]
    for path, params in refusals:
        assert_problem(await api.get(path, params=params), 400)
    page = await api.get("/api/audit", params={"cursor": audit, "action": "ADD_MEMBERSHIP"})
    assert page.status_code == 200, page.text
    async with tenant_client(app) as other:
        await _world(other)
        for path, cursor in [("/api/roles", roles), ("/api/members/role-0", members)]:
            assert_problem(await other.get(path, params={"cursor": cursor}), 400)


async def test_limit_bounds(api: httpx.AsyncClient) -> None:
    for path, extract in LISTINGS.values():
        for bad in ("0", "-1", "1001", "many", "1.5"):
            assert_problem(await api.get(path, params={"limit": bad}), 400)
        for good in (1, 1000):
            read_page(await api.get(path, params={"limit": good}), extract)


async def test_audit_offset_still_pages(api: httpx.AsyncClient) -> None:
    await _world(api)
    everything = flatten(await walk(api, "/api/audit", data_member("entries"), limit=1000))
    by_offset = (await api.get("/api/audit", params={"limit": 4, "offset": 3})).json()["data"]
    assert by_offset["entries"] == everything[3:7]
    assert (by_offset["offset"], by_offset["limit"]) == (3, 4)
    following = read_page(
        await api.get("/api/audit", params={"limit": 4, "offset": 3}), data_member("entries")
    )
    assert following.next_link is not None
    assert "offset" not in following.next_link
    after = read_page(await api.get(following.next_link), data_member("entries"))
    assert after.items == everything[7:11]


async def test_a_walk_survives_writes_between_pages(api: httpx.AsyncClient) -> None:
    """Keyset pages never repeat an entry, whatever is added or removed meanwhile."""
    await _world(api)
    first = read_page(await api.get("/api/roles", params={"limit": 3}), bare_items)
    assert first.next_link is not None
    assert_bare(await api.post("/api/role/aaa-before"), True)
    assert_bare(await api.post("/api/role/zzz-after"), True)
    assert (await api.delete("/api/role/role-1")).status_code == 200
    rest = flatten(await walk(api, first.next_link, bare_items))
    served = [item["role"] for item in first.items + rest]
    assert len(served) == len(set(served))
    assert served == [
        "role-0",
        "role-1",
        "role-2",
        "role-3",
        "role-4",
        "role-5",
        "role-6",
        "zzz-after",
    ]
