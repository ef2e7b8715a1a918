"""Engine and session factories.

Invariants:

* One engine per process, built in the application lifespan (never at import).
* SQLite: the file is created with mode 0600 before the first connection; every
  connection runs with ``foreign_keys=ON``, WAL journaling and a busy timeout. Python's
  sqlite3 transaction handling is switched off and SQLAlchemy's ``begin`` event emits
  ``BEGIN`` itself (SQLAlchemy's documented recipe), so that write sessions can start
  with ``BEGIN IMMEDIATE``: a writer takes the write lock up front and waits for it
  (busy timeout) instead of failing with ``SQLITE_BUSY`` when upgrading a read.
* PostgreSQL: asyncpg with a sized pool, ``pool_pre_ping`` and libpq-style SSL mapped
  by :mod:`app.db.url`.
* ``hide_parameters`` keeps bound values (user names, key hashes) out of exception
  text and therefore out of logs.
* Every step is bounded: connecting (``AUTH_DB_CONNECT_TIMEOUT``, asyncpg ``timeout``),
  each statement (``AUTH_DB_STATEMENT_TIMEOUT``: asyncpg ``command_timeout`` on the
  client and ``statement_timeout`` on the server), a pool checkout
  (``AUTH_DB_POOL_TIMEOUT``) and SQLite's lock waits (``AUTH_SQLITE_BUSY_TIMEOUT_MS``).
  A hung database therefore surfaces as an error within seconds, which
  :mod:`app.db.faults` classifies and :mod:`app.errors` answers as 503.
* :attr:`Database.health` follows outages: sessions report committed round trips
  and writes to it, the error handlers report faults.
* Every session is tenant-guarded (:mod:`app.db.tenant_guard`): it reaches one
  tenant's rows once bound to it (``tenant=``, or later by
  :class:`~app.tenants.tenancy.Tenancy`), every tenant's only on a named operator path
  (``every_tenant=``), and refuses tenant-owned statements before either.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction

from app.config import Settings
from app.db.faults import DatabaseHealth
from app.db.tenant_guard import EveryTenant, bind_tenant, guard_sessions, serve_every_tenant
from app.db.url import DatabaseTarget

_IMMEDIATE = "auth_sqlite_immediate"
_HEALTH = "auth_database_health"
_WRITE = "auth_write_session"
_ENGAGED = "auth_engaged"


class TrackedSession(Session):
    """A session that tells :class:`DatabaseHealth` when a transaction that really
    reached the database committed (see the listeners below), and whose statements
    are restricted to its tenancy (:mod:`app.db.tenant_guard`)."""


guard_sessions(TrackedSession)


@event.listens_for(TrackedSession, "after_begin")
def _on_session_begin(session: Session, _transaction: SessionTransaction, _conn: Any) -> None:
    session.info[_ENGAGED] = True


@event.listens_for(TrackedSession, "after_commit")
def _on_session_commit(session: Session) -> None:
    health = session.info.get(_HEALTH)
    if health is None or not session.info.pop(_ENGAGED, False):
        return
    if session.info.get(_WRITE):
        health.record_write()
    else:
        health.record_round_trip()


def ensure_sqlite_file(path: Path) -> None:
    """Create the database file (and its directory) readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)


def use_wal_journal(path: Path) -> None:
    """Put the database file in WAL mode (a persistent property of the file).

    Done once by the migration step, before any service process opens the file:
    processes whose first connections switched the mode concurrently could fail
    with "database is locked" (SQLite answers a lock upgrade that could deadlock
    with SQLITE_BUSY at once, whatever the busy timeout).
    """
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


