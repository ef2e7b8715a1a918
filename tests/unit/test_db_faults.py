"""``app.db.faults``: which driver errors are availability faults.

The classifier looks at asyncpg's errors only once asyncpg is imported (none can exist
before), so a SQLite process never imports it; these cases pin the answers.
"""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc

from app.db.faults import DatabaseFault, classify_database_error


def sqlite_error(code: int) -> sqlite3.Error:
    error = sqlite3.OperationalError("sqlite")
    error.sqlite_errorcode = code
    return error


CASES: list[tuple[BaseException, DatabaseFault | None]] = [
    (asyncpg.exceptions.DiskFullError("disk full"), DatabaseFault.FULL),
    (asyncpg.exceptions.ReadOnlySQLTransactionError("read only"), DatabaseFault.FULL),
    (asyncpg.exceptions.QueryCanceledError("canceled"), DatabaseFault.TIMEOUT),
    (asyncpg.exceptions.CannotConnectNowError("starting up"), DatabaseFault.UNREACHABLE),
    (asyncpg.exceptions.TooManyConnectionsError("too many"), DatabaseFault.UNREACHABLE),
    (asyncpg.exceptions.UniqueViolationError("duplicate"), None),
    (asyncpg.exceptions.ConnectionDoesNotExistError("gone"), DatabaseFault.UNREACHABLE),
    (asyncpg.InterfaceError("the connection is closed"), DatabaseFault.UNREACHABLE),
    (asyncpg.InterfaceError("cannot perform operation"), None),
    (
        sa_exc.InterfaceError("stmt", None, Exception("connection was closed")),
        DatabaseFault.UNREACHABLE,
    ),
    (sqlite_error(13), DatabaseFault.FULL),
    (sqlite_error(5), DatabaseFault.TIMEOUT),
    (sqlite_error(14), DatabaseFault.UNREACHABLE),
    (sqlite_error(19), None),
    (ConnectionRefusedError(), DatabaseFault.UNREACHABLE),
    (TimeoutError(), DatabaseFault.TIMEOUT),
    (ValueError("a bug"), None),
]


@pytest.mark.parametrize(("error", "fault"), CASES, ids=[repr(case[0]) for case in CASES])
def test_driver_errors_are_classified(error: BaseException, fault: DatabaseFault | None) -> None:
    assert classify_database_error(error) is fault
    wrapped = sa_exc.DBAPIError("SELECT 1", None, error)
    assert classify_database_error(wrapped) is fault
