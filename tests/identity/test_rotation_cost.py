"""Client-key rotation is O(1): it writes the tenant row, one retired-key row and its
audit row, whatever the tenant owns; no role, grant, membership or key row moves."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.api.helpers import statements

DATA_TABLES = ("roles", "grants", "memberships", "api_keys")


async def test_rotation_touches_no_tenant_data(app: FastAPI, api: httpx.AsyncClient) -> None:
    for index in range(20):
        assert (await api.post(f"/api/role/r{index}")).status_code == 200
        assert (await api.post(f"/api/permission/r{index}/p")).status_code == 200
        assert (await api.post(f"/api/membership/user{index}/r{index}")).status_code == 200
    assert (await api.post("/api/apikeys/user/user0")).status_code == 200

    with statements(app) as seen:
        rotated = await api.post("/api/keys/rotate")
    assert rotated.status_code == 200
    assert rotated.json()["data"]["migrated"]["memberships"] == 20
    writes = [sql for sql in seen if sql.upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    tables = [_table(sql) for sql in writes]
    assert set(tables) <= {"retired_client_keys", "tenants", "audit_heads", "audit_log"}, writes
    assert tables.count("tenants") == 1
    assert tables.count("retired_client_keys") == 1
    assert not set(tables) & set(DATA_TABLES)


def _table(sql: str) -> str:
    words = sql.split()
    return words[2] if words[0].upper() in {"INSERT", "DELETE"} else words[1]
