"""Removals at the ends of the audit chain, and anchoring outside the database.

On a database of its own (both backends), each test builds a tenant's chain through
the API, then removes rows at an end in SQL the way someone with database access
would cover their tracks, and checks that verification reports it:

* the newest rows deleted and the head reset to the last remaining row;
* the oldest rows deleted and the base moved past them;
* the whole chain (rows and head) deleted;
* a head MAC forged; a head whose MAC was cleared;
* the newest rows deleted and the head restored, with its genuine MAC, to a state it
  once had (a replay the head MAC cannot tell): caught by ``verify --since-head``
  against an ``audit head`` document taken before.

A clean chain, a tenant with no history and a pruned chain still verify. Tests that
break a chain repair it, so whole-trail commands stay meaningful in this module.
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

from app.audit.admin import verify_trail
from app.models import AuditHead, AuditLog
from tests.api.helpers import assert_bare
from tests.databases import DIRECT_ACCESS
from tests.protection.helpers import (
    PrivateDatabase,
    audit_rows,
    execute,
    fetch,
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
FORGED = "chain head or base altered (head MAC mismatch)"
UNSIGNED = (
    "chain head not signed (written before revision 0005): "
    "sign it once with `auth-server audit verify --sign`"
)


@pytest.fixture(scope="module")
async def trail_app(module_database: PrivateDatabase) -> AsyncIterator[FastAPI]:
    async with running(module_database.settings()) as app:
        yield app


async def _chain(app: FastAPI, writes: tuple[str, ...] = WRITES) -> tuple[int, str]:
    """A new tenant whose chain has one row per write (seq 1..n); (tenant, client key)."""
    client_key = str(uuid.uuid4())
    async with http_client(app, client_key) as api:
        for path in writes:
            assert_bare(await api.post(path), True)
        tenant = await tenant_of(app, api)
    assert [row["seq"] for row in await audit_rows(app, tenant)] == list(range(1, len(writes) + 1))
    return tenant, client_key


async def _breaks(database: PrivateDatabase, tenant: int | None = None) -> list[str]:
    return [str(problem) for problem in await verify_trail(database.settings(), tenant)]


async def _head(app: FastAPI, tenant: int) -> dict[str, Any]:
    [head] = await fetch(app, "SELECT * FROM audit_heads WHERE chain_id = :c", c=tenant)
    return head


async def _set_head(app: FastAPI, values: dict[str, Any]) -> None:
    await execute(
        app,
        "UPDATE audit_heads SET seq = :seq, head_hash = :head_hash, base_seq = :base_seq, "
        "base_hash = :base_hash, head_mac = :head_mac WHERE chain_id = :chain_id",
        **values,
    )


async def _saved_rows(app: FastAPI, tenant: int, condition: str) -> list[dict[str, Any]]:
    """Rows of the chain, as ORM values that :func:`_put_back` can insert again."""
    sql = f"SELECT id FROM audit_log WHERE chain_id = :c AND {condition} ORDER BY seq"  # noqa: S608
    ids = [row["id"] for row in await fetch(app, sql, c=tenant)]
    columns = AuditLog.__table__.columns
    async with state(app).database.transaction(write=False, every_tenant=DIRECT_ACCESS) as session:
        rows = [await session.get(AuditLog, row_id) for row_id in ids]
        return [{column.key: getattr(row, column.key) for column in columns} for row in rows]


async def _delete_rows(app: FastAPI, tenant: int, condition: str) -> None:
    await execute(app, f"DELETE FROM audit_log WHERE chain_id = :c AND {condition}", c=tenant)  # noqa: S608


async def _put_back(app: FastAPI, rows: list[dict[str, Any]]) -> None:
    async with state(app).database.transaction(every_tenant=DIRECT_ACCESS) as session:
        session.add_all(AuditLog(**row) for row in rows)


async def test_clean_chains_verify(trail_app: FastAPI, module_database: PrivateDatabase) -> None:
    tenant, _key = await _chain(trail_app)
    head = await _head(trail_app, tenant)
    assert head["seq"] == 5
    assert head["head_mac"] is not None
    assert await _breaks(module_database, tenant) == []
    # A tenant with no audited event (registered by a read) has its signed, empty head.
    async with http_client(trail_app, str(uuid.uuid4())) as api:
        quiet = await tenant_of(trail_app, api)
    assert (await _head(trail_app, quiet))["seq"] == 0
    assert await _breaks(module_database, quiet) == []


async def test_newest_rows_removed_and_head_reset(
    trail_app: FastAPI, module_database: PrivateDatabase
) -> None:
    tenant, _key = await _chain(trail_app)
    head = await _head(trail_app, tenant)
    newest = await _saved_rows(trail_app, tenant, "seq > 3")
    await _delete_rows(trail_app, tenant, "seq > 3")
    third = (await _saved_rows(trail_app, tenant, "seq = 3"))[0]
    await _set_head(trail_app, head | {"seq": 3, "head_hash": third["row_hash"]})
    assert await _breaks(module_database, tenant) == [f"chain {tenant}: {FORGED}"]
    await _put_back(trail_app, newest)
    await _set_head(trail_app, head)
    assert await _breaks(module_database, tenant) == []


async def test_oldest_rows_removed_and_base_moved(
    trail_app: FastAPI, module_database: PrivateDatabase
) -> None:
    tenant, _key = await _chain(trail_app)
    head = await _head(trail_app, tenant)
    oldest = await _saved_rows(trail_app, tenant, "seq <= 2")
    await _delete_rows(trail_app, tenant, "seq <= 2")
    await _set_head(trail_app, head | {"base_seq": 2, "base_hash": oldest[-1]["row_hash"]})
    assert await _breaks(module_database, tenant) == [f"chain {tenant}: {FORGED}"]
    await _put_back(trail_app, oldest)
    await _set_head(trail_app, head)
    assert await _breaks(module_database, tenant) == []


async def test_whole_chain_deleted(trail_app: FastAPI, module_database: PrivateDatabase) -> None:
    tenant, _key = await _chain(trail_app)
    other, _other_key = await _chain(trail_app)
    head = await _head(trail_app, tenant)
    rows = await _saved_rows(trail_app, tenant, "seq > 0")
    await _delete_rows(trail_app, tenant, "seq > 0")
    await execute(trail_app, "DELETE FROM audit_heads WHERE chain_id = :c", c=tenant)
    missing = f"chain {tenant}: tenant has no audit chain head (its chain was deleted)"
    assert await _breaks(module_database, tenant) == [missing]
    assert missing in await _breaks(module_database)
    assert await _breaks(module_database, other) == []
    async with state(trail_app).database.transaction(every_tenant=DIRECT_ACCESS) as session:
        session.add(AuditHead(**head))
    await _put_back(trail_app, rows)
    assert await _breaks(module_database, tenant) == []


@pytest.mark.parametrize("mac", ["0" * 64, "f" * 64])
async def test_forged_head_mac(
    trail_app: FastAPI, module_database: PrivateDatabase, mac: str
) -> None:
    tenant, client_key = await _chain(trail_app)
    head = await _head(trail_app, tenant)
    await _set_head(trail_app, head | {"head_mac": mac})
    assert await _breaks(module_database, tenant) == [f"chain {tenant}: {FORGED}"]
    # A later write must not re-sign (launder) the altered head.
    async with http_client(trail_app, client_key) as api:
        assert_bare(await api.post("/api/role/delta"), True)
    assert await _breaks(module_database, tenant) == [f"chain {tenant}: {FORGED}"]
    await _delete_rows(trail_app, tenant, "seq = 6")
    await _set_head(trail_app, head)
    assert await _breaks(module_database, tenant) == []


async def test_unsigned_head_is_reported_until_signed(
    trail_app: FastAPI, module_database: PrivateDatabase
) -> None:
    """A head without MAC (as revision 0005 leaves existing heads) is a break that
    writes never sign; ``verify --sign`` signs it once its rows verify."""
    tenant, client_key = await _chain(trail_app)
    await execute(trail_app, "UPDATE audit_heads SET head_mac = NULL WHERE chain_id = :c", c=tenant)
    assert await _breaks(module_database, tenant) == [f"chain {tenant}: {UNSIGNED}"]
    async with http_client(trail_app, client_key) as api:
        assert_bare(await api.post("/api/role/delta"), True)
    assert (await _head(trail_app, tenant))["head_mac"] is None

    intact = await module_database.cli_in_process("audit", "verify")
    assert intact.returncode == 1
    assert f"audit trail broken at chain {tenant}: {UNSIGNED}\n" in intact.stderr
    signed = await module_database.cli_in_process("audit", "verify", "--sign")
    assert (signed.returncode, signed.stdout) == (
        0,
        f"signed the head of chain {tenant} (seq 6)\naudit trail intact\n",
    ), signed.stderr
    assert await _breaks(module_database, tenant) == []


async def test_unsigned_head_with_broken_rows_is_not_signed(
    trail_app: FastAPI, module_database: PrivateDatabase
) -> None:
    tenant, _key = await _chain(trail_app)
    head = await _head(trail_app, tenant)
    newest = await _saved_rows(trail_app, tenant, "seq = 5")
    await _delete_rows(trail_app, tenant, "seq = 5")
    await _set_head(trail_app, head | {"head_mac": None})
    refused = await module_database.cli_in_process("audit", "verify", "--sign")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == f"audit trail broken at chain {tenant}, seq 5: newest row(s) removed\n"
    assert (await _head(trail_app, tenant))["head_mac"] is None
    await _put_back(trail_app, newest)
    await _set_head(trail_app, head)
    assert await _breaks(module_database, tenant) == []


async def test_head_document_catches_truncation_after_it(
    trail_app: FastAPI,
    module_database: PrivateDatabase,
    tmp_path: Path,
) -> None:
    """The head MAC cannot tell a replayed older head; the operator's document can."""
    tenant, client_key = await _chain(trail_app, WRITES[:3])
    replayable = await _head(trail_app, tenant)  # seen by someone with database access
    async with http_client(trail_app, client_key) as api:
        for path in WRITES[3:]:
            assert_bare(await api.post(path), True)

    taken = module_database.cli("audit", "head")  # a real process
    assert taken.returncode == 0, taken.stderr
    document = json.loads(taken.stdout)
    [mine] = [chain for chain in document["chains"] if chain["chain_id"] == tenant]
    fifth = (await _saved_rows(trail_app, tenant, "seq = 5"))[0]
    assert (mine["seq"], mine["hash"]) == (5, fifth["row_hash"])
    assert datetime.fromisoformat(mine["time"].replace("Z", "+00:00")) <= datetime.now(UTC)
    assert set(document) == {"format", "created_at", "chains", "signature"}
    anchor = tmp_path / "head.json"
    anchor.write_text(taken.stdout, encoding="utf-8")
    since = ("audit", "verify", "--since-head", str(anchor))
    clean = await module_database.cli_in_process(*since)
    assert (clean.returncode, clean.stdout) == (0, "audit trail intact\n"), clean.stderr

    # Later writes are fine; truncating back past the document is not.
    async with http_client(trail_app, client_key) as api:
        assert_bare(await api.post("/api/role/delta"), True)
    assert (await module_database.cli_in_process(*since)).returncode == 0
    newest = await _saved_rows(trail_app, tenant, "seq > 3")
    await _delete_rows(trail_app, tenant, "seq > 3")
    await _set_head(trail_app, replayable)
    assert await _breaks(module_database, tenant) == []  # the replay fools the MAC alone
    caught = await module_database.cli_in_process(*since)
    assert caught.returncode == 1
    assert caught.stderr == (
        f"audit trail broken at chain {tenant}, seq 5: "
        "chain truncated since the head document (head now at seq 3)\n"
    )
    await _put_back(trail_app, newest)
    await _set_head(trail_app, (await _head(trail_app, tenant)) | _head_at(newest[-1]))
    restored = await module_database.cli_in_process(*since)
    assert restored.returncode == 1  # the restored head has no genuine MAC
    assert FORGED in restored.stderr
    await execute(trail_app, "UPDATE audit_heads SET head_mac = NULL WHERE chain_id = :c", c=tenant)
    resigned = await module_database.cli_in_process(*since, "--sign")
    assert resigned.returncode == 0, resigned.stderr

    # Deleting the chain whole is caught too, even with the tenant row gone.
    head = await _head(trail_app, tenant)
    rows = await _saved_rows(trail_app, tenant, "seq > 0")
    await _delete_rows(trail_app, tenant, "seq > 0")
    await execute(trail_app, "DELETE FROM audit_heads WHERE chain_id = :c", c=tenant)
    gone = await module_database.cli_in_process(*since, "--tenant", str(tenant))
    assert gone.returncode == 1
    assert f"chain {tenant}, seq 5: chain deleted since the head document\n" in gone.stderr
    async with state(trail_app).database.transaction(every_tenant=DIRECT_ACCESS) as session:
        session.add(AuditHead(**head))
    await _put_back(trail_app, rows)
    assert (await module_database.cli_in_process(*since)).returncode == 0


