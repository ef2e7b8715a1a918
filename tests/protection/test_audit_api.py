"""``GET /api/audit``: the caller's own trail, newest first, paged and filtered."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.helpers import assert_bare, assert_problem, assert_wrapped, tenant_client
from tests.api.matchers import Shaped, matching
from tests.protection.helpers import fingerprint, tenant_of

pytestmark = pytest.mark.stored_data

ENTRY_FIELDS = {
    "id",
    "timestamp",
    "action",
    "entity_type",
    "resource",
    "details",
    "success",
    "user",
    "ip_address",
    "user_agent",
}
NEWEST_FIRST = ["DELETE_ROLE", "ADD_MEMBERSHIP", "ADD_PERMISSION", "CREATE_ROLE", "CREATE_ROLE"]


async def _history(api: httpx.AsyncClient) -> None:
    for path in ("/api/role/editors", "/api/role/drafts", "/api/permission/editors/publish"):
        assert_bare(await api.post(path), True)
    assert_bare(await api.post("/api/membership/ann/editors"), True)
    assert (await api.delete("/api/role/drafts")).json()["data"] == {"result": True}


ENTRIES = Shaped(
    "list of audit entries",
    lambda value: (
        isinstance(value, list)
        and all(isinstance(entry, dict) and set(entry) == ENTRY_FIELDS for entry in value)
    ),
)
TOTAL = Shaped("count", lambda value: type(value) is int and value >= 0)
CURSOR = matching(r"[A-Za-z0-9_=-]+", "opaque cursor")


async def _page(api: httpx.AsyncClient, *, more: bool = False, **params: Any) -> dict[str, Any]:
    """One page: the limit and offset asked for (50 and 0 by default), a total, entries
    of the documented fields and, when ``more`` follow, a cursor; what the entries hold
    is each test's to check."""
    response = await api.get("/api/audit", params=params)
    expected: dict[str, object] = {
        "total": TOTAL,
        "limit": params.get("limit", 50),
        "offset": params.get("offset", 0),
        "entries": ENTRIES,
    }
    if more:
        expected["next_cursor"] = CURSOR
    data: dict[str, Any] = assert_wrapped(response, expected)
    return data


def _actions(page: dict[str, Any]) -> list[str]:
    return [entry["action"] for entry in page["entries"]]


async def test_newest_first_with_paging(app: FastAPI, api: httpx.AsyncClient) -> None:
    await _history(api)
    tenant = await tenant_of(app, api)
    page = await _page(api)
    assert page["total"] == 5
    assert _actions(page) == NEWEST_FIRST
    ids = [entry["id"] for entry in page["entries"]]
    assert ids == sorted(ids, reverse=True)
    stamps = [entry["timestamp"] for entry in page["entries"]]
    assert stamps == sorted(stamps, reverse=True)
    membership = page["entries"][1]
    assert (membership["resource"], membership["user"], membership["success"]) == (
        "editors",
        fingerprint(tenant, "ann"),
        True,
    )
    assert page["entries"][2]["resource"] == "editors:publish"

    second = await _page(api, more=True, limit=2, offset=1)
    assert second["total"] == 5
    assert second["entries"] == page["entries"][1:3]
    assert (await _page(api, offset=5))["entries"] == []
    assert (await _page(api, limit=500))["limit"] == 500


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 1001},
        {"limit": "many"},
        {"offset": -1},
        {"action": "DROP TABLE"},
        {"since": "yesterday"},
    ],
)
async def test_invalid_queries_are_400(api: httpx.AsyncClient, params: dict[str, Any]) -> None:
    assert_problem(await api.get("/api/audit", params=params), 400)


async def test_filters(api: httpx.AsyncClient) -> None:
    await _history(api)
    assert _actions(await _page(api, action="add_permission")) == ["ADD_PERMISSION"]
    assert _actions(await _page(api, action="Create_Role")) == ["CREATE_ROLE", "CREATE_ROLE"]
    assert (await _page(api, action="REMOVE_PERMISSION"))["total"] == 0
    assert _actions(await _page(api, entity_type="role")) == [
        "DELETE_ROLE",
        "CREATE_ROLE",
        "CREATE_ROLE",
    ]
    assert _actions(await _page(api, entity_type="role", action="delete_role")) == ["DELETE_ROLE"]

    entries = (await _page(api))["entries"]
    middle = entries[2]["timestamp"]
    since = await _page(api, since=middle)
    assert (since["total"], _actions(since)) == (3, NEWEST_FIRST[:3])
    until = await _page(api, until=middle)
    assert (until["total"], _actions(until)) == (2, NEWEST_FIRST[3:])
    window = await _page(api, since=entries[3]["timestamp"], until=entries[1]["timestamp"])
    assert _actions(window) == NEWEST_FIRST[2:4]
    two_hours_later = middle.replace("Z", "-02:00")
    assert (await _page(api, until=two_hours_later))["total"] == 5
    assert (await _page(api, since=two_hours_later))["total"] == 0
    two_hours_earlier = middle.replace("Z", "+02:00")
    assert (await _page(api, since=two_hours_earlier))["total"] == 5


async def test_only_the_callers_tenant(app: FastAPI, api: httpx.AsyncClient) -> None:
    await _history(api)
    async with tenant_client(app) as other:
        assert_bare(await other.post("/api/role/editors"), True)
        theirs = await _page(other)
    mine = await _page(api)
    assert (mine["total"], theirs["total"]) == (5, 1)
    assert not {entry["id"] for entry in theirs["entries"]} & {
        entry["id"] for entry in mine["entries"]
    }
