"""``auth-server encryption ...``: field encryption at rest.

encryption status                   rows per key (with each key's fingerprint)
encryption rotate [--batch-size N]  re-encrypt everything under the newest key
encryption enable [--batch-size N]  encrypt a plaintext database; a service running
                                    meanwhile must already have encryption on
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any

from app.cli.output import progress

if TYPE_CHECKING:
    from app.config import Settings


async def _with_cipher(settings: Settings, work: str, batch_size: int) -> Any:
    from app.security.encryption import key_usage, reencrypt
    from app.state import open_state

    async with open_state(settings) as state:
        if work == "status":
            return await key_usage(state.database, state.cipher)
        return await reencrypt(
            state.database, state.cipher, batch_size=batch_size, progress=progress
        )


def _named(label: str, fingerprints: list[str]) -> str:
    """``key N`` with the key's fingerprint: ``key 1 [3f9a0c12]``."""
    if label.startswith("key "):
        position = int(label.removeprefix("key ")) - 1
        if 0 <= position < len(fingerprints):
            return f"{label} [{fingerprints[position]}]"
    return label


def _status(settings: Settings, _args: argparse.Namespace) -> int:
    from app.security.encryption import key_fingerprints

    usage = asyncio.run(_with_cipher(settings, "status", 0))
    fingerprints = key_fingerprints(settings)
    for column, counts in usage.items():
        summary = ", ".join(
            f"{_named(label, fingerprints)}: {count}" for label, count in sorted(counts.items())
        )
        print(f"{column:<24} {summary or 'no rows'}")
    return 0


def _rewrite(settings: Settings, args: argparse.Namespace) -> int:
    rewritten = asyncio.run(_with_cipher(settings, "rewrite", args.batch_size))
    total = sum(rewritten.values())
    print(f"{total} value(s) now encrypted under the newest key")
    return 0


def register(commands: Any) -> None:
    """Add the ``encryption`` command group to the CLI parser."""
    encryption = commands.add_parser("encryption", help="field encryption at rest")
    enc_commands = encryption.add_subparsers(dest="encryption_command", required=True)
    enc_commands.add_parser(
        "status", help="rows per key, each key named by its fingerprint"
    ).set_defaults(handler=_status)
    for name, text in (
        ("rotate", "re-encrypt every value under the newest AUTH_ENCRYPTION_KEY (online)"),
        (
            "enable",
            "encrypt a plaintext database (online once the service runs with encryption on)",
        ),
    ):
        command = enc_commands.add_parser(name, help=text)
        command.add_argument(
            "--batch-size",
            dest="batch_size",
            type=int,
            default=500,
            help="rows per transaction (default: 500)",
        )
        command.set_defaults(handler=_rewrite)
