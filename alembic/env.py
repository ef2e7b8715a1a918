"""Async Alembic environment.

The database comes from ``config.attributes["database_target"]`` when the caller
passes one (tests, ``app.db.migrations``) and otherwise from the service settings, so
``alembic upgrade head`` and ``auth-server migrate`` always agree with the server.
"""

from __future__ import annotations

import asyncio
import logging.config

from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from alembic import context
from app.config import load_settings
from app.db.engine import ensure_sqlite_file, use_wal_journal
from app.db.url import DatabaseTarget
from app.models import Base

config = context.config
if config.config_file_name is not None and not config.attributes.get("database_target"):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _target() -> DatabaseTarget:
    target = config.attributes.get("database_target")
    if isinstance(target, DatabaseTarget):
        return target
    return load_settings().database


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        compare_server_default=True,
        literal_binds=connection is None,
    )


def run_migrations_offline() -> None:
    _configure(url=_target().url.render_as_string(hide_password=False))
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    target = _target()
    sqlite_file = None
    if target.is_sqlite and target.url.database and target.url.database != ":memory:":
        from pathlib import Path

        sqlite_file = Path(target.url.database)
        ensure_sqlite_file(sqlite_file)
    engine = create_async_engine(
        target.url, poolclass=pool.NullPool, connect_args=target.connect_args
    )
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    finally:
        await engine.dispose()
    if sqlite_file is not None:
        use_wal_journal(sqlite_file)


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