def _head_at(row: dict[str, Any]) -> dict[str, Any]:
    return {"seq": row["seq"], "head_hash": row["row_hash"], "head_mac": "0" * 64}


async def test_altered_head_document_is_refused(
    trail_app: FastAPI,
    module_database: PrivateDatabase,
    tmp_path: Path,
) -> None:
    await _chain(trail_app)
    taken = await module_database.cli_in_process("audit", "head")
    assert taken.returncode == 0, taken.stderr
    document = json.loads(taken.stdout)
    document["chains"][0]["seq"] = 1  # make an older state look anchored
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps(document), encoding="utf-8")
    refused = await module_database.cli_in_process("audit", "verify", "--since-head", str(altered))
    assert (refused.returncode, refused.stdout) == (2, "")
    assert "signature does not verify" in refused.stderr
    (tmp_path / "junk.json").write_text("[1, 2]", encoding="utf-8")
    junk = await module_database.cli_in_process(
        "audit", "verify", "--since-head", str(tmp_path / "junk.json")
    )
    assert (junk.returncode, junk.stderr) == (
        2,
        "auth-server: not an audit head document (auth-audit-head/v1)\n",
    )
    missing = await module_database.cli_in_process(
        "audit", "verify", "--since-head", str(tmp_path / "absent.json")
    )
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr


