"""``auth-server backup``: an online SQLite copy, its restore check, and a real restore.

The commands run through :func:`app.cli.main` in this process
(:func:`tests.e2e.server.run_cli_in_process`): their output, exit status and files are
the subject; the console script itself is run by ``tests/deploy/test_restore.py``."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.config import Settings
from app.db.backup import BackupError, BackupReport, backup, secrets_path_for, verify_backup
from app.db.migrations import head_revision, upgrade
from app.main import create_app
from tests.api.helpers import assert_bare, assert_wrapped
from tests.conftest import make_settings
from tests.databases import sqlite_target
from tests.e2e.server import run_cli_in_process, server_env

ROLES = [
    {"role": "admins", "description": None},
    {"role": "engineers", "description": None},
]


@asynccontextmanager
async def serving(settings: Settings, client_key: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its real lifespan, and a client of one tenant."""
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {client_key}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=headers
        ) as api:
            yield api


async def populate(api: httpx.AsyncClient) -> None:
    for role in ("engineers", "admins"):
        assert_bare(await api.post(f"/api/role/{role}"), True)
    assert_bare(await api.post("/api/membership/alice/engineers"), True)
    assert_bare(await api.post("/api/permission/engineers/deploy"), True)


def sorted_roles(response: httpx.Response) -> list[dict[str, object]]:
    assert response.status_code == 200, response.text
    return sorted(response.json()["result"], key=lambda item: str(item["role"]))


def sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


@pytest.fixture
async def live_settings(tmp_path: Path) -> Settings:
    target = sqlite_target(tmp_path / "live")
    await asyncio.to_thread(upgrade, target)
    return make_settings(target, tmp_path / "state")


async def test_backup_while_serving_then_restore(live_settings: Settings, tmp_path: Path) -> None:
    live = Path(str(live_settings.database.url.database))
    copy = tmp_path / "auth-backup.sqlite3"
    client_key = str(uuid.uuid4())

    async with serving(live_settings, client_key) as api:
        await populate(api)
        # The service is open and its writes are still in the write-ahead log.
        assert live.with_name(live.name + "-wal").stat().st_size > 0
        report = await asyncio.to_thread(backup, live_settings, copy)
        assert_bare(await api.post("/api/role/interns"), True)  # after the backup

    verified = BackupReport(
        path=copy,
        integrity="ok",
        revision=str(head_revision()),
        counts={"tenants": 1, "roles": 2, "memberships": 1, "grants": 1},
    )
    secrets = dict.fromkeys(["AUTH_KEY_HASH_SECRET", "AUTH_JWT_SECRET_KEY"], "configured")
    if live_settings.enable_encryption:
        secrets["AUTH_ENCRYPTION_KEY"] = "configured"
    assert report == replace(verified, secrets=secrets, written=True)
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert [path for path in sidecars(copy) if path.exists()] == []  # self-contained
    assert not secrets_path_for(copy).exists()  # only with --with-secrets
    assert verify_backup(copy) == verified

    # Restore: the service is stopped; the file and its sidecars are replaced.
    for path in [live, *sidecars(live)]:
        path.unlink(missing_ok=True)
    shutil.copyfile(copy, live)
    os.chmod(live, 0o600)

    async with serving(live_settings, client_key) as api:
        assert sorted_roles(await api.get("/api/roles")) == ROLES  # no "interns"
        assert_wrapped(await api.get("/api/has_permission/alice/deploy"), {"has_permission": True})
        assert_bare(
            await api.get("/api/user_roles/alice"), [{"user": "alice", "role": "engineers"}]
        )


async def test_backup_never_overwrites(live_settings: Settings, tmp_path: Path) -> None:
    existing = tmp_path / "existing.sqlite3"
    existing.write_bytes(b"keep me")
    with pytest.raises(BackupError, match=r"existing\.sqlite3 exists; backups never overwrite"):
        backup(live_settings, existing)
    assert existing.read_bytes() == b"keep me"


def test_verify_refuses_what_is_not_a_sound_backup(tmp_path: Path) -> None:
    missing = tmp_path / "missing.sqlite3"
    with pytest.raises(BackupError, match=r"^no backup file at .*missing\.sqlite3$"):
        verify_backup(missing)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(
        BackupError, match="is not a readable auth database: file is not a database"
    ):
        verify_backup(junk)


async def test_verify_refuses_another_schema_revision(tmp_path: Path) -> None:
    target = sqlite_target(tmp_path, "old.sqlite3")
    await asyncio.to_thread(upgrade, target, "0001")
    with pytest.raises(BackupError, match=r"is at schema revision 0001 but this release needs"):
        verify_backup(Path(str(target.url.database)))


