"""The CLI as an operator meets it: lazy imports behind ``--help``, every argument
described with its default, ``serve``'s flags, one log format for every command,
"nothing matched", and progress on a terminal.

``serve`` and the terminal checks run real ``auth-server`` processes; ``migrate`` and
``audit query``, whose output is the subject, run through :func:`app.cli.main` in this
process (:func:`tests.e2e.server.run_cli_in_process`)."""

from __future__ import annotations

import argparse
import json
import os
import pty
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from app.cli import build_parser
from tests.e2e.server import (
    STARTUP_TIMEOUT,
    ServerProcess,
    auth_server_executable,
    free_port,
    run_cli,
    run_cli_in_process,
    server_env,
)

pytestmark = pytest.mark.e2e

HEAVY_MODULES = ["alembic", "fastapi", "sqlalchemy", "starlette", "uvicorn", "app.config"]


def test_help_imports_nothing_heavy() -> None:
    """``--help`` and argument parsing import no database, web or settings library."""
    script = (
        "import sys\n"
        "from app.cli import build_parser\n"
        "parser = build_parser()\n"
        "parser.format_help()\n"
        "parser.parse_args(['serve', '--port', '8000'])\n"
        f"print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout == "[]\n"


def parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found.extend(parsers(child))
    return found


def test_every_argument_is_described_with_its_default() -> None:
    for parser in parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._VersionAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                continue
            where = f"{parser.prog} {action.dest}"
            assert action.help, where
            if action.option_strings or action.nargs == "?":
                assert "default" in action.help or "required" in action.help, where


def test_serve_flags_win_over_the_environment(tmp_path: Path) -> None:
    port = free_port()
    env = server_env(
        tmp_path / "home",
        AUTH_SQLITE_PATH=str(tmp_path / "auth.sqlite3"),
        AUTH_PORT=str(free_port()),  # overridden
        AUTH_HOST="192.0.2.1",  # overridden (not an address of this machine)
        AUTH_WORKERS="64",  # overridden
    )
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with ServerProcess(tmp_path, env, args=args, port=port) as server:
        assert httpx.get(f"{server.url}/health", timeout=10.0).json() == {"status": "healthy"}
    bad = run_cli(["serve", "--port", "0"], env, tmp_path)
    assert (bad.returncode, bad.stderr) == (
        2,
        "auth-server: invalid configuration: AUTH_PORT: "
        "Input should be greater than or equal to 1\n",
    )


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_migrate_logs_like_serve(log_format: str, tmp_path: Path) -> None:
    env = server_env(
        tmp_path / "home",
        AUTH_SQLITE_PATH=str(tmp_path / "auth.sqlite3"),
        AUTH_LOG_FORMAT=log_format,
    )
    result = run_cli_in_process(["migrate"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert any("Running upgrade" in line for line in lines), result.stderr
    for line in lines:
        if log_format == "json":
            record = json.loads(line)
            assert {"timestamp", "level", "logger", "message", "request_id"} <= set(record)
        else:
            assert " INFO alembic.runtime.migration [-] " in line, line


def test_audit_query_says_when_nothing_matched(tmp_path: Path) -> None:
    env = server_env(tmp_path / "home", AUTH_SQLITE_PATH=str(tmp_path / "auth.sqlite3"))
    assert run_cli_in_process(["migrate"], env, tmp_path).returncode == 0
    result = run_cli_in_process(["audit", "query", "--action", "delete"], env, tmp_path)
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr.splitlines()[-1] == "auth-server: no audit entries matched"


def on_a_terminal(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    """Run ``auth-server ARGS`` with standard error on a pseudo-terminal."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.run(
            [auth_server_executable(), *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
            timeout=STARTUP_TIMEOUT,
            check=False,
        )
        os.close(terminal)
        terminal = -1
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the terminal is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    return process.returncode, process.stdout, b"".join(chunks).decode()


def test_long_work_shows_progress_on_a_terminal(tmp_path: Path) -> None:
    database = tmp_path / "auth.sqlite3"
    env = server_env(
        tmp_path / "home",
        AUTH_SQLITE_PATH=str(database),
        AUTH_PORT=str(free_port()),
        AUTH_LOG_LEVEL="warning",
    )
    with ServerProcess(tmp_path, env) as server:
        for _ in range(3):
            headers = {"Authorization": f"Bearer {uuid.uuid4()}"}
            assert httpx.post(f"{server.url}/api/role/ops", headers=headers).status_code == 200

    bar = "[##############################]"
    code, out, err = on_a_terminal(["audit", "verify"], env, tmp_path)
    assert (code, out) == (0, "audit trail intact\n"), err
    assert f"audit chains verified    {bar} 3/3" in err
    code, out, err = on_a_terminal(
        ["audit", "export", "--output", str(tmp_path / "audit.jsonl")], env, tmp_path
    )
    assert code == 0, err
    assert f"audit rows exported      {bar} 3/3" in err
    code, out, err = on_a_terminal(["audit", "prune", "--older-than-days", "1"], env, tmp_path)
    assert (code, out) == (0, "pruned 0 audit rows from 0 chain(s)\n"), err
    assert f"audit chains pruned      {bar} 3/3" in err
    copy = tmp_path / "backup.sqlite3"
    code, out, err = on_a_terminal(["backup", str(copy)], env, tmp_path)
    assert code == 0, err
    assert f"auth-server: copying {database} (" in err
    assert f"auth-server: checking the integrity of {copy}" in err
