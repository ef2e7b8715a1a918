"""Failures an operator causes get one line naming the setting, never a traceback.

Each case runs an ``auth-server`` command and checks its exit status, its last line on
standard error, and that neither a traceback nor uvicorn's "Application startup failed"
appears anywhere in its output. ``serve`` runs as a real process (a refusal that failed
would start a server); the other commands run through :func:`app.cli.main` in this
process (:func:`tests.e2e.server.run_cli_in_process`), which reports the same status and
output, an uncaught exception included (its traceback on standard error, status 1).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.server import free_port, run_cli, run_cli_in_process, server_env
from tests.protection.helpers import KEY_A, KEY_B
from tests.protection.test_startup_refusals import (
    ENCRYPTED_BUT_OFF,
    NO_KEY,
    WRONG_KEY,
    malformed,
)

pytestmark = pytest.mark.e2e


def run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``serve`` as a real process, any other command in this process."""
    if command[0] == "serve":
        return run_cli(command, env, cwd)
    return run_cli_in_process(command, env, cwd)


def refused(result: subprocess.CompletedProcess[str], status: int) -> str:
    """The one line of a refusal, after checking status and the absence of tracebacks."""
    output = result.stdout + result.stderr
    assert result.returncode == status, output
    assert "Traceback" not in output
    assert "Application startup failed" not in output
    lines = result.stderr.splitlines()
    assert lines, output
    assert all(line.startswith("auth-server: ") for line in lines), result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0].removeprefix("auth-server: ")


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_postgresql_unreachable(command: str, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://auth:s3cret@127.0.0.1:{port}/auth"
    env = server_env(tmp_path / "home", AUTH_DATABASE_URL=url, AUTH_PORT=str(free_port()))
    result = run([command], env, tmp_path)
    assert "s3cret" not in result.stdout + result.stderr
    line = refused(result, 1)
    assert line == (
        f"cannot reach the database postgresql+asyncpg://auth:***@127.0.0.1:{port}/auth: "
        f"Connect call failed ('127.0.0.1', {port}) (check AUTH_DATABASE_URL)"
    )


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_postgresql_database_missing(command: str, tmp_path: Path) -> None:
    env = server_env(
        tmp_path / "home",
        AUTH_DATABASE_TYPE="postgresql",
        AUTH_POSTGRESQL_URL="postgresql://postgres@127.0.0.1:5432/auth_no_such_database",
        AUTH_PORT=str(free_port()),
    )
    line = refused(run([command], env, tmp_path), 1)
    assert line == (
        "cannot use the database "
        "postgresql+asyncpg://postgres@127.0.0.1:5432/auth_no_such_database: "
        'database "auth_no_such_database" does not exist (check AUTH_POSTGRESQL_URL)'
    )


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_sqlite_directory_unusable(command: str, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    database = blocker / "auth.sqlite3"
    env = server_env(tmp_path / "home", AUTH_SQLITE_PATH=str(database))
    line = refused(run([command], env, tmp_path), 1)
    assert line == (
        f"cannot open the database sqlite+aiosqlite:///{database}: Not a directory: "
        f"{database} (check AUTH_SQLITE_PATH)"
    ) or line == (
        f"cannot open the database sqlite+aiosqlite:///{database}: File exists: "
        f"{blocker} (check AUTH_SQLITE_PATH)"
    )


def test_serve_with_unusable_encryption_settings(tmp_path: Path) -> None:
    env = server_env(
        tmp_path / "home",
        AUTH_SQLITE_PATH=str(tmp_path / "auth.sqlite3"),
        AUTH_PORT=str(free_port()),
    )
    assert run(["migrate"], env, tmp_path).returncode == 0
    on = {**env, "AUTH_ENABLE_ENCRYPTION": "true"}
    assert refused(run(["serve"], on, tmp_path), 2) == NO_KEY
    bad = {**on, "AUTH_ENCRYPTION_KEY": "not-a-key"}
    assert refused(run(["serve"], bad, tmp_path), 2) == malformed(1)
    # The canary is written under key A, by any command that opens the database.
    status = run(["encryption", "status"], {**on, "AUTH_ENCRYPTION_KEY": KEY_A}, tmp_path)
    assert status.returncode == 0, status.stderr

    wrong = run(["serve"], {**on, "AUTH_ENCRYPTION_KEY": KEY_B}, tmp_path)
    assert refused(wrong, 2) == WRONG_KEY
    assert refused(run(["serve"], env, tmp_path), 2) == ENCRYPTED_BUT_OFF
    assert KEY_A not in wrong.stdout + wrong.stderr
    assert KEY_B not in wrong.stdout + wrong.stderr


def test_secrets_directory_not_writable(tmp_path: Path) -> None:
    """The development secrets cannot be written (a read-only directory in a container;
    here a path beneath a regular file, which fails the same way for any user)."""
    blocker = tmp_path / "read-only"
    blocker.write_text("")
    state_dir = blocker / "state"
    env = server_env(
        tmp_path / "home",
        AUTH_SQLITE_PATH=str(tmp_path / "auth.sqlite3"),
        AUTH_STATE_DIR=str(state_dir),
        AUTH_PORT=str(free_port()),
    )
    for command in (["serve"], ["tenant", "list"]):
        line = refused(run(command, env, tmp_path), 2)
        assert line.startswith(
            f"cannot write the development secrets file {state_dir / '.auth-secrets.json'} ("
        )
        assert line.endswith(
            "): set AUTH_STATE_DIR to a writable directory, "
            "or set AUTH_KEY_HASH_SECRET, AUTH_JWT_SECRET_KEY"
        )
