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
* A copy is only usable with the secrets it was written under (client keys are found
  by their HMAC under ``AUTH_KEY_HASH_SECRET``; the blind index and the audit chain
  hang off it too). :attr:`BackupReport.secrets` names them and where they came from;
  with ``with_secrets`` they are also written to ``<backup>.secrets.env`` (mode 0600,
  ``NAME='value'`` lines a shell can source), created like the copy: never
  overwriting, never readable by others.

Restoring a SQLite backup (docs/runbook.md, "Restore from a backup"): stop the
service; move the database file and its ``-wal`` and ``-shm`` files away (a stale
``-wal`` next to a restored file would be replayed into it); copy the backup into
place with mode 0600; give the service the secrets the backup names; start it.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from app.config import Settings
from app.db.migrations import head_revision
from app.db.url import DatabaseTarget
from app.security.secrets import restorable_secrets

BACKUP_FILE_MODE = 0o600
SECRETS_SUFFIX = ".secrets.env"
Step = Callable[[str], None]
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
    secrets: dict[str, str] = field(default_factory=dict)
    """Variables the copy depends on -> where their value came from."""
    secrets_path: Path | None = None
    written: bool = False
    """A new copy (the secrets lines are about it) rather than a verified one."""

    def lines(self, outcome: str) -> list[str]:
        rows = " ".join(f"{table}={count}" for table, count in self.counts.items())
        lines = [
            f"backup {self.path} {outcome}",
            f"integrity: {self.integrity}",
            f"revision: {self.revision} (head)",
            f"rows: {rows}",
        ]
        if self.written and not self.secrets:
            lines.append(
                "secrets: none configured for this command; restore it with the "
                "AUTH_KEY_HASH_SECRET (and AUTH_ENCRYPTION_KEY) the service uses"
            )
        elif self.secrets:
            needs = ", ".join(f"{name} ({source})" for name, source in self.secrets.items())
            lines.append(f"secrets: restore it with the same {needs}")
            lines.append(
                f"secrets: written to {self.secrets_path} (mode 0600)"
                if self.secrets_path is not None
                else "secrets: not in the backup; keep them safe or rerun with --with-secrets"
            )
        return lines


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


def secrets_path_for(destination: Path) -> Path:
    """Where ``--with-secrets`` writes the secrets of the backup ``destination``."""
    return destination.with_name(destination.name + SECRETS_SUFFIX)


def backup(
    settings: Settings,
    destination: Path,
    *,
    with_secrets: bool = False,
    step: Step | None = None,
) -> BackupReport:
    """Copy the configured SQLite database to ``destination`` online, then verify it.

    ``with_secrets`` also writes :func:`secrets_path_for` (never overwritten).
    ``step`` is told what the backup is doing as each phase starts."""
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
    secrets = restorable_secrets(settings)
    secrets_path = secrets_path_for(destination) if with_secrets else None
    _create_private_file(destination)
    try:
        if secrets_path is not None:
            _create_private_file(secrets_path)
    except BackupError:
        destination.unlink(missing_ok=True)
        raise
    try:
        if step is not None:
            size = source.stat().st_size
            step(f"copying {source} ({size / 1048576:.1f} MiB) to {destination}")
        _copy(source, destination, timeout=settings.sqlite_busy_timeout_ms / 1000)
        os.chmod(destination, BACKUP_FILE_MODE)
        if secrets_path is not None:
            _write_secrets(secrets_path, {name: value for name, (value, _) in secrets.items()})
    except (sqlite3.Error, OSError) as exc:
        for path in (destination, secrets_path):
            if path is not None:
                path.unlink(missing_ok=True)
        raise BackupError(f"copying {source} failed: {exc}") from exc
    report = verify_backup(destination, step=step)
    sources = {name: source for name, (_, source) in secrets.items()}
    return replace(report, secrets=sources, secrets_path=secrets_path, written=True)


def _write_secrets(path: Path, values: dict[str, str]) -> None:
    lines = [
        "# Secrets of the auth backup beside this file. Restore with it:",
        "#   set -a; . ./this-file; set +a",
    ]
    if "AUTH_ENCRYPTION_KEY" in values:
        lines.append("AUTH_ENABLE_ENCRYPTION=true")
    lines.extend(f"{name}={shlex.quote(value)}" for name, value in values.items())
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(path, BACKUP_FILE_MODE)


def verify_backup(path: Path, *, step: Step | None = None) -> BackupReport:
    """Open ``path`` read-only and check that it is a sound backup of this release."""
    if not path.is_file():
        raise BackupError(f"no backup file at {path}")
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        with closing(sqlite3.connect(uri, uri=True)) as connection:
            if step is not None:
                step(f"checking the integrity of {path}")
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
