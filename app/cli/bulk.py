"""``auth-server import`` and ``auth-server export`` (see :mod:`app.bulk.admin`).

import --tenant ID FILE             JSON lines into the tenant, all or nothing
                                    (FILE ``-``: standard input)
export --tenant ID [--output FILE]  the tenant as JSON lines (the file is 0600)

Progress goes to standard error when it is a terminal; a refused line is one line on
standard error naming it, exit status 1, and nothing stored.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import TYPE_CHECKING, Any

from app.cli.output import progress, say, step

if TYPE_CHECKING:
    from app.config import Settings


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as source:
        return source.read()


def _import(settings: Settings, args: argparse.Namespace) -> int:
    from app.bulk.admin import NoSuchTenant, import_records
    from app.errors import AppError

    try:
        body = _read(args.file)
    except OSError as exc:
        say(f"cannot read {args.file}: {exc.strerror}")
        return 1

    def rows(done: int, total: int) -> None:
        progress("records imported", done, total)

    try:
        counts = asyncio.run(import_records(settings, args.tenant, body, progress=rows, step=step))
    except (AppError, NoSuchTenant) as exc:
        say(f"{args.file}: {getattr(exc, 'detail', exc)}")
        return 1
    print(
        f"imported {counts.roles} role(s), {counts.grants} grant(s) and "
        f"{counts.memberships} membership(s) into tenant {args.tenant}"
    )
    return 0


def _export(settings: Settings, args: argparse.Namespace) -> int:
    from app.bulk.admin import NoSuchTenant, export_records

    def records(done: int, total: int) -> None:
        progress("records exported", done, total)

    try:
        if args.output:
            # Owner-only from the first byte (user ids and permissions); an existing
            # file is narrowed to 0600 before it is rewritten.
            descriptor = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(descriptor, 0o600)
            with os.fdopen(descriptor, "wb") as output:
                count = asyncio.run(export_records(settings, args.tenant, output, progress=records))
        else:
            count = asyncio.run(
                export_records(settings, args.tenant, sys.stdout.buffer, progress=records)
            )
            sys.stdout.buffer.flush()
    except NoSuchTenant as exc:
        say(str(exc))
        return 1
    say(f"exported {count} record(s) of tenant {args.tenant}")
    return 0


def register(commands: Any) -> None:
    """Add ``import`` and ``export`` to the CLI parser."""
    importing = commands.add_parser(
        "import",
        help="import roles, grants and memberships (JSON lines) into a tenant",
        description="Apply a JSON-lines file (the format of GET /api/bulk) to a tenant in "
        "one transaction: every line is checked like POST /api/bulk, and any refused line "
        "stores nothing.",
    )
    importing.add_argument("--tenant", type=int, required=True, help="tenant id (required)")
    importing.add_argument("file", help="JSON-lines file, or - for standard input")
    importing.set_defaults(handler=_import)
    exporting = commands.add_parser(
        "export", help="export a tenant's roles, grants and memberships as JSON lines"
    )
    exporting.add_argument("--tenant", type=int, required=True, help="tenant id (required)")
    exporting.add_argument("--output", help="file to write, mode 0600 (default: standard output)")
    exporting.set_defaults(handler=_export)
