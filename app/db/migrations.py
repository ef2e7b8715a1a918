"""Alembic, driven from code: the only way the schema is created or changed.

* :func:`upgrade` runs ``alembic upgrade`` against the configured database (used by
  ``auth-server migrate``, by ``auth-server serve`` when ``AUTH_MIGRATE_ON_START`` is
  on, and by the test fixtures).
* :func:`assert_schema_current` is the start-up guard: the service refuses to serve a
  database whose revision is not the code's head, naming the command that fixes it.

Alembic's ``env.py`` runs its own event loop, so :func:`upgrade` is synchronous and
async callers run it in a worker thread; :func:`assert_schema_current` is a coroutine
that reads the revision over the service's own engine.

Where the migrations are: the top-level ``alembic/`` and ``alembic.ini`` of the source
tree are the source of truth (a checkout, an editable install). A built wheel carries a
copy of both as ``app/_alembic/`` (``setup.py`` makes it), so a regular install
migrates without the source tree. :data:`MIGRATIONS_ROOT` is whichever holds them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from alembic import command
from app.db.url import DatabaseTarget

APP_PACKAGE = Path(__file__).resolve().parent.parent
PACKAGED_ROOT = APP_PACKAGE / "_alembic"
PROJECT_ROOT = APP_PACKAGE.parent


def migrations_root() -> Path:
    """The directory holding ``alembic.ini`` and ``alembic/``: the wheel's copy when
    this is an installed package, else the source tree."""
    if (PACKAGED_ROOT / "alembic.ini").is_file():
        return PACKAGED_ROOT
    return PROJECT_ROOT


MIGRATIONS_ROOT = migrations_root()
SCRIPT_LOCATION = MIGRATIONS_ROOT / "alembic"


class SchemaNotCurrent(RuntimeError):
    """The database's schema revision differs from the code's head revision."""


def alembic_config(target: DatabaseTarget | None = None) -> Config:
    """An Alembic config bound to ``target`` (``None``: env.py reads the settings)."""
    config = Config(str(MIGRATIONS_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if target is not None:
        config.attributes["database_target"] = target
    return config


def upgrade(target: DatabaseTarget | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(target), revision)


def downgrade(target: DatabaseTarget | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(target), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def schema_revision(engine: AsyncEngine) -> str | None:
    """The Alembic revision the database's schema is at (``None``: never migrated)."""

    def read(connection: Connection) -> str | None:
        migration_logger = logging.getLogger("alembic.runtime.migration")
        level = migration_logger.level
        migration_logger.setLevel(logging.WARNING)  # "Context impl ..." is noise here
        try:
            return MigrationContext.configure(connection).get_current_revision()
        finally:
            migration_logger.setLevel(level)

    async with engine.connect() as connection:
        return await connection.run_sync(read)


async def assert_schema_current(engine: AsyncEngine) -> None:
    current, head = await schema_revision(engine), head_revision()
    if current != head:
        raise SchemaNotCurrent(
            f"database schema is at revision {current or 'none'} but this release needs "
            f"{head}: run `auth-server migrate` (or set AUTH_MIGRATE_ON_START=true)"
        )
