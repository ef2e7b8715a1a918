"""``auth-server audit ...``: the tamper-evident trail, for operators.

audit query [--action A] [--hours H] [--entity-type T] [--tenant ID|KEY] [--limit N]
audit verify [--tenant ID|KEY] [--since-head FILE] [--sign]
                      exit 1 and name each break; --since-head also checks the
                      heads of an `audit head` document; --sign first signs
                      pre-0005 heads that verify
audit head            print a signed head document (keep it elsewhere)
audit export [--output FILE] [--since ISO]   JSON lines, oldest first
audit prune --older-than-days N              keeps the chains verifiable
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.cli.output import progress, say

if TYPE_CHECKING:
    from app.config import Settings


def _query(settings: Settings, args: argparse.Namespace) -> int:
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


def _verify(settings: Settings, args: argparse.Namespace) -> int:
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


def _head(settings: Settings, _args: argparse.Namespace) -> int:
    from app.audit.admin import signed_head_document

    document, breaks = asyncio.run(signed_head_document(settings))
    if breaks:
        for problem in breaks:
            print(f"audit trail broken at {problem}", file=sys.stderr)
        print("auth-server: no head document for a broken trail", file=sys.stderr)
        return 1
    print(json.dumps(document, indent=2, sort_keys=True))
    return 0


def _export(settings: Settings, args: argparse.Namespace) -> int:
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


def _prune(settings: Settings, args: argparse.Namespace) -> int:
    from app.audit.admin import prune_trail

    removed = asyncio.run(prune_trail(settings, args.older_than_days, progress))
    print(f"pruned {sum(removed.values())} audit rows from {len(removed)} chain(s)")
    return 0


TENANT_HELP = "tenant id or client key (default: every tenant)"


def register(commands: Any) -> None:
    """Add the ``audit`` command group to the CLI parser."""
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
    query.set_defaults(handler=_query)
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
    verify.set_defaults(handler=_verify)
    head = audit_commands.add_parser("head", help="print a signed head document (JSON)")
    head.set_defaults(handler=_head)
    export = audit_commands.add_parser("export", help="JSON lines for log aggregation")
    export.add_argument("--output", help="file to write (default: standard output)")
    export.add_argument("--since", help="ISO-8601 time; only newer rows (default: every row)")
    export.set_defaults(handler=_export)
    prune_cmd = audit_commands.add_parser("prune", help="delete old rows, keep chains verifiable")
    prune_cmd.add_argument(
        "--older-than-days",
        dest="older_than_days",
        type=int,
        required=True,
        help="delete rows older than N days, N >= 1 (required, no default)",
    )
    prune_cmd.set_defaults(handler=_prune)
