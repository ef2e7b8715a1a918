"""``auth-server audit ...`` and ``auth-server encryption ...`` (operators).

audit query [--action A] [--hours H] [--entity-type T] [--tenant ID|KEY] [--limit N]
audit verify [--tenant ID|KEY] [--since-head FILE] [--sign]
                                      exit 1 and name each break; --since-head also
                                      checks the heads of an `audit head` document;
                                      --sign first signs pre-0005 heads that verify
audit head                            print a signed head document (keep it elsewhere)
audit export [--output FILE] [--since ISO]   JSON lines, oldest first
audit prune --older-than-days N       keeps the chains verifiable
tokens prune [--retired-keys-older-than-days N]
                                      expired refresh tokens and their families;
                                      retired client keys only when asked
encryption status                     rows per key (with each key's fingerprint)
encryption rotate [--batch-size N]    re-encrypt everything under the newest key
encryption enable [--batch-size N]    encrypt a plaintext database; a service running
                                      meanwhile must already have encryption on

Results go to standard output, notes ("nothing matched") to standard error. Long
work (verify, export, prune, rotate, enable, backup) shows its progress on standard
error when that is a terminal; redirected to a file or a pipe, it stays quiet.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.config import Settings


def say(message: str) -> None:
    """A note for the operator on standard error (never mixed into results)."""
    print(f"auth-server: {message}", file=sys.stderr, flush=True)


def step(message: str) -> None:
    """What a long job is doing now (on a terminal only)."""
    if sys.stderr.isatty():
        say(message)


def progress(what: str, done: int, total: int) -> None:
    """A progress bar on standard error, redrawn in place, a newline once complete
    (on a terminal only)."""
    if not sys.stderr.isatty():
        return
    width = 30
    filled = width if total == 0 else int(width * min(done, total) / total)
    bar = "#" * filled + "-" * (width - filled)
    end = "\n" if done >= total else ""
    print(f"\r{what:<24} [{bar}] {done}/{total}", end=end, file=sys.stderr, flush=True)


def _audit_query(settings: Settings, args: argparse.Namespace) -> int:
    from app.audit.admin import query_entries

    rows = asyncio.run(
        query_entries(
            settings,
            action=args.action,
            hours=args.hours,
            entity_type=args.entity_type,
            tenant=args.tenant,
            limit=args.limit,
        )
    )
    for row in rows:
        print(json.dumps(row, sort_keys=True))
    if not rows:
        say("no audit entries matched")
    return 0


def _audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    from app.audit.admin import sign_unsigned_heads, verify_trail

    since_head = None
    if args.since_head:
        try:
            with open(args.since_head, encoding="utf-8") as document:
                since_head = document.read()
        except OSError as exc:
            print(f"auth-server: cannot read {args.since_head}: {exc.strerror}", file=sys.stderr)
            return 2
    if args.sign:
        for chain_id, seq in asyncio.run(sign_unsigned_heads(settings)):
            print(f"signed the head of chain {chain_id} (seq {seq})")
    breaks = asyncio.run(
        verify_trail(settings, args.tenant, since_head=since_head, progress=progress)
    )
    if not breaks:
        print("audit trail intact")
        return 0
    for problem in breaks:
        print(f"audit trail broken at {problem}", file=sys.stderr)
    return 1


def _audit_head(settings: Settings, _args: argparse.Namespace) -> int:
    from app.audit.admin import signed_head_document

    document, breaks = asyncio.run(signed_head_document(settings))
    if breaks:
        for problem in breaks:
            print(f"audit trail broken at {problem}", file=sys.stderr)
        print("auth-server: no head document for a broken trail", file=sys.stderr)
        return 1
    print(json.dumps(document, indent=2, sort_keys=True))
    return 0


def _audit_export(settings: Settings, args: argparse.Namespace) -> int:
    from app.audit.admin import export_trail

    since = datetime.fromisoformat(args.since) if args.since else None
    if args.output:
        # Owner-only from the first byte (the trail names tenants' events); an
        # existing file is narrowed to 0600 before it is rewritten.
        descriptor = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as output:
            count = asyncio.run(export_trail(settings, output, since=since, progress=progress))
    else:
        count = asyncio.run(export_trail(settings, sys.stdout, since=since, progress=progress))
    print(f"exported {count} audit rows", file=sys.stderr)
    return 0


def _audit_prune(settings: Settings, args: argparse.Namespace) -> int:
    from app.audit.admin import prune_trail

    removed = asyncio.run(prune_trail(settings, args.older_than_days, progress))
    print(f"pruned {sum(removed.values())} audit rows from {len(removed)} chain(s)")
    return 0


def _tokens_prune(settings: Settings, args: argparse.Namespace) -> int:
    from app.runtime import open_state
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


async def _with_cipher(settings: Settings, work: str, batch_size: int) -> Any:
    from app.runtime import open_state
    from app.security.encryption import key_usage, reencrypt

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


def _encryption_status(settings: Settings, _args: argparse.Namespace) -> int:
    from app.security.encryption import key_fingerprints

    usage = asyncio.run(_with_cipher(settings, "status", 0))
    fingerprints = key_fingerprints(settings)
    for column, counts in usage.items():
        summary = ", ".join(
            f"{_named(label, fingerprints)}: {count}" for label, count in sorted(counts.items())
        )
        print(f"{column:<24} {summary or 'no rows'}")
    return 0


def _encryption_rewrite(settings: Settings, args: argparse.Namespace) -> int:
    rewritten = asyncio.run(_with_cipher(settings, "rewrite", args.batch_size))
    total = sum(rewritten.values())
    print(f"{total} value(s) now encrypted under the newest key")
    return 0


TENANT_HELP = "tenant id or client key (default: every tenant)"


def register(commands: Any) -> None:
    """Add the ``audit``, ``tokens`` and ``encryption`` command groups to the CLI parser."""
    audit = commands.add_parser(
        "audit", help="query, verify, anchor, export or prune the audit trail"
    )
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    query = audit_commands.add_parser("query", help="print matching entries as JSON lines")
    query.add_argument(
        "--action",
        help="an action (DELETE_ROLE) or a word of one (delete) (default: every action)",
    )
    query.add_argument("--hours", type=float, help="only the last H hours (default: all time)")
    query.add_argument(
        "--entity-type", dest="entity_type", help="role, membership, ... (default: every type)"
    )
    query.add_argument("--tenant", help=TENANT_HELP)
    query.add_argument(
        "--limit", type=int, default=100, help="newest N entries at most (default: 100)"
    )
    query.set_defaults(handler=_audit_query)
    verify = audit_commands.add_parser("verify", help="check the hash chains")
    verify.add_argument("--tenant", help=TENANT_HELP)
    verify.add_argument(
        "--since-head",
        dest="since_head",
        help="a document of `audit head` to check against (default: none)",
    )
    verify.add_argument(
        "--sign",
        action="store_true",
        help="sign pre-0005 heads whose rows verify, once after upgrading (default: off)",
    )
    verify.set_defaults(handler=_audit_verify)
    head = audit_commands.add_parser("head", help="print a signed head document (JSON)")
    head.set_defaults(handler=_audit_head)
    export = audit_commands.add_parser("export", help="JSON lines for log aggregation")
    export.add_argument("--output", help="file to write (default: standard output)")
    export.add_argument("--since", help="ISO-8601 time; only newer rows (default: every row)")
    export.set_defaults(handler=_audit_export)
    prune_cmd = audit_commands.add_parser("prune", help="delete old rows, keep chains verifiable")
    prune_cmd.add_argument(
        "--older-than-days",
        dest="older_than_days",
        type=int,
        required=True,
        help="delete rows older than N days, N >= 1 (required, no default)",
    )
    prune_cmd.set_defaults(handler=_audit_prune)

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
    tokens_prune.set_defaults(handler=_tokens_prune)

    encryption = commands.add_parser("encryption", help="field encryption at rest")
    enc_commands = encryption.add_subparsers(dest="encryption_command", required=True)
    enc_commands.add_parser(
        "status", help="rows per key, each key named by its fingerprint"
    ).set_defaults(handler=_encryption_status)
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
        command.set_defaults(handler=_encryption_rewrite)
