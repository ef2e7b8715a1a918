"""``POST /api/bulk`` and ``GET /api/bulk`` on SQLite and PostgreSQL, encryption off and
on: round trips, all or nothing, strict identity, revisions, the audit entry, scope."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI

from app.bulk import importer
from tests.api.helpers import assert_bare, assert_problem, assert_wrapped, tenant_client
from tests.bulk.helpers import (
    NDJSON,
    bulk_import,
    canonical,
    ndjson,
    records,
    row_counts,
    tenant_of,
)

pytestmark = pytest.mark.stored_data

SEED = [
    {"type": "membership", "user": "alice@example.com", "role": "editors"},  # role defined later
    {"type": "role", "role": "editors", "description": "Can publish, é"},
    {"type": "role", "role": "viewers"},
    {"type": "grant", "role": "editors", "permission": "publish"},
    {"type": "grant", "role": "editors", "permission": "read"},
    {"type": "grant", "role": "viewers", "permission": "read"},
    {"type": "membership", "user": "bob", "role": "viewers"},
    {"type": "membership", "user": "alice@example.com", "role": "viewers"},
]


async def _export(api: httpx.AsyncClient) -> httpx.Response:
    response = await api.get("/api/bulk")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return response


async def test_import_applies_every_record(api: httpx.AsyncClient) -> None:
    response = await bulk_import(api, ndjson(SEED))
    assert_wrapped(response, {"roles": 2, "grants": 3, "memberships": 3})
    assert_bare(
        await api.get("/api/roles"),
        [
            {"role": "editors", "description": "Can publish, é"},
            {"role": "viewers", "description": None},
        ],
    )
    assert_bare(
        await api.get("/api/members/viewers"),
        [
            {"user": "alice@example.com", "role": "viewers"},
            {"user": "bob", "role": "viewers"},
        ],
    )
    allowed = await api.get("/api/has_permission/alice@example.com/publish")
    assert_wrapped(allowed, {"has_permission": True})
    assert_wrapped(await api.get("/api/has_permission/bob/publish"), {"has_permission": False})


async def test_export_then_import_reproduces_the_tenant(
    app: FastAPI, api: httpx.AsyncClient
) -> None:
    """Seeded through REST, exported, imported into a new tenant: the same export."""
    assert_bare(await api.post("/api/role/ops", json={"description": "On call"}), True)
    assert_bare(await api.post("/api/role/empty"), True)
    for permission in ("deploy", "page"):
        assert_bare(await api.post(f"/api/permission/ops/{permission}"), True)
    for user in ("carol", "dave|x:1"):
        assert_bare(await api.post(f"/api/membership/{user}/ops"), True)
    exported = (await _export(api)).text
    assert records(exported)[:2] == [
        {"type": "role", "role": "empty"},
        {"type": "role", "role": "ops", "description": "On call"},
    ]
    async with tenant_client(app) as other:
        assert_wrapped(
            await bulk_import(other, exported.encode()),
            {"roles": 2, "grants": 2, "memberships": 2},
        )
        again = (await _export(other)).text
        assert_wrapped(
            await other.get("/api/has_permission/dave|x:1/deploy"), {"has_permission": True}
        )
    assert canonical(records(again)) == canonical(records(exported))


async def test_line_breaks_in_values_stay_inside_their_line(
    app: FastAPI, api: httpx.AsyncClient
) -> None:
    """U+0085, U+2028 and U+2029 are JSON string characters, but line ends to
    ``str.splitlines`` and some log shippers: the export writes them escaped, one record
    per line for every reader, and they import back as they were."""
    description = "first\u2028second\u2029third\u0085end"
    assert_bare(await api.post("/api/role/ops", json={"description": description}), True)
    assert_bare(await api.post("/api/permission/ops/deploy"), True)
    exported = (await _export(api)).text
    assert exported.splitlines() == exported.rstrip("\n").split("\n")
    assert "\\u2028" in exported
    assert records(exported) == [
        {"type": "role", "role": "ops", "description": description},
        {"type": "grant", "role": "ops", "permission": "deploy"},
    ]
    async with tenant_client(app) as other:
        assert_wrapped(
            await bulk_import(other, exported.encode()), {"roles": 1, "grants": 1, "memberships": 0}
        )
        assert_bare(await other.get("/api/roles"), [{"role": "ops", "description": description}])


async def test_import_is_idempotent(app: FastAPI, api: httpx.AsyncClient, client_key: str) -> None:
    for _ in range(2):
        assert_wrapped(
            await bulk_import(api, ndjson(SEED)), {"roles": 2, "grants": 3, "memberships": 3}
        )
    tenant = await tenant_of(app, client_key)
    assert await row_counts(app, tenant.id) == (2, 3, 3)


async def test_an_empty_body_imports_nothing(api: httpx.AsyncClient) -> None:
    assert_wrapped(await bulk_import(api, b"\n\n"), {"roles": 0, "grants": 0, "memberships": 0})
    assert (await api.get("/api/bulk")).text == ""


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (b"{not json", "not valid JSON"),
        (
            b'{"type": "grant", "role": "editors", "permission": "no spaces"}',
            "invalid permission name",
        ),
        (b'{"type": "membership", "user": "<script>", "role": "editors"}', "invalid user name"),
        (b'{"type": "role", "role": "x", "extra": 1}', "unknown member 'extra'"),
        (b'{"type": "team", "role": "x"}', "type must be role, grant or membership"),
        (b'{"type": "grant", "role": "nowhere", "permission": "p"}', "role 'nowhere' is neither"),
    ],
)
async def test_an_invalid_line_anywhere_stores_nothing(
    app: FastAPI, api: httpx.AsyncClient, client_key: str, bad: bytes, message: str
) -> None:
    assert_bare(await api.post("/api/role/kept"), True)
    tenant = await tenant_of(app, client_key)
    body = ndjson(SEED[:5]) + b"\n" + bad + b"\n" + ndjson(SEED[5:])
    problem = assert_problem(await bulk_import(api, body), 400)
    assert problem["line"] == 7
    assert problem["detail"].startswith("line 7: ")
    assert message in problem["detail"]
    assert await row_counts(app, tenant.id) == (1, 0, 0)
    assert (await tenant_of(app, client_key)).revision == tenant.revision
    audit = (await api.get("/api/audit", params={"action": "BULK_IMPORT"})).json()["data"]
    assert audit["entries"] == []


async def test_a_failure_while_writing_stores_nothing(
    app: FastAPI, api: httpx.AsyncClient, client_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows already written in earlier batches are rolled back with the rest."""
    monkeypatch.setattr(importer, "BATCH_ROWS", 2)
    original = importer.BulkImporter._advance
    calls = 0

    def failing(self: importer.BulkImporter, rows: int, total: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise importer.UnknownRole(99, "late")
        original(self, rows, total)

    monkeypatch.setattr(importer.BulkImporter, "_advance", failing)
    assert_bare(await api.post("/api/role/kept"), True)
    assert_problem(await bulk_import(api, ndjson(SEED)), 400)
    assert calls == 3
    tenant = await tenant_of(app, client_key)
    assert await row_counts(app, tenant.id) == (1, 0, 0)


async def test_strict_identity_refuses_members_without_a_key(
    app: FastAPI, api: httpx.AsyncClient, client_key: str
) -> None:
    assert (await api.put("/api/settings", json={"strict_users": True})).status_code == 200
    assert (await api.post("/api/apikeys/user/bob")).status_code == 200
    refused = await bulk_import(api, ndjson(SEED))
    problem = assert_problem(refused, 409)
    assert problem["detail"].startswith("line 1: strict_users is enabled")
    assert (problem["line"], problem["reason"]) == (1, "user_not_key_backed")  # alice, line 1
    tenant = await tenant_of(app, client_key)
    assert await row_counts(app, tenant.id) == (0, 0, 0)
    assert (await api.post("/api/apikeys/user/alice@example.com")).status_code == 200
    assert_wrapped(
        await bulk_import(api, ndjson(SEED)), {"roles": 2, "grants": 3, "memberships": 3}
    )


async def test_the_revision_moves_once_and_a_warm_snapshot_sees_the_import(
    app: FastAPI, api: httpx.AsyncClient, client_key: str
) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    decisions = app.state.auth.decisions
    before = await tenant_of(app, client_key)
    await api.get("/api/has_permission/alice@example.com/publish")  # starts the snapshot
    await decisions.settle()
    assert decisions.cache.get(before.id).revision == before.revision  # warm
    assert_wrapped(
        await api.get("/api/has_permission/alice@example.com/publish"), {"has_permission": False}
    )
    assert_wrapped(
        await bulk_import(api, ndjson(SEED)), {"roles": 2, "grants": 3, "memberships": 3}
    )
    after = await tenant_of(app, client_key)
    assert after.revision == before.revision + 1
    assert_wrapped(
        await api.get("/api/has_permission/alice@example.com/publish"), {"has_permission": True}
    )
    await decisions.settle()
    assert_wrapped(await api.get("/api/has_permission/bob/read"), {"has_permission": True})
    assert decisions.cache.get(before.id).revision == after.revision


async def test_one_audit_entry_with_the_counts(api: httpx.AsyncClient) -> None:
    assert_wrapped(
        await bulk_import(api, ndjson(SEED)), {"roles": 2, "grants": 3, "memberships": 3}
    )
    data = (await api.get("/api/audit")).json()["data"]
    assert [entry["action"] for entry in data["entries"]] == ["BULK_IMPORT"]
    entry = data["entries"][0]
    assert entry["entity_type"] == "tenant"
    assert entry["details"] == {"roles": 2, "grants": 3, "memberships": 3}
    assert entry["success"] is True


@pytest.mark.parametrize("method", ["post", "get"])
async def test_a_check_scope_token_is_refused(
    app: FastAPI, api: httpx.AsyncClient, method: str
) -> None:
    token = (await api.post("/api/token", json={"scope": "check"})).json()["access_token"]
    async with tenant_client(app) as http:
        headers = {"Authorization": f"Bearer {token}"} | NDJSON
        response = await http.request(
            method.upper(), "/api/bulk", content=ndjson(SEED), headers=headers
        )
    assert_problem(response, 403)
    assert (await api.get("/api/roles")).json() == {"result": []}


async def test_an_admin_token_may_import_and_export(app: FastAPI, api: httpx.AsyncClient) -> None:
    token = (await api.post("/api/token", json={"scope": "admin"})).json()["access_token"]
    async with tenant_client(app, token) as http:
        assert_wrapped(
            await bulk_import(http, ndjson(SEED)), {"roles": 2, "grants": 3, "memberships": 3}
        )
        assert len(records((await _export(http)).text)) == 8


@pytest.mark.parametrize("content_type", [None, "application/json", "text/plain"])
async def test_only_json_lines_are_accepted(
    api: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = await api.post("/api/bulk", content=ndjson(SEED), headers=headers)
    assert "application/x-ndjson" in assert_problem(response, 415)["detail"]
    assert (await api.get("/api/roles")).json() == {"result": []}


async def test_tenants_never_see_each_other(app: FastAPI, api: httpx.AsyncClient) -> None:
    assert_wrapped(
        await bulk_import(api, ndjson(SEED)), {"roles": 2, "grants": 3, "memberships": 3}
    )
    async with tenant_client(app, str(uuid.uuid4())) as other:
        assert (await other.get("/api/bulk")).text == ""
        refused = await bulk_import(
            other, ndjson([{"type": "grant", "role": "editors", "permission": "x"}])
        )
        assert assert_problem(refused, 400)["line"] == 1
