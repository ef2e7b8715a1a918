"""``auth-server tokens prune``: expired token state (safe while serving).

tokens prune [--retired-keys-older-than-days N]
              expired refresh tokens and their families; retired client keys
              only when asked
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.config import Settings


def _prune(settings: Settings, args: argparse.Namespace) -> int:
    from app.state import open_state
    from app.tokens.retention import prune_token_state
    from app.utc import utcnow

    days = args.retired_keys_older_than_days
    if days is not None and days < 1:
        print("--retired-keys-older-than-days must be at least 1", file=sys.stderr)
        return 2

    async def work() -> str:
        async with open_state(settings) as state:
            now = utcnow()
            pruned = await prune_token_state(
                state.database,
                now,
                leeway=timedelta(seconds=settings.jwt_leeway_seconds),
                retired_before=None if days is None else now - timedelta(days=days),
            )
        return (
            f"pruned {pruned.refresh_tokens} refresh token(s), {pruned.token_families} "
            f"token famil(ies), {pruned.retired_client_keys} retired client key(s)"
        )

    print(asyncio.run(work()))
    return 0


def register(commands: Any) -> None:
    """Add the ``tokens`` command group to the CLI parser."""
    tokens = commands.add_parser("tokens", help="prune expired token state")
    token_commands = tokens.add_subparsers(dest="tokens_command", required=True)
    tokens_prune = token_commands.add_parser(
        "prune", help="delete expired refresh tokens and token families (safe while serving)"
    )
    tokens_prune.add_argument(
        "--retired-keys-older-than-days",
        dest="retired_keys_older_than_days",
        type=int,
        help="also forget client keys rotated away more than N days ago (default: keep them)",
    )
    tokens_prune.set_defaults(handler=_prune)
