"""Database faults: which driver errors mean "the database is unavailable", and the
one-line-per-outage log.

This module is the one place that maps driver and SQLAlchemy errors to a fault:

* :func:`classify_database_error` returns the :class:`DatabaseFault` an exception
  stands for, or ``None`` when it is not an availability problem (a constraint
  violation, a bug). The error handlers of :mod:`app.errors` turn a fault into a 503
  problem+json with ``Retry-After``; everything else stays a 500.
* :class:`DatabaseHealth` remembers whether the database is down and whether it can
  take writes. It logs one warning when an outage starts and one line when it ends
  (as the rate-limit store does), never a traceback per request, and counts faults
  for ``/health`` and the logs.

Faults:

* ``unreachable``: refused, reset or closed connections, a server shutting down or
  starting up, too many connections;
* ``timeout``: a connect, statement or pool checkout that ran past its bound
  (``AUTH_DB_CONNECT_TIMEOUT``, ``AUTH_DB_STATEMENT_TIMEOUT``, ``AUTH_DB_POOL_TIMEOUT``,
  the SQLite busy timeout);
* ``full``: the store cannot take writes (disk full, I/O error, read-only); reads may
  still work.
"""

from __future__ import annotations

import errno
import logging
import socket
import sqlite3
import sys
import time
from collections import Counter
from enum import StrEnum
from types import ModuleType
from typing import Any

from sqlalchemy import exc as sa_exc

logger = logging.getLogger("app.db")


class DatabaseFault(StrEnum):
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    FULL = "full"


_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ETIMEDOUT,
        errno.EADDRNOTAVAIL,
    }
)

# SQLite primary result codes (the low byte of the extended code).
_SQLITE_FULL_CODES = frozenset({8, 10, 13})  # READONLY, IOERR, FULL
_SQLITE_BUSY_CODES = frozenset({5, 6})  # BUSY, LOCKED: the busy timeout elapsed
_SQLITE_UNREACHABLE_CODES = frozenset({14})  # CANTOPEN

# PostgreSQL SQLSTATEs.
_PG_FULL_STATES = frozenset({"53100", "25006"})  # disk_full, read_only_sql_transaction
_PG_TIMEOUT_STATES = frozenset({"57014", "55P03"})  # query_canceled, lock_not_available
_PG_UNREACHABLE_PREFIXES = ("08", "57P", "53")  # connection, shutdown, resources

_CLOSED_CONNECTION_TEXT = ("connection is closed", "connection was closed")


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc``, the driver error SQLAlchemy wraps (``orig``) and explicit causes."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending and len(seen) < 8:
        current = pending.pop(0)
        if current is None or any(current is known for known in seen):
            continue
        seen.append(current)
        orig = getattr(current, "orig", None)
        pending.append(orig if isinstance(orig, BaseException) else None)
        pending.append(current.__cause__)
    return seen


def _asyncpg_if_imported() -> ModuleType | None:
    """asyncpg, once something in this process imported it (the PostgreSQL engine, the
    decision probe or listener). Until then none of its errors can exist, so a SQLite
    process never imports it just to tell them apart."""
    return sys.modules.get("asyncpg")


