"""Dialect-aware statements shared by the services."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase


async def insert_ignore(
    session: AsyncSession,
    model: type[DeclarativeBase],
    values: dict[str, Any],
    conflict_columns: list[str],
) -> bool:
    """``INSERT ... ON CONFLICT (conflict_columns) DO NOTHING``; True when a row was added.

    Identical concurrent writes therefore collapse into one row without an error.
    """
    table = model.__table__
    assert isinstance(table, Table)
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(table).values(**values).on_conflict_do_nothing(index_elements=conflict_columns)
    )
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0))


async def insert_many_ignore(
    session: AsyncSession,
    model: type[DeclarativeBase],
    rows: list[dict[str, Any]],
    conflict_columns: list[str],
) -> None:
    """:func:`insert_ignore` for many rows in one driver ``executemany`` (one prepared
    statement, every row bound to it); rows that already exist are skipped."""
    if not rows:
        return
    table = model.__table__
    assert isinstance(table, Table)
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(table).on_conflict_do_nothing(index_elements=conflict_columns)
    await session.execute(statement, rows)
