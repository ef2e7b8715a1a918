"""Encryption at rest: what the database really holds for each protected field.

Rows are read with SQL, past the service. With encryption on, no user id, permission
name, API-key label or role description appears in any column of the tenant's rows,
nor in its audit rows (resources, decision audits included); each is ``enc:v1:`` + a
Fernet token under the configured key. In both modes the
``*_key`` lookup columns are HMACs scoped to the tenant.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI

from app.audit.admin import query_entries
from app.audit.service import verify
from tests.api.helpers import assert_bare, assert_wrapped, tenant_client
from tests.conftest import TEST_FERNET_KEY
from tests.protection.helpers import (
    ENCRYPTED_PREFIX,
    HEX64,
    TENANT_TABLES,
    blind_index,
    fetch,
    http_client,
    leaked,
    state,
    tenant_of,
    tenant_rows,
)

pytestmark = pytest.mark.stored_data

USER = "alice.w@example.com"
PERMISSION = "deploy-prod-7731"
LABEL = "laptop key 42"
DESCRIPTION = "Night shift release managers"
ROLE = "release"
PROTECTED = (USER, PERMISSION, LABEL, DESCRIPTION)


async def _populate(api: httpx.AsyncClient) -> None:
    assert_bare(await api.post(f"/api/role/{ROLE}", json={"description": DESCRIPTION}), True)
    assert_bare(await api.post(f"/api/membership/{USER}/{ROLE}"), True)
    assert_bare(await api.post(f"/api/permission/{ROLE}/{PERMISSION}"), True)
    created = await api.post(f"/api/apikeys/user/{USER}", json={"label": LABEL})
    assert created.status_code == 200, created.text


async def _rows(app: FastAPI, tenant: int) -> dict[str, dict[str, Any]]:
    """The tenant's single row of each table."""
    rows = {table: await tenant_rows(app, table, tenant) for table in TENANT_TABLES}
    assert {table: len(found) for table, found in rows.items()} == dict.fromkeys(TENANT_TABLES, 1)
    return {table: found[0] for table, found in rows.items()}


def _opened(stored: str) -> str:
    assert stored.startswith(ENCRYPTED_PREFIX)
    token = stored.removeprefix(ENCRYPTED_PREFIX).encode()
    return Fernet(TEST_FERNET_KEY).decrypt(token).decode()


async def _answers_in_plaintext(api: httpx.AsyncClient) -> None:
    assert_bare(await api.get("/api/roles"), [{"role": ROLE, "description": DESCRIPTION}])
    assert_bare(await api.get(f"/api/members/{ROLE}"), [{"user": USER, "role": ROLE}])
    assert_wrapped(await api.get(f"/api/role_permissions/{ROLE}"), [{"name": PERMISSION}])
    keys = (await api.get(f"/api/apikeys/user/{USER}")).json()["data"]["keys"]
    assert [key["label"] for key in keys] == [LABEL]


async def test_protected_fields_at_rest(
    protection: str, app: FastAPI, api: httpx.AsyncClient
) -> None:
    await _populate(api)
    tenant = await tenant_of(app, api)
    rows = await _rows(app, tenant)

    assert rows["roles"]["name"] == ROLE
    assert rows["memberships"]["user_key"] == blind_index(tenant, "user", USER)
    assert rows["api_keys"]["user_key"] == blind_index(tenant, "user", USER)
    assert rows["grants"]["permission_key"] == blind_index(tenant, "permission", PERMISSION)
    stored = {
        "description": rows["roles"]["description"],
        "membership user": rows["memberships"]["user_name"],
        "permission": rows["grants"]["permission"],
        "api key user": rows["api_keys"]["user_name"],
        "label": rows["api_keys"]["label"],
    }
    if protection == "encrypted":
        assert leaked(rows.values(), PROTECTED) == set()
        stored = {field: _opened(value) for field, value in stored.items()}
    assert stored == {
        "description": DESCRIPTION,
        "membership user": USER,
        "permission": PERMISSION,
        "api key user": USER,
        "label": LABEL,
    }
    await _answers_in_plaintext(api)


async def test_lookup_keys_differ_between_tenants(
    protection: str, app: FastAPI, api: httpx.AsyncClient
) -> None:
    await _populate(api)
    async with tenant_client(app) as other:
        await _populate(other)
        tenants = [await tenant_of(app, api), await tenant_of(app, other)]
    first, second = [await _rows(app, tenant) for tenant in tenants]

    for table, column in (
        ("memberships", "user_key"),
        ("api_keys", "user_key"),
        ("grants", "permission_key"),
    ):
        assert HEX64.fullmatch(first[table][column])
        assert HEX64.fullmatch(second[table][column])
        assert first[table][column] != second[table][column]
    same_value = protection == "plain"
    assert (first["memberships"]["user_name"] == second["memberships"]["user_name"]) is same_value
    assert (first["grants"]["permission"] == second["grants"]["permission"]) is same_value


async def test_audit_trail_at_rest(protection: str, checks_app: FastAPI, client_key: str) -> None:
    """Audit resources (``role:permission``, decision audits) are sealed like the
    fields they name; the tenant's reads and the operator's query show them opened."""
    async with http_client(checks_app, client_key) as api:
        await _populate(api)
        checked = await api.get(f"/api/has_permission/{USER}/{PERMISSION}")
        assert checked.json()["data"] == {"has_permission": True}
        tenant = await tenant_of(checks_app, api)
        trail = (await api.get("/api/audit", params={"limit": 500})).json()["data"]["entries"]
    rows = await fetch(checks_app, "SELECT * FROM audit_log WHERE chain_id = :c", c=tenant)
    resources = [row["resource"] for row in rows if row["resource"] is not None]
    assert len(resources) == len(rows) == 5
    if protection == "encrypted":
        assert leaked(rows, (*PROTECTED, ROLE)) == set()
        assert all(resource.startswith(ENCRYPTED_PREFIX) for resource in resources)
        resources = [_opened(resource) for resource in resources]
    expected = {
        ("CREATE_ROLE", ROLE),
        ("ADD_MEMBERSHIP", ROLE),
        ("ADD_PERMISSION", f"{ROLE}:{PERMISSION}"),
        ("CHECK_PERMISSION", PERMISSION),
    }
    assert set(resources) >= {resource for _action, resource in expected}
    assert {(entry["action"], entry["resource"]) for entry in trail} >= expected
    operator = await query_entries(state(checks_app).settings, tenant=tenant)
    assert {(entry["action"], entry["resource"]) for entry in operator} >= expected
    breaks = await verify(
        state(checks_app).database,
        state(checks_app).secrets.audit,
        state(checks_app).cipher,
        tenant,
    )
    assert breaks == []
