"""Tamper evidence: verification finds every kind of edit to the audit trail.

On a database of its own, each test writes a five-row chain for a new tenant,
tampers with it in SQL (edit a field, delete a middle row, swap two rows' ``seq``,
delete the newest row, delete the chain's head) and checks that verification names the first broken row
(chain, seq, row id). It then puts the rows back and the chain verifies again, so
the whole trail stays intact for ``auth-server audit verify`` (a real process).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI

from app.audit.admin import verify_trail
from app.models import AuditHead, AuditLog
from tests.api.helpers import assert_bare
from tests.databases import DIRECT_ACCESS
from tests.protection.helpers import (
    PrivateDatabase,
    audit_rows,
    execute,
    http_client,
    running,
    state,
    tenant_of,
)

pytestmark = pytest.mark.stored_data

WRITES = (
    "/api/role/alpha",
    "/api/role/beta",
    "/api/permission/alpha/publish",
    "/api/membership/ann/alpha",
    "/api/role/gamma",
)


@pytest.fixture(scope="module")
async def trail_app(module_database: PrivateDatabase) -> AsyncIterator[FastAPI]:
    async with running(module_database.settings()) as app:
        yield app


async def _chain(app: FastAPI) -> tuple[int, list[dict[str, Any]]]:
    """A new tenant with five audit rows (seq 1..5)."""
    async with http_client(app, str(uuid.uuid4())) as api:
        for path in WRITES:
            assert_bare(await api.post(path), True)
        tenant = await tenant_of(app, api)
    rows = await audit_rows(app, tenant)
    assert [row["seq"] for row in rows] == [1, 2, 3, 4, 5]
    return tenant, rows


async def _breaks(database: PrivateDatabase, tenant: int) -> list[str]:
    return [str(problem) for problem in await verify_trail(database.settings(), tenant)]


async def _saved(app: FastAPI, row_id: int) -> dict[str, Any]:
    async with state(app).database.transaction(write=False, every_tenant=DIRECT_ACCESS) as session:
        row = await session.get(AuditLog, row_id)
        assert row is not None
        return {column.key: getattr(row, column.key) for column in AuditLog.__table__.columns}


async def _put_back(app: FastAPI, values: dict[str, Any]) -> None:
    async with state(app).database.transaction(every_tenant=DIRECT_ACCESS) as session:
        session.add(AuditLog(**values))


@pytest.mark.parametrize(
    ("column", "forged"),
    [
        ("resource", "alpha:read"),
        ("details", '{"forged":true}'),
        ("action", "DELETE_ROLE"),
        ("success", False),
    ],
)
async def test_edited_row(
    trail_app: FastAPI, module_database: PrivateDatabase, column: str, forged: object
) -> None:
    tenant, rows = await _chain(trail_app)
    row = rows[2]
    update = f"UPDATE audit_log SET {column} = :value WHERE id = :id"  # noqa: S608
    await execute(trail_app, update, value=forged, id=row["id"])
    assert await _breaks(module_database, tenant) == [
        f"chain {tenant}, seq 3 (row id {row['id']}): row altered"
    ]
    await execute(trail_app, update, value=row[column], id=row["id"])
    assert await _breaks(module_database, tenant) == []


async def test_deleted_middle_row(trail_app: FastAPI, module_database: PrivateDatabase) -> None:
    tenant, rows = await _chain(trail_app)
    saved = await _saved(trail_app, rows[2]["id"])
    await execute(trail_app, "DELETE FROM audit_log WHERE id = :id", id=rows[2]["id"])
    assert await _breaks(module_database, tenant) == [
        f"chain {tenant}, seq 3 (row id {rows[3]['id']}): row(s) 3..3 removed"
    ]
    await _put_back(trail_app, saved)
    assert await _breaks(module_database, tenant) == []


async def _swap_seq(app: FastAPI, first: dict[str, Any], second: dict[str, Any]) -> None:
    """Give each row the other's ``seq`` (through -1: ``(chain_id, seq)`` is unique)."""
    move = "UPDATE audit_log SET seq = :seq WHERE id = :id"
    await execute(app, move, seq=-1, id=first["id"])
    await execute(app, move, seq=first["seq"], id=second["id"])
    await execute(app, move, seq=second["seq"], id=first["id"])


async def test_reordered_rows(trail_app: FastAPI, module_database: PrivateDatabase) -> None:
    tenant, rows = await _chain(trail_app)
    await _swap_seq(trail_app, rows[1], rows[2])
    assert await _breaks(module_database, tenant) == [
        f"chain {tenant}, seq 2 (row id {rows[2]['id']}): row reordered or predecessor replaced"
    ]
    await _swap_seq(trail_app, rows[1] | {"seq": 3}, rows[2] | {"seq": 2})
    assert await _breaks(module_database, tenant) == []


async def test_deleted_newest_row(trail_app: FastAPI, module_database: PrivateDatabase) -> None:
    tenant, rows = await _chain(trail_app)
    saved = await _saved(trail_app, rows[4]["id"])
    await execute(trail_app, "DELETE FROM audit_log WHERE id = :id", id=rows[4]["id"])
    assert await _breaks(module_database, tenant) == [
        f"chain {tenant}, seq 5: newest row(s) removed"
    ]
    await _put_back(trail_app, saved)
    assert await _breaks(module_database, tenant) == []


async def test_deleted_chain_head(trail_app: FastAPI, module_database: PrivateDatabase) -> None:
    tenant, _rows = await _chain(trail_app)
    other, _other_rows = await _chain(trail_app)
    async with state(trail_app).database.transaction(
        write=False, every_tenant=DIRECT_ACCESS
    ) as session:
        head = await session.get(AuditHead, tenant)
        assert head is not None
        saved = {column.key: getattr(head, column.key) for column in AuditHead.__table__.columns}
    await execute(trail_app, "DELETE FROM audit_heads WHERE chain_id = :c", c=tenant)
    assert await _breaks(module_database, tenant) == [f"chain {tenant}: rows without a chain head"]
    assert await _breaks(module_database, other) == []
    async with state(trail_app).database.transaction(every_tenant=DIRECT_ACCESS) as session:
        session.add(AuditHead(**saved))
    assert await _breaks(module_database, tenant) == []


async def test_verify_command(trail_app: FastAPI, module_database: PrivateDatabase) -> None:
    tenant, rows = await _chain(trail_app)
    intact = module_database.cli("audit", "verify")
    assert (intact.returncode, intact.stdout) == (0, "audit trail intact\n"), intact.stderr

    update = "UPDATE audit_log SET resource = :value WHERE id = :id"
    await execute(trail_app, update, value="alpha:read", id=rows[2]["id"])
    broken = await module_database.cli_in_process("audit", "verify", "--tenant", str(tenant))
    assert broken.returncode == 1
    assert broken.stderr == (
        f"audit trail broken at chain {tenant}, seq 3 (row id {rows[2]['id']}): row altered\n"
    )
    await execute(trail_app, update, value=rows[2]["resource"], id=rows[2]["id"])
    restored = await module_database.cli_in_process("audit", "verify")
    assert (restored.returncode, restored.stdout) == (0, "audit trail intact\n")
