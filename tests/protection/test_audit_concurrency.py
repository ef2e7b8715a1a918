"""Concurrent writers of one tenant get one unbroken chain.

Sixty writes of one tenant run at once through the app (on PostgreSQL they really
overlap; each append locks the chain's head row). The chain must hold ``seq``
1..N without gap or duplicate, every row must link to its predecessor, and the
chain must verify.
"""

from __future__ import annotations

import asyncio
from itertools import pairwise

import httpx
import pytest
from fastapi import FastAPI

from app.audit.service import verify
from tests.api.helpers import assert_bare
from tests.protection.helpers import audit_rows, state, tenant_of

pytestmark = pytest.mark.stored_data

WRITES = 60


async def test_concurrent_writes_chain_without_gaps(
    backend: str, protection: str, app: FastAPI, api: httpx.AsyncClient
) -> None:
    if (backend, protection) == ("sqlite", "encrypted"):
        pytest.skip("SQLite serialises writers; the plain variant covers it")
    tenant = await tenant_of(app, api)
    assert_bare(await api.post("/api/role/base"), True)
    responses = await asyncio.gather(
        *(api.post(f"/api/permission/base/perm{index}") for index in range(WRITES))
    )
    assert [response.json() for response in responses] == [{"result": True}] * WRITES

    rows = await audit_rows(app, tenant)
    assert [row["seq"] for row in rows] == list(range(1, WRITES + 2))
    assert all(row["prev_hash"] == before["row_hash"] for before, row in pairwise(rows))
    resources = sorted(row["resource"] for row in rows[1:])
    assert resources == sorted(f"base:perm{index}" for index in range(WRITES))
    assert (
        await verify(state(app).database, state(app).secrets.audit, state(app).cipher, tenant) == []
    )