def _install_sqlite_hooks(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin hook below own BEGIN; the driver must not.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def postgresql_connect_args(settings: Settings, target: DatabaseTarget) -> dict[str, Any]:
    """asyncpg's connect arguments: SSL from the URL plus the configured timeouts.

    A timeout of 0 turns that bound off (for example for operator commands on very
    large tables).
    """
    args: dict[str, Any] = dict(target.connect_args)
    args["timeout"] = settings.db_connect_timeout or None
    if settings.db_statement_timeout:
        args["command_timeout"] = settings.db_statement_timeout
        server_settings = dict(args.get("server_settings") or {})
        server_settings["statement_timeout"] = str(int(settings.db_statement_timeout * 1000))
        args["server_settings"] = server_settings
    return args


def build_engine(settings: Settings, target: DatabaseTarget | None = None) -> AsyncEngine:
    """Create the async engine for ``settings`` (or an explicit ``target``)."""
    target = target or settings.database
    if target.is_sqlite:
        database = target.url.database
        if database and database != ":memory:":
            ensure_sqlite_file(Path(database))
        engine = create_async_engine(
            target.url,
            hide_parameters=True,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
        )
        _install_sqlite_hooks(engine, settings.sqlite_busy_timeout_ms)
        return engine
    return create_async_engine(
        target.url,
        hide_parameters=True,
        connect_args=postgresql_connect_args(settings, target),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        pool_pre_ping=True,
    )


class Database:
    """The engine plus the two session factories the request boundary uses.

    ``reader()`` sessions start plain transactions; ``writer()`` sessions start
    ``BEGIN IMMEDIATE`` on SQLite (no difference on PostgreSQL). ``health`` follows
    outages (:class:`~app.db.faults.DatabaseHealth`).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.health = DatabaseHealth()
        self._reader = async_sessionmaker(
            engine,
            expire_on_commit=False,
            autoflush=False,
            sync_session_class=TrackedSession,
            info={_HEALTH: self.health},
        )
        self._writer = async_sessionmaker(
            engine.execution_options(**{_IMMEDIATE: True}),
            expire_on_commit=False,
            autoflush=False,
            sync_session_class=TrackedSession,
            info={_HEALTH: self.health, _WRITE: True},
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(
        self, *, write: bool, tenant: int | None = None, every_tenant: EveryTenant | None = None
    ) -> AsyncSession:
        """A new session; the caller owns commit/rollback/close. ``tenant`` binds it to
        one tenant, ``every_tenant`` opens it to all on a named operator path; with
        neither it reaches no tenant-owned row until bound (:mod:`app.db.tenant_guard`)."""
        if tenant is not None and every_tenant is not None:
            raise ValueError("a session serves one tenant or every tenant, not both")
        session = (self._writer if write else self._reader)()
        if tenant is not None:
            bind_tenant(session, tenant)
        elif every_tenant is not None:
            serve_every_tenant(session, every_tenant)
        return session

    @asynccontextmanager
    async def transaction(
        self,
        *,
        write: bool = True,
        tenant: int | None = None,
        every_tenant: EveryTenant | None = None,
    ) -> AsyncIterator[AsyncSession]:
        """A session (see :meth:`session`) whose transaction commits on success and
        rolls back on error."""
        session = self.session(write=write, tenant=tenant, every_tenant=every_tenant)
        async with session, session.begin():
            yield session

    async def ping(self) -> None:
        """One real round trip to the database; raises when it is unreachable."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        self.health.record_round_trip()

    async def probe_writes(self) -> None:
        """Commit one tiny real write; raises when the store cannot take it.

        SQLite rewrites its header's ``user_version`` (unused by the schema) with the
        value it holds; PostgreSQL creates and drops a temporary table (catalog rows,
        WAL). Used by ``/health`` only while writes are known to fail.
        """
        async with self.transaction(write=True) as session:
            if self.dialect == "sqlite":
                version = (await session.execute(text("PRAGMA user_version"))).scalar_one()
                await session.execute(text(f"PRAGMA user_version = {int(version)}"))
            else:
                await session.execute(
                    text("CREATE TEMPORARY TABLE auth_write_probe (x int) ON COMMIT DROP")
                )

    async def dispose(self) -> None:
        await self.engine.dispose()
