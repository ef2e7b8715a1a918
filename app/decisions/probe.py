"""Freshness probes: the stored revision behind a credential, in one point read.

A decision is answered from a snapshot only when the snapshot's revision equals the
revision the probe just read, so an answer never reflects a state older than the last
acknowledged write, whichever process or replica made it. A client key's read also
returns what authenticating it needs (:class:`KeyState`: strict identity, key
generation, disabled), so that a request the snapshot cannot serve needs no second
read of the tenant.

* :class:`SqliteProbe` reads with Python's own ``sqlite3`` module, on the event loop
  thread, from a private connection in autocommit (each statement is its own read
  transaction in WAL mode, so it sees every committed write): a few microseconds,
  never a hand-off to a driver thread. Readers never wait for the writer in WAL mode;
  the busy timeout only bounds the rare wait for a checkpoint's lock.
* :class:`PostgresProbe` reads through a small asyncpg pool of its own; asyncpg
  prepares each statement once per connection.

Both answer ``None`` when nothing matches, and raise on any database error: the caller
then takes the ordinary database path, which answers 503 if the database is down.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from app.db.url import DatabaseTarget

KEY_SQL = (
    "SELECT id, revision, strict_users, key_generation, disabled_at IS NOT NULL "
    "FROM tenants WHERE key_hash = {}"
)
TENANT_SQL = "SELECT revision FROM tenants WHERE id = {}"
FAMILY_SQL = (
    "SELECT t.revision, f.revoked_at IS NOT NULL, f.key_generation, t.key_generation, "
    "t.disabled_at IS NOT NULL, t.strict_users FROM token_families f "
    "JOIN tenants t ON t.id = f.tenant_id WHERE f.id = {} AND f.tenant_id = {}"
)
SQLITE_BUSY_TIMEOUT_MS = 200
POSTGRES_POOL_SIZE = 4


@dataclass(frozen=True, slots=True)
class KeyState:
    """The tenant stored under a client key's hash, as one committed state holds it."""

    tenant_id: int
    revision: int
    strict_users: bool | None
    """The tenant's own setting; ``None``: the server default applies."""
    key_generation: int
    disabled: bool

    @classmethod
    def of_row(cls, row: Any) -> KeyState:
        strict = row[2]
        return cls(
            int(row[0]),
            int(row[1]),
            None if strict is None else bool(strict),
            int(row[3]),
            bool(row[4]),
        )


@dataclass(frozen=True, slots=True)
class FamilyState:
    """A token family and its tenant, as one committed state holds them."""

    revision: int
    revoked: bool
    key_generation: int
    """The family's: the tenant's key generation when the family was issued."""
    tenant_key_generation: int
    disabled: bool
    strict_users: bool | None

    @classmethod
    def of_row(cls, row: Any) -> FamilyState:
        strict = row[5]
        return cls(
            int(row[0]),
            bool(row[1]),
            int(row[2]),
            int(row[3]),
            bool(row[4]),
            None if strict is None else bool(strict),
        )


class RevisionProbe(Protocol):
    async def by_key_hash(self, key_hash: str) -> KeyState | None:
        """The tenant stored under ``key_hash``."""

    async def by_tenant(self, tenant_id: int) -> int | None:
        """The tenant's revision."""

    async def family(self, family_id: str, tenant_id: int) -> FamilyState | None:
        """The tenant's revision and whether the token family was revoked."""

    async def close(self) -> None: ...


class SqliteProbe:
    def __init__(self, path: Path) -> None:
        self._connection = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, cached_statements=16
        )
        self._connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        self._connection.execute("PRAGMA query_only=1")
        self._key = KEY_SQL.format("?")
        self._tenant = TENANT_SQL.format("?")
        self._family = FAMILY_SQL.format("?", "?")

    def _one(self, sql: str, *parameters: Any) -> tuple[Any, ...] | None:
        # fetchall, never fetchone: a statement left unfinished would hold its read
        # transaction open, and every later probe would see that old snapshot.
        rows: list[tuple[Any, ...]] = self._connection.execute(sql, parameters).fetchall()
        return rows[0] if rows else None

    async def by_key_hash(self, key_hash: str) -> KeyState | None:
        row = self._one(self._key, key_hash)
        return None if row is None else KeyState.of_row(row)

    async def by_tenant(self, tenant_id: int) -> int | None:
        row = self._one(self._tenant, tenant_id)
        return None if row is None else int(row[0])

    async def family(self, family_id: str, tenant_id: int) -> FamilyState | None:
        row = self._one(self._family, family_id, tenant_id)
        return None if row is None else FamilyState.of_row(row)

    async def close(self) -> None:
        self._connection.close()


class PostgresProbe:
    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._key = KEY_SQL.format("$1")
        self._tenant = TENANT_SQL.format("$1")
        self._family = FAMILY_SQL.format("$1", "$2")

    @classmethod
    async def connect(
        cls,
        target: DatabaseTarget,
        connect_seconds: float | None,
        statement_seconds: float | None,
    ) -> PostgresProbe:
        import asyncpg

        url = target.url.set(drivername="postgresql").render_as_string(hide_password=False)
        pool = await asyncpg.create_pool(
            url,
            # No floor: asyncpg would log a traceback for every failed attempt to
            # restore one while the database is down (the requests answer 503 anyway).
            min_size=0,
            max_size=POSTGRES_POOL_SIZE,
            timeout=connect_seconds or 60.0,
            command_timeout=statement_seconds,
            **target.connect_args,
        )
        return cls(pool)

    async def by_key_hash(self, key_hash: str) -> KeyState | None:
        row = await self._pool.fetchrow(self._key, key_hash)
        return None if row is None else KeyState.of_row(row)

    async def by_tenant(self, tenant_id: int) -> int | None:
        row = await self._pool.fetchrow(self._tenant, tenant_id)
        return None if row is None else int(row[0])

    async def family(self, family_id: str, tenant_id: int) -> FamilyState | None:
        row = await self._pool.fetchrow(self._family, family_id, tenant_id)
        return None if row is None else FamilyState.of_row(row)

    async def close(self) -> None:
        await self._pool.close()


async def open_probe(
    target: DatabaseTarget,
    *,
    connect_seconds: float | None = None,
    statement_seconds: float | None = None,
) -> RevisionProbe:
    """The probe for ``target``, bounded by the service's database timeouts (``None``:
    unbounded, as ``AUTH_DB_*_TIMEOUT=0`` asks)."""
    if target.is_sqlite:
        database = target.url.database
        if not database or database == ":memory:":
            raise ValueError("the decision snapshots need a SQLite file, not :memory:")
        return SqliteProbe(Path(database))
    return await PostgresProbe.connect(target, connect_seconds, statement_seconds)