async def test_no_head_document_for_a_broken_trail(
    trail_app: FastAPI, module_database: PrivateDatabase
) -> None:
    tenant, _key = await _chain(trail_app)
    head = await _head(trail_app, tenant)
    await _set_head(trail_app, head | {"head_mac": "1" * 64})
    refused = await module_database.cli_in_process("audit", "head")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr.endswith("auth-server: no head document for a broken trail\n")
    await _set_head(trail_app, head)


async def test_prune_keeps_heads_signed_and_anchors_valid(
    trail_app: FastAPI,
    module_database: PrivateDatabase,
    tmp_path: Path,
) -> None:
    tenant, _key = await _chain(trail_app)
    taken = await module_database.cli_in_process("audit", "head")
    anchor = tmp_path / "head.json"
    anchor.write_text(taken.stdout, encoding="utf-8")
    await execute(
        trail_app,
        "UPDATE audit_log SET created_at = :old WHERE chain_id = :c",
        old=datetime.now(UTC) - timedelta(days=40),
        c=tenant,
    )
    pruned = await module_database.cli_in_process("audit", "prune", "--older-than-days", "30")
    assert pruned.returncode == 0, pruned.stderr
    head = await _head(trail_app, tenant)
    assert (head["base_seq"], head["seq"]) == (5, 5)
    assert await _breaks(module_database, tenant) == []
    since = await module_database.cli_in_process("audit", "verify", "--since-head", str(anchor))
    assert (since.returncode, since.stdout) == (0, "audit trail intact\n"), since.stderr
