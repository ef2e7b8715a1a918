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
  by :mod:`app.db_url`.
* ``hide_parameters`` keeps bound values (user names, key hashes) out of exception
  text and therefore out of logs.
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

from app.config import Settings
from app.db_url import DatabaseTarget

_IMMEDIATE = "auth_sqlite_immediate"


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
        connect_args=target.connect_args,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        pool_pre_ping=True,
    )


class Database:
    """The engine plus the two session factories the request boundary uses.

    ``reader()`` sessions start plain transactions; ``writer()`` sessions start
    ``BEGIN IMMEDIATE`` on SQLite (no difference on PostgreSQL).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._reader = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._writer = async_sessionmaker(
            engine.execution_options(**{_IMMEDIATE: True}),
            expire_on_commit=False,
            autoflush=False,
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self, *, write: bool) -> AsyncSession:
        """A new session; the caller owns commit/rollback/close."""
        return (self._writer if write else self._reader)()

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error."""
        async with self.session(write=write) as session, session.begin():
            yield session

    async def ping(self) -> None:
        """One real round trip to the database; raises when it is unreachable."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
