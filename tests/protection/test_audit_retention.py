"""Retention and export of the audit trail (``auth-server audit prune|export``).

Pruning removes exactly the rows older than the cutoff and moves the chain's base,
so what remains still verifies and new rows keep chaining. Export writes one JSON
object per row, oldest first, with no secret or raw user id in it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import update

from app.audit.admin import verify_trail
from app.models import AuditLog
from tests.api.helpers import assert_bare
from tests.databases import DIRECT_ACCESS
from tests.protection.helpers import (
    PrivateDatabase,
    audit_rows,
    audit_total,
    fetch,
    http_client,
    leaked,
    running,
    state,
    tenant_of,
)
from tests.protection.test_audit_api import ENTRY_FIELDS

USER = "erin.hale@example.com"


@pytest.fixture(scope="module")
async def trail_app(module_database: PrivateDatabase) -> AsyncIterator[FastAPI]:
    async with running(module_database.settings()) as app:
        yield app


async def _tenant_with_history(app: FastAPI, client_key: str) -> int:
    async with http_client(app, client_key) as api:
        for path in ("/api/role/ops", "/api/role/dev", "/api/permission/ops/deploy"):
            assert_bare(await api.post(path), True)
        assert_bare(await api.post(f"/api/membership/{USER}/ops"), True)
        assert (await api.delete("/api/role/dev")).status_code == 200
        assert_bare(await api.post("/api/permission/ops/restart"), True)
        return await tenant_of(app, api)


async def test_prune(trail_app: FastAPI, module_database: PrivateDatabase) -> None:
    client_key = str(uuid.uuid4())
    tenant = await _tenant_with_history(trail_app, client_key)
    recent = await _tenant_with_history(trail_app, str(uuid.uuid4()))
    rows = await audit_rows(trail_app, tenant)
    assert [row["seq"] for row in rows] == [1, 2, 3, 4, 5, 6]
    async with state(trail_app).database.transaction(every_tenant=DIRECT_ACCESS) as session:
        await session.execute(
            update(AuditLog)
            .where(AuditLog.chain_id == tenant, AuditLog.seq <= 4)
            .values(created_at=datetime.now(UTC) - timedelta(days=40))
        )

    refused = await module_database.cli_in_process("audit", "prune", "--older-than-days", "0")
    assert (refused.returncode, refused.stderr) == (
        2,
        "auth-server: --older-than-days must be at least 1\n",
    )
    pruned = await module_database.cli_in_process("audit", "prune", "--older-than-days", "30")
    assert (pruned.returncode, pruned.stdout) == (0, "pruned 4 audit rows from 1 chain(s)\n")

    assert [row["id"] for row in await audit_rows(trail_app, tenant)] == [
        row["id"] for row in rows[4:]
    ]
    assert len(await audit_rows(trail_app, recent)) == 6
    heads = await fetch(trail_app, "SELECT * FROM audit_heads WHERE chain_id = :c", c=tenant)
    assert (heads[0]["base_seq"], heads[0]["base_hash"]) == (4, rows[3]["row_hash"])
    settings = module_database.settings()
    assert await verify_trail(settings) == []

    async with http_client(trail_app, client_key) as api:
        assert_bare(await api.post("/api/role/qa"), True)
    assert [row["seq"] for row in await audit_rows(trail_app, tenant)] == [5, 6, 7]
    again = await module_database.cli_in_process("audit", "prune", "--older-than-days", "30")
    assert again.stdout == "pruned 0 audit rows from 0 chain(s)\n"
    assert await verify_trail(settings) == []


async def test_export(
    trail_app: FastAPI,
    module_database: PrivateDatabase,
    tmp_path: Path,
) -> None:
    client_key = str(uuid.uuid4())
    tenant = await _tenant_with_history(trail_app, client_key)
    async with http_client(trail_app, client_key) as api:
        created = (await api.post(f"/api/apikeys/user/{USER}", json={"label": "pager"})).json()
        tokens = (await api.post("/api/token")).json()
    secrets = [client_key, created["data"]["api_key"], *tokens.values(), USER]
    secrets = [value for value in secrets if isinstance(value, str) and len(value) > 8]

    output = tmp_path / "audit.jsonl"
    exported = await module_database.cli_in_process("audit", "export", "--output", str(output))
    total = await audit_total(trail_app)
    assert (exported.returncode, exported.stderr) == (0, f"exported {total} audit rows\n")
    entries: list[dict[str, Any]] = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(entries) == total
    assert all(set(entry) == ENTRY_FIELDS | {"tenant", "seq", "request_id"} for entry in entries)
    order = [(entry["tenant"], entry["seq"]) for entry in entries]
    assert order == sorted(order)
    mine = [entry for entry in entries if entry["tenant"] == tenant]
    assert [entry["action"] for entry in mine] == [
        "CREATE_ROLE",
        "CREATE_ROLE",
        "ADD_PERMISSION",
        "ADD_MEMBERSHIP",
        "DELETE_ROLE",
        "ADD_PERMISSION",
        "CREATE_API_KEY",
        "TOKEN_ISSUE",
    ]
    assert leaked(entries, secrets) == set()

    cutoff = mine[4]["timestamp"]
    for since, expected in (
        (cutoff, 4),
        (cutoff.removesuffix("Z"), 4),
        ("2000-01-01", 8),
        (cutoff.replace("Z", "+01:00"), 8),
    ):
        recent = await module_database.cli_in_process("audit", "export", "--since", since)
        lines = [json.loads(line) for line in recent.stdout.splitlines()]
        assert len([entry for entry in lines if entry["tenant"] == tenant]) == expected, since
