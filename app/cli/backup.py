"""``auth-server backup``: an online copy of the SQLite database (:mod:`app.db.backup`).

    backup [--with-secrets] PATH    write the copy (mode 0600) and check it; name the
                                    secrets it depends on (--with-secrets: write them)
    backup --verify PATH            check a backup: integrity, revision, row counts

On PostgreSQL it prints the ``pg_dump`` command instead (exit status 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.config import Settings


def _backup(settings: Settings, args: argparse.Namespace) -> int:
    from app.cli.output import step
    from app.db.backup import BackupError, UsePgDump, backup, verify_backup

    try:
        if args.verify:
            report = verify_backup(args.path, step=step)
        else:
            report = backup(settings, args.path, with_secrets=args.with_secrets, step=step)
    except UsePgDump as exc:
        print(f"auth-server: {exc}", file=sys.stderr)
        return 2
    except BackupError as exc:
        print(f"auth-server: backup failed: {exc}", file=sys.stderr)
        return 1
    print("\n".join(report.lines("verified" if args.verify else "written (mode 0600)")))
    return 0


def register(commands: Any) -> None:
    """Add ``backup`` to the CLI parser."""
    backup_cmd = commands.add_parser(
        "backup",
        help="back up the SQLite database online",
        description="Copy the SQLite database online (mode 0600), check the copy, and name "
        "the secrets it depends on. PostgreSQL: prints the pg_dump command.",
    )
    backup_cmd.add_argument("path", type=Path, help="the new backup file (never overwritten)")
    backup_cmd.add_argument(
        "--verify",
        action="store_true",
        help="check an existing backup instead of writing one (default: write)",
    )
    backup_cmd.add_argument(
        "--with-secrets",
        dest="with_secrets",
        action="store_true",
        help="also write the secrets the copy depends on to PATH.secrets.env, mode 0600 "
        "(default: only name them)",
    )
    backup_cmd.set_defaults(handler=_backup)
