"""``auth-server``: the operator's entry point.

    auth-server                 same as ``auth-server serve``
    auth-server serve           migrate (unless AUTH_MIGRATE_ON_START=false), then serve
    auth-server migrate [REV]   upgrade the schema to REV (default: head)

Configuration comes from the environment (``AUTH_*``), ``.env`` and the secrets
directory, exactly as for the server. Exit status is non-zero on any failure, with a
one-line message naming the setting to fix.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from app import __version__
from app.config import Settings, load_settings
from app.migrations import upgrade
from app.security.secrets import SecretsError, load_server_secrets

logger = logging.getLogger("app.cli")


def _serve(settings: Settings, _args: argparse.Namespace) -> int:
    import uvicorn

    load_server_secrets(settings)  # fail before binding the port, and create dev secrets once
    if settings.migrate_on_start:
        upgrade(settings.database)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        proxy_headers=False,
        server_header=False,
    )
    return 0


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    upgrade(settings.database, args.revision)
    print(f"database at {settings.database.redacted()} upgraded to {args.revision}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="auth-server", description="RBAC authorization service")
    parser.add_argument("--version", action="version", version=f"auth-server {__version__}")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the HTTP service (default)")
    serve.set_defaults(handler=_serve)
    migrate = commands.add_parser("migrate", help="upgrade the database schema")
    migrate.add_argument("revision", nargs="?", default="head")
    migrate.set_defaults(handler=_migrate)
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
    except (SecretsError, ValueError) as exc:
        print(f"auth-server: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
