"""Every audited change writes exactly one row: action, entity type, resource, success.

``success`` says whether the call took effect (a grant to a missing role, removing a
membership that does not exist, deleting a deleted role: ``false``), not that it
answered 200. Users appear only as their fingerprint.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from tests.api.helpers import assert_bare
from tests.protection.helpers import AuditWatch, details, fingerprint, tenant_of

pytestmark = pytest.mark.stored_data

ALICE = "alice@example.com"


async def test_role_grant_and_membership_events(app: FastAPI, api: httpx.AsyncClient) -> None:
    tenant = await tenant_of(app, api)
    watch = AuditWatch(app, tenant)
    alice = fingerprint(tenant, ALICE)
    steps = [
        ("POST", "/api/role/editors", True, ("CREATE_ROLE", "role", "editors", True, None)),
        ("POST", "/api/role/editors", True, ("CREATE_ROLE", "role", "editors", True, None)),
        (
            "POST",
            "/api/permission/editors/publish",
            True,
            ("ADD_PERMISSION", "permission", "editors:publish", True, None),
        ),
        (
            "POST",
            "/api/permission/ghost/publish",
            False,
            ("ADD_PERMISSION", "permission", "ghost:publish", False, None),
        ),
        (
            "POST",
            f"/api/membership/{ALICE}/editors",
            True,
            ("ADD_MEMBERSHIP", "membership", "editors", True, alice),
        ),
        (
            "POST",
            f"/api/membership/{ALICE}/ghost",
            False,
            ("ADD_MEMBERSHIP", "membership", "ghost", False, alice),
        ),
        (
            "DELETE",
            f"/api/membership/{ALICE}/editors",
            True,
            ("REMOVE_MEMBERSHIP", "membership", "editors", True, alice),
        ),
        (
            "DELETE",
            f"/api/membership/{ALICE}/editors",
            True,
            ("REMOVE_MEMBERSHIP", "membership", "editors", False, alice),
        ),
        (
            "DELETE",
            "/api/permission/editors/publish",
            True,
            ("REMOVE_PERMISSION", "permission", "editors:publish", True, None),
        ),
        (
            "DELETE",
            "/api/permission/editors/publish",
            True,
            ("REMOVE_PERMISSION", "permission", "editors:publish", False, None),
        ),
    ]
    for method, path, result, expected in steps:
        assert_bare(await api.request(method, path), result)
        assert await watch.events() == [expected], f"{method} {path}"

    for deleted in (True, False):
        response = await api.delete("/api/role/editors")
        assert response.json()["data"] == {"result": deleted}
        assert await watch.events() == [("DELETE_ROLE", "role", "editors", deleted, None)]

    assert_bare(await api.post("/api/role/writers", json={"description": "Staff writers"}), True)
    rows = await watch.new()
    assert [details(row) for row in rows] == [{"created": True, "description_set": True}]


async def test_api_key_events(app: FastAPI, api: httpx.AsyncClient) -> None:
    tenant = await tenant_of(app, api)
    watch = AuditWatch(app, tenant)
    alice = fingerprint(tenant, ALICE)
    created = (await api.post(f"/api/apikeys/user/{ALICE}", json={"label": "cli"})).json()["data"]
    key_id = created["key_id"]
    rows = await watch.new()
    assert [(row["action"], row["resource"], row["user_fingerprint"]) for row in rows] == [
        ("CREATE_API_KEY", key_id, alice)
    ]
    assert details(rows[0]) == {"prefix": created["key_prefix"]}

    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    updated = await api.patch(f"/api/apikeys/user/{ALICE}/{key_id}", json={"expires_at": expires})
    assert updated.status_code == 200, updated.text
    assert await watch.events() == [("UPDATE_API_KEY", "api_key", key_id, True, alice)]

    for already in (False, True):
        revoked = await api.delete(f"/api/apikeys/user/{ALICE}/{key_id}")
        assert revoked.json()["data"] == {"revoked": True, "already_revoked": already}
        assert await watch.events() == [("REVOKE_API_KEY", "api_key", key_id, not already, alice)]

    unknown = "0c8e4b8e-3f1d-4d5a-9b8c-7a6f5e4d3c2b"
    assert (await api.delete(f"/api/apikeys/user/{ALICE}/{unknown}")).status_code == 404
    rows = await watch.new()
    assert [row["action"] for row in rows] == ["REVOKE_API_KEY"]
    assert (rows[0]["resource"], bool(rows[0]["success"])) == (unknown, False)
    assert details(rows[0]) == {
        "status": 404,
        "refused": "not-found",
        "route": "/api/apikeys/user/{user}/{key_id}",
    }


async def test_settings_and_client_key_events(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    tenant = await tenant_of(app, api)
    watch = AuditWatch(app, tenant)
    assert (await api.put("/api/settings", json={"strict_users": True})).status_code == 200
    rows = await watch.new()
    assert [row["action"] for row in rows] == ["UPDATE_SETTINGS"]
    assert (rows[0]["entity_type"], rows[0]["resource"]) == ("settings", "strict_users")
    assert details(rows[0]) == {"strict_users": True, "previous": None}

    rotate_key = (await api.post("/api/keys/get_rotate_key")).json()["data"]["rotate_key"]
    assert await watch.events() == [("GET_ROTATE_KEY", "rotate_key", "rotate_key", True, None)]
    rotated = await api.post("/api/keys/rotate")
    assert rotated.status_code == 200, rotated.text
    rows = await watch.new()
    assert [row["action"] for row in rows] == ["ROTATE_KEY"]
    assert (rows[0]["entity_type"], rows[0]["resource"]) == ("client_key", "client_key")
    assert details(rows[0]) == {"key_generation": 2}

    # The rotation retired the rotate key; the new key fetches a fresh one.
    assert (
        await client.post("/api/keys/recover", json={"rotate_key": rotate_key})
    ).status_code == 401
    await watch.new()
    new_key = rotated.json()["data"]["new_key"]
    fresh = await client.post(
        "/api/keys/get_rotate_key", headers={"Authorization": f"Bearer {new_key}"}
    )
    rotate_key = fresh.json()["data"]["rotate_key"]
    assert await watch.events() == [("GET_ROTATE_KEY", "rotate_key", "rotate_key", True, None)]
    recovered = await client.post("/api/keys/recover", json={"rotate_key": rotate_key})
    assert recovered.status_code == 200, recovered.text
    rows = await watch.new()
    assert [(row["action"], row["entity_type"]) for row in rows] == [("RECOVER_KEY", "client_key")]
    assert details(rows[0]) == {"key_generation": 3, "chosen_key": False}

    assert (await api.get("/api/roles")).status_code == 401
    rows = await watch.new()
    assert [(row["action"], row["entity_type"], row["resource"]) for row in rows] == [
        ("AUTHENTICATION_FAILED", "credential", None)
    ]
    assert bool(rows[0]["success"]) is False
    assert details(rows[0]) == {"reason": "rotated_key", "status": 401, "route": "/api/roles"}