async def test_cli_backup_and_verify(live_settings: Settings, tmp_path: Path) -> None:
    async with serving(live_settings, str(uuid.uuid4())) as api:
        await populate(api)
        env = server_env(
            tmp_path / "home", AUTH_SQLITE_PATH=str(live_settings.database.url.database)
        )
        copy = tmp_path / "cli-backup.sqlite3"
        written = await asyncio.to_thread(run_cli_in_process, ["backup", str(copy)], env, tmp_path)

    rows = "rows: tenants=1 roles=2 memberships=1 grants=1"
    revision = f"revision: {head_revision()} (head)"
    assert (written.returncode, written.stderr) == (0, "")  # progress: on a terminal only
    assert written.stdout.splitlines() == [
        f"backup {copy} written (mode 0600)",
        "integrity: ok",
        revision,
        rows,
        "secrets: none configured for this command; restore it with the "
        "AUTH_KEY_HASH_SECRET (and AUTH_ENCRYPTION_KEY) the service uses",
    ]
    verified = run_cli_in_process(["backup", "--verify", str(copy)], env, tmp_path)
    assert (verified.returncode, verified.stderr) == (0, "")
    assert verified.stdout.splitlines() == [
        f"backup {copy} verified",
        "integrity: ok",
        revision,
        rows,
    ]
    again = run_cli_in_process(["backup", str(copy)], env, tmp_path)
    assert (again.returncode, again.stdout) == (1, "")
    assert again.stderr == (
        f"auth-server: backup failed: {copy} exists; backups never overwrite a file\n"
    )


def test_cli_points_postgresql_to_pg_dump(tmp_path: Path) -> None:
    env = server_env(
        tmp_path / "home",
        AUTH_DATABASE_URL="postgresql://auth_owner:s3cret@db.internal:5432/auth?sslmode=require",
    )
    result = run_cli_in_process(["backup", "/backups/auth.dump"], env, tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        "auth-server: backup copies SQLite databases only; this database is PostgreSQL. "
        "Back it up with pg_dump (password from PGPASSWORD or ~/.pgpass):",
        "  pg_dump --format=custom --file=/backups/auth.dump "
        "'--dbname=postgresql://auth_owner@db.internal:5432/auth?sslmode=require'",
        "and check the dump with: pg_restore --list /backups/auth.dump",
    ]
    assert "s3cret" not in result.stderr


async def test_backup_with_secrets(live_settings: Settings, tmp_path: Path) -> None:
    """``--with-secrets`` writes what the copy needs, 0600, as lines a shell can source;
    an existing secrets file is never overwritten and then no copy is left behind."""
    live = str(live_settings.database.url.database)
    configured = {
        "AUTH_KEY_HASH_SECRET": "k" * 40,
        "AUTH_JWT_SECRET_KEY": "it's $secret " + "j" * 30,  # quotes and shell syntax
        "AUTH_AUDIT_KEY": "a" * 40,
    }
    env = server_env(tmp_path / "home", AUTH_SQLITE_PATH=live, **configured)
    copy = tmp_path / "with-secrets.sqlite3"
    written = run_cli_in_process(["backup", "--with-secrets", str(copy)], env, tmp_path)
    assert written.returncode == 0, written.stderr
    secrets_file = secrets_path_for(copy)
    assert written.stdout.splitlines()[-2:] == [
        "secrets: restore it with the same AUTH_KEY_HASH_SECRET (configured), "
        "AUTH_JWT_SECRET_KEY (configured), AUTH_AUDIT_KEY (configured)",
        f"secrets: written to {secrets_file} (mode 0600)",
    ]
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    for value in configured.values():
        assert value not in written.stdout + written.stderr
    sourced = (
        await asyncio.to_thread(
            subprocess.run,
            ["bash", "-c", f"set -a; . {secrets_file}; set +a; env -0"],
            env={"PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
            check=True,
        )
    ).stdout
    exported = dict(item.split("=", 1) for item in sourced.split("\0") if "=" in item)
    assert {name: exported[name] for name in configured} == configured

    second = tmp_path / "second.sqlite3"
    secrets_path_for(second).write_text("keep me")
    refused = run_cli_in_process(["backup", "--with-secrets", str(second)], env, tmp_path)
    assert refused.returncode == 1
    assert refused.stderr == (
        f"auth-server: backup failed: {secrets_path_for(second)} exists; "
        "backups never overwrite a file\n"
    )
    assert not second.exists()
    assert secrets_path_for(second).read_text() == "keep me"
