"""Turning encryption on for a plaintext database, then rotating its key, offline.

The service writes the data with encryption off, and serves it unchanged once
restarted with encryption on; ``auth-server encryption enable`` (a real process)
encrypts it under key A; ``encryption status`` counts the rows per
key; with ``AUTH_ENCRYPTION_KEY="B,A"``, ``encryption rotate`` moves every value to
key B, after which B alone serves the same answers and A alone is refused. Status and
rotate run through the CLI's entry point in this process (the rotation of a real
process against a live server is in ``test_online_rotation``).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter

from cryptography.fernet import Fernet
from fastapi import FastAPI

from app.security.encryption import ENCRYPTED_COLUMNS, key_usage, reencrypt
from tests.protection.dataset import Dataset, check_answers, populate
from tests.protection.helpers import (
    ENCRYPTED_PREFIX,
    KEY_A,
    KEY_B,
    PrivateDatabase,
    fetch,
    http_client,
    running,
    state,
)
from tests.protection.test_startup_refusals import WRONG_KEY, refusal

CLIENT_KEY = "0b7f3c1e-8d2a-4c55-9e61-2f4a7b9c3d10"
COLUMNS = [
    "memberships.user_name",
    "grants.permission",
    "api_keys.user_name",
    "api_keys.label",
    "roles.description",
    "audit_log.resource",
]


def parse_status(output: str) -> dict[str, dict[str, int]]:
    """``encryption status`` output: column -> {"key 1": rows, ...} (fingerprints, as in
    ``key 1 [3f9a0c12]``, left out; :func:`status_fingerprints` reads them)."""
    usage: dict[str, dict[str, int]] = {}
    for line in output.splitlines():
        column, summary = line.split(None, 1)
        counts: dict[str, int] = {}
        if summary != "no rows":
            for part in summary.split(", "):
                label, count = part.rsplit(": ", 1)
                counts[re.sub(r" \[[0-9a-f]{8}\]$", "", label)] = int(count)
        usage[column] = counts
    return usage


def status_fingerprints(output: str) -> set[str]:
    """Every ``key N [fingerprint]`` named in ``encryption status`` output."""
    return set(re.findall(r"key \d+ \[[0-9a-f]{8}\]", output))


def fingerprint(key: str) -> str:
    """The documented fingerprint of a Fernet key (computed independently here)."""
    return hashlib.sha256(b"auth fernet key fingerprint v1:" + key.encode()).hexdigest()[:8]


def usage_under(label: str, data: Dataset) -> dict[str, dict[str, int]]:
    return {column: {label: count} for column, count in data.counts().items()}


async def stored_under(app: FastAPI, key: str) -> Counter[str]:
    """Values per encrypted column; every one must open with ``key`` alone."""
    fernet = Fernet(key)
    found: Counter[str] = Counter()
    for column in COLUMNS:
        table, name = column.split(".")
        sql = f"SELECT {name} AS v FROM {table} WHERE {name} IS NOT NULL"  # noqa: S608
        for row in await fetch(app, sql):
            assert row["v"].startswith(ENCRYPTED_PREFIX)
            fernet.decrypt(row["v"].removeprefix(ENCRYPTED_PREFIX).encode())
            found[column] += 1
    return found


async def test_enable_then_rotate(private_database: PrivateDatabase) -> None:
    database = private_database
    data = Dataset()
    total = sum(data.counts().values())
    assert [column.name for column in ENCRYPTED_COLUMNS] == COLUMNS

    async with running(database.settings()) as app, http_client(app, CLIENT_KEY) as api:
        await populate(api, data)
        await check_answers(api, data)
        usage = await key_usage(state(app).database, state(app).cipher)
        assert {column: dict(counts) for column, counts in usage.items()} == usage_under(
            "plaintext", data
        )

    refused = await database.cli_in_process("encryption", "enable")
    assert (refused.returncode, refused.stderr) == (
        2,
        "auth-server: set AUTH_ENABLE_ENCRYPTION=true and AUTH_ENCRYPTION_KEY first\n",
    )
    settings_a = database.settings(enable_encryption=True, encryption_key=KEY_A)
    async with running(settings_a) as app, http_client(app, CLIENT_KEY) as api:
        await check_answers(api, data)  # plaintext rows read as they are

    on = {"AUTH_ENABLE_ENCRYPTION": "true"}
    enabled = database.cli("encryption", "enable", **on, AUTH_ENCRYPTION_KEY=KEY_A)
    assert enabled.returncode == 0, enabled.stderr
    assert enabled.stdout == f"{total} value(s) now encrypted under the newest key\n"

    async with running(settings_a) as app, http_client(app, CLIENT_KEY) as api:
        await check_answers(api, data)
        assert await stored_under(app, KEY_A) == Counter(data.counts())
    # Audit rows hash their plaintext resource: encrypting them keeps every chain intact.
    verified = await database.cli_in_process("audit", "verify", **on, AUTH_ENCRYPTION_KEY=KEY_A)
    assert (verified.returncode, verified.stdout) == (0, "audit trail intact\n"), verified.stderr

    both = {**on, "AUTH_ENCRYPTION_KEY": f"{KEY_B},{KEY_A}"}
    before = await database.cli_in_process("encryption", "status", **both)
    assert before.returncode == 0, before.stderr
    assert parse_status(before.stdout) == usage_under("key 2", data)
    fingerprint_a, fingerprint_b = (fingerprint(key) for key in (KEY_A, KEY_B))
    assert status_fingerprints(before.stdout) == {f"key 2 [{fingerprint_a}]"}
    rotated = await database.cli_in_process("encryption", "rotate", "--batch-size", "3", **both)
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout == f"{total} value(s) now encrypted under the newest key\n"
    after = await database.cli_in_process("encryption", "status", **both)
    assert parse_status(after.stdout) == usage_under("key 1", data)
    verified = await database.cli_in_process("audit", "verify", **both)
    assert (verified.returncode, verified.stdout) == (0, "audit trail intact\n"), verified.stderr
    assert status_fingerprints(after.stdout) == {f"key 1 [{fingerprint_b}]"}  # rotation shows
    for key in (KEY_A, KEY_B):
        assert key not in before.stdout + after.stdout

    settings_b = database.settings(enable_encryption=True, encryption_key=KEY_B)
    async with running(settings_b) as app, http_client(app, CLIENT_KEY) as api:
        await check_answers(api, data)
        assert await stored_under(app, KEY_B) == Counter(data.counts())
        again = await reencrypt(state(app).database, state(app).cipher, batch_size=2)
        assert again == dict.fromkeys(COLUMNS, 0)
    assert await refusal(database.settings(enable_encryption=True, encryption_key=KEY_A)) == (
        WRONG_KEY
    )
