"""What an operator sees when a command fails: one line, never a traceback.

:func:`describe` turns a failure caused by configuration or by the environment into
an exit status and one line that names the cause and the setting to fix:

* invalid settings (each variable and pydantic's reason), missing or weak secrets, a
  secrets file that cannot be read or written, production refusals, an out-of-date
  schema, unusable encryption keys: status 2;
* a database that cannot be reached or refuses the work (wrong host, port, name,
  password, a SQLite path whose directory cannot be created): status 1, naming the
  database without its password and the variable that chose it;
* any other :class:`OSError` (a file the command was asked to write): status 1.

Anything else is a defect and keeps its traceback (``describe`` returns ``None``).
Exception classes are imported here, when a command has failed, so that importing the
CLI stays cheap.
"""

from __future__ import annotations

import re
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.config import Settings

CONFIGURATION_ERROR = 2
ENVIRONMENT_ERROR = 1
_DRIVER_PREFIX = re.compile(r"^(<class '[\w.]+'>: |\([\w.]+\) )")


def database_setting(settings: Settings) -> str:
    """The variable that chose the database (the one to fix when it is unreachable)."""
    if settings.database_url is not None:
        return "AUTH_DATABASE_URL"
    if settings.database_type.value == "postgresql":
        return "AUTH_POSTGRESQL_URL"
    return "AUTH_SQLITE_PATH"


def _database(settings: Settings | None) -> tuple[str, str]:
    if settings is None:
        return "the database", "the database settings"
    try:
        return f"the database {settings.database.redacted()}", database_setting(settings)
    except ValueError:
        return "the database", database_setting(settings)


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return _DRIVER_PREFIX.sub("", lines[0]).strip() if lines else "unknown error"


def _validation_message(exc: BaseException) -> str:
    from pydantic import ValidationError

    assert isinstance(exc, ValidationError)
    fields = ", ".join(
        f"AUTH_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
    )
    return f"invalid configuration: {fields}"


def describe(exc: BaseException, settings: Settings | None) -> tuple[int, str] | None:
    """``(exit status, one line)`` for an operator, or ``None`` for a defect."""
    from pydantic import ValidationError
    from sqlalchemy.exc import DBAPIError

    from app.db.migrations import SchemaNotCurrent
    from app.security.cipher import EncryptionConfigError, StoredDataCorrupt
    from app.security.production import ProductionReadinessError
    from app.security.secrets import SecretsError

    if isinstance(exc, ValidationError):
        return CONFIGURATION_ERROR, _validation_message(exc)
    configuration = (
        SecretsError,
        ProductionReadinessError,
        SchemaNotCurrent,
        EncryptionConfigError,
        StoredDataCorrupt,
        ValueError,
    )
    if isinstance(exc, configuration):
        return CONFIGURATION_ERROR, str(exc)
    database, setting = _database(settings)
    if isinstance(exc, DBAPIError):
        reason = _first_line(str(exc.orig) if exc.orig is not None else str(exc))
        return ENVIRONMENT_ERROR, f"cannot use {database}: {reason} (check {setting})"
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        reason = exc.strerror or _first_line(str(exc)) or type(exc).__name__
        return ENVIRONMENT_ERROR, f"cannot reach {database}: {reason} (check {setting})"
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        reason = f"{exc.strerror or _first_line(str(exc))}{where}"
        if exc.filename and _on_sqlite_path(settings, str(exc.filename)):
            return ENVIRONMENT_ERROR, f"cannot open {database}: {reason} (check {setting})"
        return ENVIRONMENT_ERROR, reason
    return None


def _on_sqlite_path(settings: Settings | None, filename: str) -> bool:
    """Whether ``filename`` is the configured SQLite file or one of its directories."""
    if settings is None:
        return False
    try:
        target = settings.database
    except ValueError:
        return False
    database = target.url.database if target.is_sqlite else None
    if not database:
        return False
    return database == filename or database.startswith(filename.rstrip("/") + "/")
