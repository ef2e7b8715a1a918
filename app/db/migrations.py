"""Alembic, driven from code: the only way the schema is created or changed.

* :func:`upgrade` runs ``alembic upgrade`` against the configured database (used by
  ``auth-server migrate`` and by the test fixtures); :func:`upgrade_if_behind` is
  ``auth-server serve``'s (``AUTH_MIGRATE_ON_START``): it reads the revision first and
  imports Alembic only when the schema is not at the head, so that a restart on a
  current schema does not pay for Alembic.
* :func:`assert_schema_current` is the start-up guard: the service refuses to serve a
  database whose revision is not the code's head, naming the command that fixes it.

Alembic's ``env.py`` runs its own event loop, so :func:`upgrade` is synchronous and
async callers run it in a worker thread; :func:`assert_schema_current` is a coroutine
that reads the revision over the service's own engine.

Alembic is imported only to migrate. The guard, which every server start and every
operator command runs, and :func:`upgrade_if_behind` compare two strings without it:
:func:`schema_revision` reads the ``alembic_version`` table as Alembic does, and
:data:`SCHEMA_REVISION` is the revision this release's code is written for, a constant
that a new migration moves (``tests/test_migrations.py`` fails until it equals
Alembic's head).

Where the migrations are: the top-level ``alembic/`` and ``alembic.ini`` of the source
tree are the source of truth (a checkout, an editable install). A built wheel carries a
copy of both as ``app/_alembic/`` (``setup.py`` makes it), so a regular install
migrates without the source tree. :data:`MIGRATIONS_ROOT` is whichever holds them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import String, column, inspect, select, table
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.url import DatabaseTarget

if TYPE_CHECKING:
    from alembic.config import Config

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
VERSION_TABLE = "alembic_version"
SCHEMA_REVISION = "0005"
"""The head of ``alembic/versions``: the schema revision this code needs."""


class SchemaNotCurrent(RuntimeError):
    """The database's schema revision differs from the code's head revision."""


def alembic_config(target: DatabaseTarget | None = None) -> Config:
    """An Alembic config bound to ``target`` (``None``: env.py reads the settings)."""
    from alembic.config import Config

    config = Config(str(MIGRATIONS_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if target is not None:
        config.attributes["database_target"] = target
    return config


def upgrade(target: DatabaseTarget | None = None, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(target), revision)


def downgrade(target: DatabaseTarget | None = None, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(target), revision)


def head_revision() -> str:
    """The revision the code's schema is at (:data:`SCHEMA_REVISION`)."""
    return SCHEMA_REVISION


async def schema_revision(engine: AsyncEngine) -> str | None:
    """The Alembic revision the database's schema is at (``None``: never migrated),
    read as Alembic's ``MigrationContext.get_current_revision`` reads it."""

    def read(connection: Connection) -> str | None:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        query = select(column("version_num", String)).select_from(table(VERSION_TABLE))
        versions = connection.execute(query).scalars().all()
        if len(versions) > 1:
            from alembic.util import CommandError

            raise CommandError(
                f"Version table '{VERSION_TABLE}' has more than one head present; "
                "please use get_current_heads()"
            )
        return versions[0] if versions else None

    async with engine.connect() as connection:
        return await connection.run_sync(read)


async def upgrade_if_behind(engine: AsyncEngine, target: DatabaseTarget) -> bool:
    """Upgrade ``target`` (reached through ``engine``) to the head unless its schema is
    there already; ``True`` when Alembic ran. Any other revision, none, an older one or
    one this code does not know, is Alembic's to handle (and to refuse), exactly as
    :func:`upgrade` would. Alembic runs in a worker thread: its ``env.py`` runs an event
    loop of its own."""
    if await schema_revision(engine) == head_revision():
        return False
    await asyncio.to_thread(upgrade, target)
    return True


async def assert_schema_current(engine: AsyncEngine) -> None:
    current, head = await schema_revision(engine), head_revision()
    if current != head:
        raise SchemaNotCurrent(
            f"database schema is at revision {current or 'none'} but this release needs "
            f"{head}: run `auth-server migrate` (or set AUTH_MIGRATE_ON_START=true)"
        )