def _classify_one(exc: BaseException) -> DatabaseFault | None:
    if isinstance(exc, sa_exc.TimeoutError):  # pool checkout: every connection busy
        return DatabaseFault.TIMEOUT
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return DatabaseFault.UNREACHABLE
    if isinstance(exc, TimeoutError):  # asyncpg connect/command timeouts
        return DatabaseFault.TIMEOUT
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is None:
            return None
        primary = code & 0xFF
        if primary in _SQLITE_FULL_CODES:
            return DatabaseFault.FULL
        if primary in _SQLITE_BUSY_CODES:
            return DatabaseFault.TIMEOUT
        if primary in _SQLITE_UNREACHABLE_CODES:
            return DatabaseFault.UNREACHABLE
        return None
    asyncpg = _asyncpg_if_imported()
    if asyncpg is not None and isinstance(exc, asyncpg.PostgresError):
        state = str(getattr(exc, "sqlstate", "") or "")
        if state in _PG_FULL_STATES:
            return DatabaseFault.FULL
        if state in _PG_TIMEOUT_STATES:
            return DatabaseFault.TIMEOUT
        if state.startswith(_PG_UNREACHABLE_PREFIXES):
            return DatabaseFault.UNREACHABLE
        return None
    if asyncpg is not None and isinstance(exc, asyncpg.exceptions.ConnectionDoesNotExistError):
        return DatabaseFault.UNREACHABLE
    driver_interface_error = asyncpg is not None and isinstance(exc, asyncpg.InterfaceError)
    if driver_interface_error or isinstance(exc, sa_exc.InterfaceError):
        text = str(exc).lower()
        if any(marker in text for marker in _CLOSED_CONNECTION_TEXT):
            return DatabaseFault.UNREACHABLE
        return None
    if isinstance(exc, ConnectionError | socket.gaierror):
        return DatabaseFault.UNREACHABLE
    if isinstance(exc, OSError):
        if exc.errno in _NETWORK_ERRNOS:
            return DatabaseFault.UNREACHABLE
        # asyncio's create_connection to several addresses: "Multiple exceptions: ..."
        if exc.errno is None and str(exc).startswith("Multiple exceptions"):
            return DatabaseFault.UNREACHABLE
    return None


def classify_database_error(exc: BaseException) -> DatabaseFault | None:
    """The availability fault ``exc`` stands for, or ``None`` (not a fault: a bug,
    a constraint violation). Looks through SQLAlchemy's wrapping to the driver."""
    for candidate in _causes(exc):
        fault = _classify_one(candidate)
        if fault is not None:
            return fault
    return None


class DatabaseHealth:
    """What the process knows about its database, from requests and ``/health``.

    * ``down_since``: set by the first ``unreachable``/``timeout`` fault, cleared by
      the next successful round trip (a commit, a ping);
    * ``writes_failing_since``: set by a ``full`` fault, cleared by the next
      committed write (or write probe).

    Each transition logs exactly one line; faults in between are only counted.
    """

    def __init__(self) -> None:
        self.down_since: float | None = None
        self.down_fault: DatabaseFault | None = None
        self.writes_failing_since: float | None = None
        self.faults: Counter[DatabaseFault] = Counter()

    @property
    def available(self) -> bool:
        return self.down_since is None

    @property
    def writable(self) -> bool:
        return self.writes_failing_since is None

    def record_fault(self, fault: DatabaseFault, error: BaseException) -> None:
        self.faults[fault] += 1
        now = time.monotonic()
        if fault is DatabaseFault.FULL:
            if self.writes_failing_since is None:
                self.writes_failing_since = now
                logger.warning(
                    "database cannot take writes: writes answer 503 until one succeeds",
                    extra={"event": "database_writes_failing", "error_type": _name(error)},
                )
            return
        if self.down_since is None:
            self.down_since = now
            self.down_fault = fault
            logger.warning(
                "database unavailable (%s): requests that need it answer 503 until it answers",
                fault.value,
                extra={
                    "event": "database_down",
                    "fault": fault.value,
                    "error_type": _name(error),
                },
            )

    def record_round_trip(self) -> None:
        """The database answered a statement or a commit."""
        if self.down_since is None:
            return
        logger.info(
            "database answers again",
            extra={
                "event": "database_recovered",
                "outage_seconds": round(time.monotonic() - self.down_since, 3),
            },
        )
        self.down_since = None
        self.down_fault = None

    def record_write(self) -> None:
        """A write transaction committed."""
        self.record_round_trip()
        if self.writes_failing_since is None:
            return
        logger.info(
            "database takes writes again",
            extra={
                "event": "database_writes_recovered",
                "outage_seconds": round(time.monotonic() - self.writes_failing_since, 3),
            },
        )
        self.writes_failing_since = None

    def snapshot(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "writable": self.writable,
            "faults": {fault.value: self.faults[fault] for fault in DatabaseFault},
        }


def _name(error: BaseException) -> str:
    return type(error).__name__
