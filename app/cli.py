"""``auth-server``: the operator's entry point.

    auth-server                 same as ``auth-server serve``
    auth-server serve [--host H] [--port P] [--workers N]
                                migrate (unless AUTH_MIGRATE_ON_START=false), then serve
    auth-server migrate [REV]   upgrade the schema to REV (default: head)
    auth-server tenant create [--label L]   create a tenant; prints its client key once
    auth-server tenant list                 list tenants (never their keys)
    auth-server tenant rekey ID             give the tenant a new client key, printed once
    auth-server tenant disable ID           refuse the tenant's key and tokens from now on
    auth-server audit query|verify|head|export|prune  see app/cli_data.py
    auth-server tokens prune                          see app/cli_data.py
    auth-server encryption status|rotate|enable       see app/cli_data.py
    auth-server import --tenant ID FILE               see app/bulk/cli.py
    auth-server export --tenant ID [--output FILE]    see app/bulk/cli.py
    auth-server backup [--with-secrets] PATH  online copy of the SQLite database, checked
    auth-server backup --verify PATH        check a backup: integrity, revision, row counts

Configuration comes from the environment (``AUTH_*``), ``.env`` and the secrets
directory, exactly as for the server; ``serve``'s flags win over ``AUTH_HOST``,
``AUTH_PORT`` and ``AUTH_WORKERS``. Every command logs in the server's format
(``AUTH_LOG_FORMAT``, ``AUTH_LOG_LEVEL``): ``serve`` to standard output, the others to
standard error, so that their standard output is only their result. A failure caused
by configuration or the environment prints one line naming the setting to fix and
exits non-zero (2: configuration, 1: database or files; see
:mod:`app.operator_errors`), never a traceback.

Heavy modules (SQLAlchemy, Alembic, FastAPI, uvicorn) are imported by the command that
needs them, so ``--help`` and ``--version`` answer at once.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import __version__
from app.bulk.cli import register as register_bulk_commands
from app.cli_data import register as register_data_commands

if TYPE_CHECKING:
    from app.config import Settings


async def _preflight(settings: Settings) -> None:
    """Open everything the server opens (secrets, schema, encryption canary) once,
    so that a refusal is one line here rather than a failed application start-up."""
    from app.runtime import open_state

    async with open_state(settings):
        pass


def _serve(settings: Settings, _args: argparse.Namespace) -> int:
    import uvicorn

    from app.edge.logs import build_log_config
    from app.migrations import upgrade
    from app.production import check_production_readiness

    check_production_readiness(settings)  # refuse before binding the port
    if settings.migrate_on_start:
        upgrade(settings.database)
    asyncio.run(_preflight(settings))  # refuse before binding; creates dev secrets once
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        log_config=build_log_config(settings),
        access_log=False,  # app.edge.telemetry writes the access line (no query strings)
        # The application applies X-Forwarded-For/-Proto itself (app.edge), from the same
        # AUTH_FORWARDED_ALLOW_IPS; uvicorn's copy stays off so they are not applied twice.
        proxy_headers=False,
        forwarded_allow_ips=",".join(settings.forwarded_allow_ips),
        server_header=False,
    )
    return 0


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from app.migrations import upgrade

    upgrade(settings.database, args.revision)
    print(f"database at {settings.database.redacted()} upgraded to {args.revision}")
    return 0


def _tenant_create(settings: Settings, args: argparse.Namespace) -> int:
    from app.tenants.admin import create_tenant

    tenant_id, client_key = asyncio.run(create_tenant(settings, args.label))
    print(f"tenant {tenant_id} created; its client key (shown once, store it now):")
    print(client_key)
    return 0


def _tenant_list(settings: Settings, _args: argparse.Namespace) -> int:
    from app.tenants.admin import tenant_summaries

    rows = asyncio.run(tenant_summaries(settings))
    print(f"{'id':>6}  {'created':<20}  {'origin':<8}  {'state':<8}  {'strict':<7}  label")
    for row in rows:
        strict = "default" if row.strict_users is None else str(row.strict_users).lower()
        print(
            f"{row.id:>6}  {row.created_at:%Y-%m-%d %H:%M:%S}  "
            f"{'operator' if row.operator_created else 'open':<8}  "
            f"{'disabled' if row.disabled else 'active':<8}  {strict:<7}  {row.label or ''}"
        )
    return 0


def _tenant_rekey(settings: Settings, args: argparse.Namespace) -> int:
    from app.tenants.admin import rekey

    client_key = asyncio.run(rekey(settings, args.tenant_id))
    if client_key is None:
        print(f"auth-server: no tenant with id {args.tenant_id}", file=sys.stderr)
        return 1
    print(
        f"tenant {args.tenant_id} re-keyed: its old key, rotate key and tokens are refused; "
        "the new client key (shown once, hand it over on a trusted channel):"
    )
    print(client_key)
    return 0


def _tenant_disable(settings: Settings, args: argparse.Namespace) -> int:
    from app.tenants.admin import disable

    if not asyncio.run(disable(settings, args.tenant_id)):
        print(f"auth-server: no tenant with id {args.tenant_id}", file=sys.stderr)
        return 1
    print(f"tenant {args.tenant_id} disabled: its client key and tokens are refused")
    return 0


def _backup(settings: Settings, args: argparse.Namespace) -> int:
    from app.backup import BackupError, UsePgDump, backup, verify_backup
    from app.cli_data import step

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


def _label(value: str) -> str:
    if not 1 <= len(value) <= 64 or not value.isprintable():
        raise argparse.ArgumentTypeError("a label is 1-64 printable characters")
    return value


def _add_serve_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--host",
        help="address to listen on (default: AUTH_HOST, else 127.0.0.1; 0.0.0.0 for all)",
    )
    serve.add_argument(
        "--port", type=int, help="TCP port to listen on (default: AUTH_PORT, else 5000)"
    )
    serve.add_argument(
        "--workers",
        type=int,
        help="worker processes, 1-64 (default: AUTH_WORKERS, else 1)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auth-server",
        description="RBAC authorization service. Settings come from AUTH_* variables, "
        ".env and the secrets directory (see README.md); without a command, serve.",
    )
    parser.add_argument("--version", action="version", version=f"auth-server {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the HTTP service (the default command)",
        description="Migrate the schema (unless AUTH_MIGRATE_ON_START=false), check the "
        "secrets, schema and encryption keys, then serve. Flags win over AUTH_* variables.",
    )
    _add_serve_options(serve)
    serve.set_defaults(handler=_serve)
    migrate = commands.add_parser("migrate", help="upgrade the database schema")
    migrate.add_argument(
        "revision", nargs="?", default="head", help="target revision (default: head)"
    )
    migrate.set_defaults(handler=_migrate)
    tenant = commands.add_parser("tenant", help="manage tenants (closed registration)")
    tenant_commands = tenant.add_subparsers(dest="tenant_command", required=True)
    create = tenant_commands.add_parser("create", help="create a tenant, print its key once")
    create.add_argument(
        "--label",
        default=None,
        type=_label,
        help="a name for operators, 1-64 printable characters (default: none)",
    )
    create.set_defaults(handler=_tenant_create)
    tenant_commands.add_parser("list", help="list tenants").set_defaults(handler=_tenant_list)
    rekey_cmd = tenant_commands.add_parser(
        "rekey", help="give a tenant a new client key, print it once (old key, tokens die)"
    )
    rekey_cmd.add_argument("tenant_id", type=int, help="the tenant's id (see tenant list)")
    rekey_cmd.set_defaults(handler=_tenant_rekey)
    disable_cmd = tenant_commands.add_parser("disable", help="disable a tenant")
    disable_cmd.add_argument("tenant_id", type=int, help="the tenant's id (see tenant list)")
    disable_cmd.set_defaults(handler=_tenant_disable)
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
    register_data_commands(commands)
    register_bulk_commands(commands)
    parser.set_defaults(handler=_serve, host=None, port=None, workers=None)
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """``serve``'s flags, which win over the environment."""
    names = ("host", "port", "workers")
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings: Settings | None = None
    try:
        from app.config import load_settings
        from app.edge.logs import configure_logging

        settings = load_settings(**_overrides(args))
        serving = args.handler is _serve
        configure_logging(settings, "ext://sys.stdout" if serving else "ext://sys.stderr")
        code: int = args.handler(settings, args)
    except Exception as exc:
        from app.operator_errors import describe

        described = describe(exc, settings)
        if described is None:
            raise
        status, message = described
        print(f"auth-server: {message}", file=sys.stderr)
        return status
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
