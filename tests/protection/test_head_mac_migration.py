"""Revision 0005 on a database written before it (both backends).

Existing heads keep no MAC (a migration cannot know the audit key) and a tenant
without a head gets an unsigned genesis head. ``audit verify`` reports each as
unsigned until ``audit verify --sign`` signs them (their rows verify); after that the
trail is intact. Downgrading to 0004 drops the column and keeps the data.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.migrations import downgrade, upgrade
from app.db.url import resolve_database_target
from tests.databases import postgresql_database
from tests.protection.helpers import PrivateDatabase

GENESIS = "0" * 64
UNSIGNED = (
    "chain head not signed (written before revision 0005): "
    "sign it once with `auth-server audit verify --sign`"
)


async def _run(url: str, *statements: str) -> list[tuple[object, ...]]:
    target = resolve_database_target(url)
    engine = create_async_engine(target.url, connect_args=target.connect_args)
    try:
        async with engine.begin() as connection:
            result = None
            for statement in statements:
                result = await connection.execute(text(statement))
            return (
                [tuple(row) for row in result] if result is not None and result.returns_rows else []
            )
    finally:
        await engine.dispose()


async def test_upgrade_signs_nothing_and_gives_every_tenant_a_head(
    backend: str, tmp_path: Path
) -> None:
    if backend == "sqlite":
        await _check(f"sqlite:///{tmp_path / 'auth.sqlite3'}", tmp_path)
        return
    async with postgresql_database("auth_head_mac") as url:
        await _check(url, tmp_path)


async def _check(url: str, directory: Path) -> None:
    target = resolve_database_target(url)
    await asyncio.to_thread(upgrade, target, "0004")
    await _run(
        url,
        "INSERT INTO tenants (id, key_hash, created_at, operator_created, key_generation) "
        "VALUES (1, 'hash-of-a-tenant-with-history', CURRENT_TIMESTAMP, false, 0), "
        "(2, 'hash-of-a-tenant-never-audited', CURRENT_TIMESTAMP, false, 0)",
        "INSERT INTO audit_heads (chain_id, seq, head_hash, base_seq, base_hash) "
        "VALUES (1, 0, '" + GENESIS + "', 0, '" + GENESIS + "')",
    )
    await asyncio.to_thread(upgrade, target)
    heads = await _run(url, "SELECT chain_id, seq, head_mac FROM audit_heads ORDER BY chain_id")
    assert heads == [(1, 0, None), (2, 0, None)]

    database = PrivateDatabase(url, directory)
    broken = await database.cli_in_process("audit", "verify")
    assert broken.returncode == 1
    assert broken.stderr.splitlines() == [
        f"audit trail broken at chain {chain}: {UNSIGNED}" for chain in (1, 2)
    ]
    signed = await database.cli_in_process("audit", "verify", "--sign")
    assert (signed.returncode, signed.stdout) == (
        0,
        "signed the head of chain 1 (seq 0)\nsigned the head of chain 2 (seq 0)\n"
        "audit trail intact\n",
    ), signed.stderr

    await asyncio.to_thread(downgrade, target, "0004")
    assert await _run(url, "SELECT chain_id FROM audit_heads ORDER BY chain_id") == [(1,), (2,)]
    await asyncio.to_thread(upgrade, target)
