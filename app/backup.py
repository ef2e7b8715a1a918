"""``auth-server backup``: online SQLite backups and their restore check.

* :func:`backup` copies the live SQLite database with SQLite's online backup API
  (:meth:`sqlite3.Connection.backup`): one consistent snapshot, including what is still
  in the write-ahead log, taken while the service keeps serving. The copy is created
  with mode 0600 (never readable by others, not even for a moment), converted to a
  self-contained file (rollback journal, so no ``-wal`` file has to travel with it),
  then checked by :func:`verify_backup`. An existing file is never overwritten.
* :func:`verify_backup` is the restore check: it opens a backup read-only, requires
  ``PRAGMA integrity_check`` to answer ``ok`` and the Alembic revision to be this
  release's head, and counts tenants, roles, memberships and grants.
* PostgreSQL is backed up with ``pg_dump``, which is consistent online by design:
  :func:`backup` raises :class:`UsePgDump` whose message is the exact command (the URL
  without its password), and ``auth-server backup`` exits with status 2.

Restoring a SQLite backup: stop the service; move the database file and its ``-wal``
and ``-shm`` files away (a stale ``-wal`` next to a restored file would be replayed
into it); copy the backup into place with mode 0600; start the service.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from app.config import Settings
from app.db_url import DatabaseTarget
from app.migrations import head_revision

BACKUP_FILE_MODE = 0o600
COUNT_QUERIES: dict[str, str] = {
    "tenants": "SELECT count(*) FROM tenants",
    "roles": "SELECT count(*) FROM roles",
    "memberships": "SELECT count(*) FROM memberships",
    "grants": "SELECT count(*) FROM grants",
}


class BackupError(RuntimeError):
    """The backup could not be written, or the file is not a usable backup."""


class UsePgDump(BackupError):
    """The configured database is PostgreSQL: ``pg_dump`` is the backup tool."""


@dataclass(frozen=True)
class BackupReport:
    path: Path
    integrity: str
    revision: str
    counts: dict[str, int] = field(default_factory=dict)

    def lines(self, outcome: str) -> list[str]:
        rows = " ".join(f"{table}={count}" for table, count in self.counts.items())
        return [
            f"backup {self.path} {outcome}",
            f"integrity: {self.integrity}",
            f"revision: {self.revision} (head)",
            f"rows: {rows}",
        ]


def pg_dump_command(database_url: str, destination: Path) -> str:
    """The documented PostgreSQL backup command for ``database_url``, without its password
    (pg_dump reads it from PGPASSWORD or ~/.pgpass); libpq parameters such as
    ``sslmode`` are kept."""
    configured = make_url(database_url)
    url = URL.create(
        "postgresql",
        username=configured.username,
        host=configured.host,
        port=configured.port,
        database=configured.database,
        query=configured.query,
    )
    return shlex.join(
        [
            "pg_dump",
            "--format=custom",
            f"--file={destination}",
            f"--dbname={url.render_as_string(hide_password=False)}",
        ]
    )


def backup(settings: Settings, destination: Path) -> BackupReport:
    """Copy the configured SQLite database to ``destination`` online, then verify it."""
    target = settings.database
    if not target.is_sqlite:
        configured = settings.database_url or settings.postgresql_url
        assert configured is not None  # a PostgreSQL target always comes from one of them
        raise UsePgDump(
            "backup copies SQLite databases only; this database is PostgreSQL. "
            "Back it up with pg_dump (password from PGPASSWORD or ~/.pgpass):\n"
            f"  {pg_dump_command(configured.get_secret_value(), destination)}\n"
            f"and check the dump with: pg_restore --list {shlex.quote(str(destination))}"
        )
    source = _sqlite_file(target)
    _create_private_file(destination)
    try:
        _copy(source, destination, timeout=settings.sqlite_busy_timeout_ms / 1000)
        os.chmod(destination, BACKUP_FILE_MODE)
    except (sqlite3.Error, OSError) as exc:
        destination.unlink(missing_ok=True)
        raise BackupError(f"copying {source} failed: {exc}") from exc
    return verify_backup(destination)


def verify_backup(path: Path) -> BackupReport:
    """Open ``path`` read-only and check that it is a sound backup of this release."""
    if not path.is_file():
        raise BackupError(f"no backup file at {path}")
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        with closing(sqlite3.connect(uri, uri=True)) as connection:
            integrity = [row[0] for row in connection.execute("PRAGMA integrity_check")]
            if integrity != ["ok"]:
                raise BackupError(f"{path} is damaged: {'; '.join(map(str, integrity[:5]))}")
            revision = _revision(connection, path)
            counts = {
                table: int(connection.execute(query).fetchone()[0])
                for table, query in COUNT_QUERIES.items()
            }
    except sqlite3.Error as exc:
        raise BackupError(f"{path} is not a readable auth database: {exc}") from exc
    return BackupReport(path=path, integrity="ok", revision=revision, counts=counts)


def _sqlite_file(target: DatabaseTarget) -> Path:
    database = target.url.database
    if not database or database == ":memory:":
        raise BackupError("the configured SQLite database is in memory: nothing to back up")
    path = Path(database)
    if not path.is_file():
        raise BackupError(f"no SQLite database at {path} (check AUTH_SQLITE_PATH)")
    return path


def _create_private_file(path: Path) -> None:
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, BACKUP_FILE_MODE)
    except FileExistsError:
        raise BackupError(f"{path} exists; backups never overwrite a file") from None
    except OSError as exc:
        raise BackupError(f"cannot create {path}: {exc.strerror}") from exc
    os.close(descriptor)
    os.chmod(path, BACKUP_FILE_MODE)


def _copy(source: Path, destination: Path, *, timeout: float) -> None:
    with (
        closing(sqlite3.connect(source, timeout=timeout)) as live,
        closing(sqlite3.connect(destination, timeout=timeout)) as copy,
    ):
        live.backup(copy)  # all pages in one step: one consistent snapshot
        mode = copy.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        if str(mode).lower() != "delete":
            raise BackupError(f"could not make {destination} self-contained (journal {mode})")


def _revision(connection: sqlite3.Connection, path: Path) -> str:
    try:
        rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.OperationalError:
        raise BackupError(f"{path} has no schema revision: not an auth database") from None
    head = head_revision()
    revision = str(rows[0][0]) if len(rows) == 1 else None
    if revision is None or revision != head:
        raise BackupError(
            f"{path} is at schema revision {revision or 'none'} but this release needs "
            f"{head}: restore it with the release that wrote it, then run `auth-server migrate`"
        )
    return revision
