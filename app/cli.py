"""``auth-server``: the operator's entry point.

    auth-server                 same as ``auth-server serve``
    auth-server serve           migrate (unless AUTH_MIGRATE_ON_START=false), then serve
    auth-server migrate [REV]   upgrade the schema to REV (default: head)
    auth-server tenant create [--label L]   create a tenant; prints its client key once
    auth-server tenant list                 list tenants (never their keys)
    auth-server tenant rekey ID             give the tenant a new client key, printed once
    auth-server tenant disable ID           refuse the tenant's key and tokens from now on
    auth-server audit query|verify|head|export|prune  see app/cli_data.py
    auth-server tokens prune                          see app/cli_data.py
    auth-server encryption status|rotate|enable       see app/cli_data.py
    auth-server backup PATH                 online copy of the SQLite database, then checked
    auth-server backup --verify PATH        check a backup: integrity, revision, row counts

Configuration comes from the environment (``AUTH_*``), ``.env`` and the secrets
directory, exactly as for the server. Exit status is non-zero on any failure, with a
one-line message naming the setting to fix.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from app import __version__
from app.cli_data import register as register_data_commands
from app.config import Settings, load_settings
from app.db import build_engine
from app.edge.logs import build_log_config, configure_logging
from app.migrations import SchemaNotCurrent, assert_schema_current, upgrade
from app.production import ProductionReadinessError, check_production_readiness
from app.security.cipher import EncryptionConfigError, StoredDataCorrupt
from app.security.secrets import SecretsError, load_server_secrets

logger = logging.getLogger("app.cli")


async def _check_schema(settings: Settings) -> None:
    """Raise :class:`SchemaNotCurrent` unless the database is at the code's head."""
    engine = build_engine(settings)
    try:
        await assert_schema_current(engine)
    finally:
        await engine.dispose()


def _serve(settings: Settings, _args: argparse.Namespace) -> int:
    import uvicorn

    configure_logging(settings)  # start-up and migration messages in the service's format
    check_production_readiness(settings)  # refuse before binding the port
    load_server_secrets(settings)  # fail before binding the port, and create dev secrets once
    if settings.migrate_on_start:
        upgrade(settings.database)
    else:
        asyncio.run(_check_schema(settings))  # refuse before binding the port
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

    try:
        report = verify_backup(args.path) if args.verify else backup(settings, args.path)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="auth-server", description="RBAC authorization service")
    parser.add_argument("--version", action="version", version=f"auth-server {__version__}")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the HTTP service (default)")
    serve.set_defaults(handler=_serve)
    migrate = commands.add_parser("migrate", help="upgrade the database schema")
    migrate.add_argument("revision", nargs="?", default="head")
    migrate.set_defaults(handler=_migrate)
    tenant = commands.add_parser("tenant", help="manage tenants (closed registration)")
    tenant_commands = tenant.add_subparsers(dest="tenant_command", required=True)
    create = tenant_commands.add_parser("create", help="create a tenant, print its key once")
    create.add_argument(
        "--label", default=None, type=_label, help="a name for operators (1-64 chars)"
    )
    create.set_defaults(handler=_tenant_create)
    tenant_commands.add_parser("list", help="list tenants").set_defaults(handler=_tenant_list)
    rekey_cmd = tenant_commands.add_parser(
        "rekey", help="give a tenant a new client key, print it once (old key, tokens die)"
    )
    rekey_cmd.add_argument("tenant_id", type=int)
    rekey_cmd.set_defaults(handler=_tenant_rekey)
    disable_cmd = tenant_commands.add_parser("disable", help="disable a tenant")
    disable_cmd.add_argument("tenant_id", type=int)
    disable_cmd.set_defaults(handler=_tenant_disable)
    backup_cmd = commands.add_parser("backup", help="back up the SQLite database online")
    backup_cmd.add_argument("path", type=Path, help="the new backup file (never overwritten)")
    backup_cmd.add_argument(
        "--verify", action="store_true", help="check an existing backup instead of writing one"
    )
    backup_cmd.set_defaults(handler=_backup)
    register_data_commands(commands)
    parser.set_defaults(handler=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        code: int = args.handler(settings, args)
    except ValidationError as exc:
        fields = ", ".join(
            f"AUTH_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        print(f"auth-server: invalid configuration: {fields}", file=sys.stderr)
        return 2
    except (
        SecretsError,
        ProductionReadinessError,
        SchemaNotCurrent,
        EncryptionConfigError,
        StoredDataCorrupt,
        ValueError,
    ) as exc:
        print(f"auth-server: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
