"""``auth-server serve`` (the default command) and ``auth-server migrate``.

    serve [--host H] [--port P] [--workers N]
                      migrate (unless AUTH_MIGRATE_ON_START=false; Alembic runs only
                      when the schema is behind), check the secrets,
                      schema and encryption keys, then serve; flags win over AUTH_*
    migrate [REV]     upgrade the schema to REV (default: head)

Production readiness is checked before the port is bound, and everything the server
opens (secrets, schema, encryption canary) is opened once first, so that a refusal is
one line here rather than a failed application start-up.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.config import Settings


async def _preflight(settings: Settings) -> None:
    from app.state import open_state

    async with open_state(settings, migrate=settings.migrate_on_start):
        pass


def serve(settings: Settings, _args: argparse.Namespace) -> int:
    import uvicorn

    from app.edge.logs import build_log_config
    from app.security.production import check_production_readiness

    check_production_readiness(settings)  # refuse before binding the port
    # Migrates (unless AUTH_MIGRATE_ON_START=false; Alembic only when the schema is
    # behind), then refuses before binding; creates dev secrets once.
    asyncio.run(_preflight(settings))
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
    from app.db.migrations import upgrade

    upgrade(settings.database, args.revision)
    print(f"database at {settings.database.redacted()} upgraded to {args.revision}")
    return 0


SERVE_OPTIONS = ("host", "port", "workers")


def serve_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """``serve``'s flags, which win over the environment."""
    return {
        name: getattr(args, name) for name in SERVE_OPTIONS if getattr(args, name, None) is not None
    }


def register(commands: Any) -> None:
    """Add ``serve`` and ``migrate`` to the CLI parser."""
    serve_cmd = commands.add_parser(
        "serve",
        help="run the HTTP service (the default command)",
        description="Migrate the schema (unless AUTH_MIGRATE_ON_START=false), check the "
        "secrets, schema and encryption keys, then serve. Flags win over AUTH_* variables.",
    )
    serve_cmd.add_argument(
        "--host",
        help="address to listen on (default: AUTH_HOST, else 127.0.0.1; 0.0.0.0 for all)",
    )
    serve_cmd.add_argument(
        "--port", type=int, help="TCP port to listen on (default: AUTH_PORT, else 5000)"
    )
    serve_cmd.add_argument(
        "--workers",
        type=int,
        help="worker processes, 1-64 (default: AUTH_WORKERS, else 1)",
    )
    serve_cmd.set_defaults(handler=serve)
    migrate = commands.add_parser("migrate", help="upgrade the database schema")
    migrate.add_argument(
        "revision", nargs="?", default="head", help="target revision (default: head)"
    )
    migrate.set_defaults(handler=_migrate)
