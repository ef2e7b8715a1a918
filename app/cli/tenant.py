"""``auth-server tenant ...``: closed registration and the operator's way back in.

tenant create [--label L]   create a tenant; prints its client key once
tenant list                 list tenants (never their keys)
tenant rekey ID             give the tenant a new client key, printed once; its old
                            key, rotate key and tokens are refused from then on
tenant disable ID           refuse the tenant's key and tokens from now on
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.config import Settings


def _create(settings: Settings, args: argparse.Namespace) -> int:
    from app.tenants.admin import create_tenant

    tenant_id, client_key = asyncio.run(create_tenant(settings, args.label))
    print(f"tenant {tenant_id} created; its client key (shown once, store it now):")
    print(client_key)
    return 0


def _list(settings: Settings, _args: argparse.Namespace) -> int:
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


def _rekey(settings: Settings, args: argparse.Namespace) -> int:
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


def _disable(settings: Settings, args: argparse.Namespace) -> int:
    from app.tenants.admin import disable

    if not asyncio.run(disable(settings, args.tenant_id)):
        print(f"auth-server: no tenant with id {args.tenant_id}", file=sys.stderr)
        return 1
    print(f"tenant {args.tenant_id} disabled: its client key and tokens are refused")
    return 0


def _label(value: str) -> str:
    if not 1 <= len(value) <= 64 or not value.isprintable():
        raise argparse.ArgumentTypeError("a label is 1-64 printable characters")
    return value


def register(commands: Any) -> None:
    """Add the ``tenant`` command group to the CLI parser."""
    tenant = commands.add_parser("tenant", help="manage tenants (closed registration)")
    tenant_commands = tenant.add_subparsers(dest="tenant_command", required=True)
    create = tenant_commands.add_parser("create", help="create a tenant, print its key once")
    create.add_argument(
        "--label",
        default=None,
        type=_label,
        help="a name for operators, 1-64 printable characters (default: none)",
    )
    create.set_defaults(handler=_create)
    tenant_commands.add_parser("list", help="list tenants").set_defaults(handler=_list)
    rekey_cmd = tenant_commands.add_parser(
        "rekey", help="give a tenant a new client key, print it once (old key, tokens die)"
    )
    rekey_cmd.add_argument("tenant_id", type=int, help="the tenant's id (see tenant list)")
    rekey_cmd.set_defaults(handler=_rekey)
    disable_cmd = tenant_commands.add_parser("disable", help="disable a tenant")
    disable_cmd.add_argument("tenant_id", type=int, help="the tenant's id (see tenant list)")
    disable_cmd.set_defaults(handler=_disable)
