"""``auth-server tokens prune`` removes token state that can no longer matter, and
``auth-server audit export --output`` writes an owner-only file."""

from __future__ import annotations

import os
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

from jose import jwt
from sqlalchemy import update

from app.models import RefreshToken, RetiredClientKey, TokenFamily
from tests.databases import DIRECT_ACCESS
from tests.protection.helpers import PrivateDatabase, fetch, http_client, running, state

LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)


async def _count(app: object, table: str) -> int:
    assert table in {"refresh_tokens", "token_families", "retired_client_keys", "tenants"}
    rows = await fetch(app, f"SELECT count(*) AS n FROM {table}")  # type: ignore[arg-type]  # noqa: S608
    return int(rows[0]["n"])


async def test_prune_expired_token_state(private_database: PrivateDatabase) -> None:
    old_key, fresh_key = str(uuid.uuid4()), str(uuid.uuid4())
    async with running(private_database.settings()) as app:
        async with http_client(app, old_key) as api:
            stale = (await api.post("/api/token")).json()
            spent = await api.post(
                "/api/token/refresh", json={"refresh_token": stale["refresh_token"]}
            )
            assert spent.status_code == 200
            assert (await api.post("/api/role/ops")).status_code == 200
            rotated = (await api.post("/api/keys/rotate")).json()["data"]["new_key"]
        async with http_client(app, fresh_key) as api:
            live = (await api.post("/api/token")).json()
        stale_family = jwt.get_unverified_claims(stale["access_token"])["fam"]
        async with state(app).database.transaction(every_tenant=DIRECT_ACCESS) as session:
            await session.execute(
                update(RefreshToken)
                .where(RefreshToken.family_id == stale_family)
                .values(expires_at=LONG_AGO)
            )
            await session.execute(
                update(TokenFamily)
                .where(TokenFamily.id == stale_family)
                .values(created_at=LONG_AGO)
            )
        assert await _count(app, "refresh_tokens") == 3
        assert await _count(app, "token_families") == 2

    pruned = await private_database.cli_in_process("tokens", "prune")
    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stdout == (
        "pruned 2 refresh token(s), 1 token famil(ies), 0 retired client key(s)\n"
    )

    async with running(private_database.settings()) as app:
        assert await _count(app, "refresh_tokens") == 1
        assert await _count(app, "token_families") == 1
        assert await _count(app, "retired_client_keys") == 1
        async with http_client(app) as anonymous:
            again = await anonymous.post(
                "/api/token/refresh", json={"refresh_token": live["refresh_token"]}
            )
            assert again.status_code == 200, again.text
        async with http_client(app, old_key) as api:
            assert (await api.get("/api/roles")).status_code == 401  # still retired
        async with state(app).database.transaction() as session:
            await session.execute(update(RetiredClientKey).values(created_at=LONG_AGO))

    kept = await private_database.cli_in_process(
        "tokens", "prune", "--retired-keys-older-than-days", "30"
    )
    assert kept.stdout.endswith(", 1 retired client key(s)\n"), kept.stdout
    refused = await private_database.cli_in_process(
        "tokens", "prune", "--retired-keys-older-than-days", "0"
    )
    assert refused.returncode == 2

    async with running(private_database.settings()) as app:
        assert await _count(app, "retired_client_keys") == 0
        async with http_client(app, old_key) as api:
            # Forgotten: the old key opens a new, empty tenant, never the old one.
            assert (await api.get("/api/roles")).json() == {"result": []}
        async with http_client(app, rotated) as api:
            assert (await api.get("/api/roles")).json()["result"][0]["role"] == "ops"


async def test_export_file_is_owner_only(private_database: PrivateDatabase, tmp_path: Path) -> None:
    async with (
        running(private_database.settings()) as app,
        http_client(app, str(uuid.uuid4())) as api,
    ):
        assert (await api.post("/api/role/ops")).status_code == 200
    fresh, existing = tmp_path / "fresh.jsonl", tmp_path / "existing.jsonl"
    existing.write_text("old content\n")
    existing.chmod(0o644)
    previous = os.umask(0o022)
    try:
        for output in (fresh, existing):
            result = await private_database.cli_in_process(
                "audit", "export", "--output", str(output)
            )
            assert result.returncode == 0, result.stderr
            assert stat.S_IMODE(output.stat().st_mode) == 0o600, output
            assert "CREATE_ROLE" in output.read_text()
            assert "old content" not in output.read_text()
    finally:
        os.umask(previous)
