"""The runbook's "Restore from a backup", followed as written against real processes.

A live service (development secrets generated beside its SQLite file, encryption on)
serves a tenant; ``auth-server backup --with-secrets`` copies it while it runs. The
runbook's restore block then runs in ``bash`` in a clean environment (paths moved into
a temporary directory); the restored service starts with what that block exported,
the old client key still reaches its data, and ``audit verify`` passes. Started
without the secrets, a copy is refused in one line: by ``serve`` as a real process, and
by ``audit verify`` and ``tenant list`` run, like that copy's set-up, through
:func:`app.cli.main` in this process (:func:`tests.e2e.server.run_cli_in_process`).
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.doc_blocks import section_blocks
from tests.e2e.server import ServerProcess, free_port, run_cli, run_cli_in_process, server_env

pytestmark = pytest.mark.e2e

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"
ROLES = [{"role": "editors", "description": "Publishes"}]


def shell_blocks(heading: str) -> list[str]:
    return [block.code for block in section_blocks(RUNBOOK, heading) if block.language == "sh"]


def relocate(code: str, root: Path) -> str:
    """The runbook's absolute paths, moved under ``root``."""
    return code.replace("/backups/", f"{root}/backups/").replace("/srv/auth", f"{root}/srv/auth")


def bash(code: str, env: dict[str, str], cwd: Path) -> tuple[str, dict[str, str]]:
    """Run ``code`` with ``set -eu``; its standard output and its final environment."""
    dump = cwd / "env.after"
    script = f"set -eu\n{code}\nenv -0 > {shlex.quote(str(dump))}\n"
    result = subprocess.run(
        ["bash", "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    pairs = [item.split("=", 1) for item in dump.read_text().split("\0") if "=" in item]
    return result.stdout, dict(pairs)


def with_cli_on_path(env: dict[str, str]) -> dict[str, str]:
    return {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}


def test_restore_from_backup_as_the_runbook_says(tmp_path: Path) -> None:
    live_dir = tmp_path / "live"
    live_dir.mkdir()
    (tmp_path / "backups").mkdir()
    live_env = with_cli_on_path(
        server_env(
            tmp_path / "live-home",
            AUTH_PORT=str(free_port()),
            AUTH_SQLITE_PATH=str(live_dir / "auth.sqlite3"),
            AUTH_ENABLE_ENCRYPTION="true",
            AUTH_ENCRYPTION_KEY=Fernet.generate_key().decode(),
            AUTH_STRICT_USERS_DEFAULT="false",
        )
    )
    client_key = str(uuid.uuid4())
    headers = {"Authorization": f"Bearer {client_key}"}
    [take] = shell_blocks("## Take the backup")
    with (
        ServerProcess(live_dir, live_env) as live,
        httpx.Client(base_url=live.url, headers=headers, timeout=10.0) as api,
    ):
        assert api.post("/api/role/editors", json={"description": "Publishes"}).json() == {
            "result": True
        }
        assert api.post("/api/membership/alice/editors").json() == {"result": True}
        written, _ = bash(relocate(take, tmp_path), live_env, live_dir)
    backup = tmp_path / "backups" / "auth.sqlite3"
    secrets_file = tmp_path / "backups" / "auth.sqlite3.secrets.env"
    assert written.splitlines()[0] == f"backup {backup} written (mode 0600)"
    assert written.splitlines()[-2] == (
        "secrets: restore it with the same "
        f"AUTH_KEY_HASH_SECRET ({live_dir / '.auth-secrets.json'}), "
        f"AUTH_JWT_SECRET_KEY ({live_dir / '.auth-secrets.json'}), "
        "AUTH_ENCRYPTION_KEY (configured)"
    )
    assert written.splitlines()[-1] == f"secrets: written to {secrets_file} (mode 0600)"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert live_env["AUTH_ENCRYPTION_KEY"] in secrets_file.read_text()

    # Elsewhere: a clean environment, no secrets of the live service.
    elsewhere = tmp_path / "elsewhere"
    clean = with_cli_on_path(server_env(elsewhere / "home"))
    restore, check = shell_blocks("## Restore it elsewhere")
    output, restored_env = bash(relocate(restore, tmp_path), clean, elsewhere)
    restored = tmp_path / "srv" / "auth" / "auth.sqlite3"
    assert restored_env["AUTH_SQLITE_PATH"] == str(restored)
    assert stat.S_IMODE(restored.stat().st_mode) == 0o600
    assert output.splitlines()[0] == f"backup {restored} verified"
    assert output.splitlines()[-1] == "audit trail intact"

    serve_line, curl_line = check.splitlines()
    assert serve_line == "auth-server serve"
    restored_env["AUTH_PORT"] = str(free_port())
    with ServerProcess(elsewhere, restored_env) as server:
        roles, _ = bash(
            curl_line, {**restored_env, "AUTH_URL": server.url, "CLIENT_KEY": client_key}, elsewhere
        )
        assert httpx.Response(200, content=roles).json() == {"result": ROLES}
        members = httpx.get(f"{server.url}/api/members/editors", headers=headers)
        assert members.json() == {"result": [{"user": "alice", "role": "editors"}]}
    assert not (restored.parent / ".auth-secrets.json").exists()  # nothing generated


def test_a_restore_without_its_secrets_is_refused(tmp_path: Path) -> None:
    live = tmp_path / "live" / "auth.sqlite3"
    env = server_env(tmp_path / "home", AUTH_SQLITE_PATH=str(live))
    assert run_cli_in_process(["migrate"], env, tmp_path).returncode == 0
    assert run_cli_in_process(["tenant", "create"], env, tmp_path).returncode == 0
    copy = tmp_path / "copy.sqlite3"
    assert run_cli_in_process(["backup", str(copy)], env, tmp_path).returncode == 0

    elsewhere = server_env(tmp_path / "home2", AUTH_SQLITE_PATH=str(copy))
    for command in (["serve"], ["audit", "verify"], ["tenant", "list"]):
        run = run_cli if command == ["serve"] else run_cli_in_process
        result = run(command, elsewhere, tmp_path)  # serve logs to standard output
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stderr.splitlines() == [
            "auth-server: refusing to generate new AUTH_KEY_HASH_SECRET and "
            "AUTH_JWT_SECRET_KEY for a database that already has tenants (their client keys "
            "would stop matching and the audit trail would fail verification): set "
            "AUTH_KEY_HASH_SECRET and AUTH_JWT_SECRET_KEY to the values this database was "
            "written with (a backup's .secrets.env), or put its secrets file at "
            f"{tmp_path / '.auth-secrets.json'}"
        ]
    assert not (tmp_path / ".auth-secrets.json").exists()
