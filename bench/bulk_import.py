"""Bulk import and export speed: ``auth-server import|export``'s code on a fresh database.

    python -m bench.bulk_import [--memberships 1000000] [--roles 250] [--roles-per-user 10]
                                [--backend sqlite|postgresql|both] [--encryption off|on|both]

For each configuration: a fresh database (a SQLite file in a temporary directory, or
a new PostgreSQL database on ``AUTH_TEST_POSTGRESQL_URL``, dropped afterwards),
migrated; one operator tenant; a JSON-lines body of ``--roles`` roles (two grants
each) and ``--memberships`` memberships (users in ``--roles-per-user`` roles each).
It times the import (parse, checks, writes, commit: one transaction, as
``POST /api/bulk`` does), a second import of the same body (every row already
there), and the export, and prints records per second. Never a timed assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from cryptography.fernet import Fernet

from app.bulk.admin import export_records, import_records
from app.config import Settings
from app.db.migrations import upgrade
from app.tenants.admin import create_tenant
from tests.databases import postgresql_database

KEY_HASH_SECRET = "bench-key-hash-secret-0123456789abcdef"
JWT_SECRET = "bench-jwt-signing-secret-0123456789abcdef"


def body(memberships: int, roles: int, roles_per_user: int) -> bytes:
    lines = [
        {"type": "role", "role": f"role-{r}", "description": f"Role {r}"} for r in range(roles)
    ]
    for r in range(roles):
        lines += [
            {"type": "grant", "role": f"role-{r}", "permission": f"perm-{r}-{p}"} for p in range(2)
        ]
    text = [json.dumps(line) for line in lines]
    users = max(1, memberships // roles_per_user)
    for index in range(memberships):
        user, nth = divmod(index, roles_per_user)
        role = (user * 7 + nth * 13) % roles
        text.append(
            json.dumps(
                {
                    "type": "membership",
                    "user": f"user-{user % users}@example.com",
                    "role": f"role-{role}",
                }
            )
        )
    return ("\n".join(text) + "\n").encode()


@asynccontextmanager
async def database(backend: str, directory: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'bench.sqlite3'}"
        return
    async with postgresql_database("auth_bench") as url:
        yield url


async def run(backend: str, encrypted: bool, payload: bytes, records: int) -> None:
    with tempfile.TemporaryDirectory(prefix="auth-bench-bulk-") as scratch:
        async with database(backend, Path(scratch)) as url:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                database_url=url,
                state_dir=Path(scratch),
                key_hash_secret=KEY_HASH_SECRET,
                jwt_secret_key=JWT_SECRET,
                strict_users_default=False,
                log_level="warning",
                enable_encryption=encrypted,
                encryption_key=Fernet.generate_key().decode() if encrypted else None,
            )
            await asyncio.to_thread(upgrade, settings.database)
            tenant_id, _key = await create_tenant(settings, "bench")
            label = f"{backend:<10} encryption {'on ' if encrypted else 'off'}"
            for what in ("import", "re-import"):
                started = time.perf_counter()
                await import_records(settings, tenant_id, payload)
                seconds = time.perf_counter() - started
                print(
                    f"{label}  {what:<9} {records:>9} records {seconds:7.2f} s {records / seconds:>10,.0f}/s",
                    flush=True,
                )
            output = io.BytesIO()
            started = time.perf_counter()
            exported = await export_records(settings, tenant_id, output)
            seconds = time.perf_counter() - started
            print(
                f"{label}  {'export':<9} {exported:>9} records {seconds:7.2f} s {exported / seconds:>10,.0f}/s",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memberships", type=int, default=1_000_000, help="default: 1000000")
    parser.add_argument("--roles", type=int, default=250, help="default: 250")
    parser.add_argument("--roles-per-user", type=int, default=10, help="default: 10")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--encryption", choices=["off", "on", "both"], default="both")
    args = parser.parse_args()
    payload = body(args.memberships, args.roles, args.roles_per_user)
    records = args.roles * 3 + args.memberships
    print(f"body: {len(payload) / 2**20:.1f} MiB, {records} records")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    modes = [False, True] if args.encryption == "both" else [args.encryption == "on"]
    for backend in backends:
        for encrypted in modes:
            asyncio.run(run(backend, encrypted, payload, records))


if __name__ == "__main__":
    main()
