"""``auth-server``: the operator's entry point, one module per command group.

    auth-server                           same as ``auth-server serve``
    auth-server serve|migrate             :mod:`app.cli.serve`
    auth-server tenant create|list|rekey|disable        :mod:`app.cli.tenant`
    auth-server audit query|verify|head|export|prune    :mod:`app.cli.audit`
    auth-server tokens prune                            :mod:`app.cli.tokens`
    auth-server encryption status|rotate|enable         :mod:`app.cli.encryption`
    auth-server import|export                           :mod:`app.cli.bulk`
    auth-server backup [--verify] [--with-secrets] PATH :mod:`app.cli.backup`

Configuration comes from the environment (``AUTH_*``), ``.env`` and the secrets
directory, exactly as for the server; ``serve``'s flags win over ``AUTH_HOST``,
``AUTH_PORT`` and ``AUTH_WORKERS``. Every command logs in the server's format
(``AUTH_LOG_FORMAT``, ``AUTH_LOG_LEVEL``): ``serve`` to standard output, the others to
standard error, so that their standard output is only their result. A failure caused
by configuration or the environment prints one line naming the setting to fix and
exits non-zero (2: configuration, 1: database or files; see :mod:`app.cli.failures`),
never a traceback.

Heavy modules are imported by the command that needs them, so ``--help`` and
``--version`` answer at once: SQLAlchemy by the commands that open the database,
Alembic only to migrate (``migrate``, and ``serve`` when the schema is behind),
FastAPI and uvicorn by ``serve`` alone (``tests/test_operator_imports.py``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from app import __version__
from app.cli import audit, backup, bulk, encryption, serve, tenant, tokens

if TYPE_CHECKING:
    from app.config import Settings

COMMAND_GROUPS = (serve, tenant, backup, audit, tokens, encryption, bulk)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auth-server",
        description="RBAC authorization service. Settings come from AUTH_* variables, "
        ".env and the secrets directory (see README.md); without a command, serve.",
    )
    parser.add_argument("--version", action="version", version=f"auth-server {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(commands)
    parser.set_defaults(handler=serve.serve, **dict.fromkeys(serve.SERVE_OPTIONS))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings: Settings | None = None
    try:
        from app.config import load_settings
        from app.edge.logs import configure_logging

        settings = load_settings(**serve.serve_overrides(args))
        serving = args.handler is serve.serve
        configure_logging(settings, "ext://sys.stdout" if serving else "ext://sys.stderr")
        code: int = args.handler(settings, args)
    except Exception as exc:
        from app.cli.failures import describe

        described = describe(exc, settings)
        if described is None:
            raise
        status, message = described
        print(f"auth-server: {message}", file=sys.stderr)
        return status
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
