"""Dialect-aware statements shared by the services."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects.sqlite import Insert as SQLiteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PostgreSQLInsert


def dialect_insert(dialect: str) -> Callable[[Table], PostgreSQLInsert | SQLiteInsert]:
    """The ``insert`` of ``dialect`` (``postgresql`` or ``sqlite``), which knows
    ``ON CONFLICT``. PostgreSQL's is imported on first use: a SQLite process never
    loads that dialect."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    return sqlite_insert


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
    insert = dialect_insert(dialect)
    statement = (
        insert(table).values(**values).on_conflict_do_nothing(index_elements=conflict_columns)
    )
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0))


def _repeating(processor: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """``processor`` that reuses its last result for the same value object (bulk rows
    share their timestamp)."""
    if processor is None:
        return None
    last: list[Any] = [object(), None]

    def process(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, processor(value)
        return last[1]

    return process


async def insert_many_ignore(
    session: AsyncSession,
    model: type[DeclarativeBase],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    conflict_columns: list[str],
) -> None:
    """:func:`insert_ignore` for many rows (each a tuple of ``columns``' values), in one
    driver ``executemany``: one statement compiled once, the rows bound to it by the
    driver, rows that already exist skipped. Values go through the columns' own bind
    processing (SQLite's datetime text, for example), so they are stored exactly as an
    ORM insert stores them."""
    if not rows:
        return
    table = model.__table__
    assert isinstance(table, Table)
    connection = await session.connection()
    dialect = connection.dialect
    insert = dialect_insert(dialect.name)
    statement = (
        insert(table)
        .values({name: bindparam(name, type_=table.c[name].type) for name in columns})
        .on_conflict_do_nothing(index_elements=conflict_columns)
    )
    compiled = statement.compile(dialect=dialect)
    order = [columns.index(name) for name in compiled.positiontup or ()]
    assert sorted(order) == list(range(len(columns))), "a positional driver is expected"
    processors = [
        _repeating(table.c[columns[at]].type.dialect_impl(dialect).bind_processor(dialect))
        for at in order
    ]
    if any(processors):
        rows = [
            tuple(
                row[at] if processor is None else processor(row[at])
                for at, processor in zip(order, processors, strict=True)
            )
            for row in rows
        ]
    elif order != list(range(len(columns))):
        rows = [tuple(row[at] for at in order) for row in rows]
    await connection.exec_driver_sql(compiled.string, list(rows))
