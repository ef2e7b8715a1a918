"""Operator commands load only what they use: each is a process of its own, and most
of its time is importing.

On SQLite, the commands that do not serve HTTP run without FastAPI and the rest of
the web stack, without Alembic (the schema check compares the ``alembic_version`` row with
:data:`app.db.migrations.SCHEMA_REVISION`), and without PostgreSQL's driver and dialect or the JWT
library. ``migrate`` is the command that imports Alembic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app.db.migrations import upgrade
from tests.databases import sqlite_target

NOT_FOR_OPERATOR_COMMANDS = [
    "alembic",
    "asyncpg",
    "fastapi",
    "jose",
    "mako",
    "prometheus_client",
    "slowapi",
    "sqlalchemy.dialects.postgresql",
    "uvicorn",
]

COMMANDS = [
    ["tenant", "create", "--label", "imports"],
    ["tenant", "list"],
    ["tenant", "rekey", "1"],
    ["tenant", "disable", "1"],
    ["audit", "verify"],
    ["audit", "query"],
    ["audit", "head"],
    ["audit", "export", "--output", "{dir}/audit.jsonl"],
    ["audit", "prune", "--older-than-days", "3650"],
    ["tokens", "prune"],
    ["encryption", "status"],
    ["export", "--tenant", "1", "--output", "{dir}/export.jsonl"],
    ["import", "--tenant", "1", "{dir}/export.jsonl"],
    ["backup", "{dir}/backup.sqlite3"],
]

SCRIPT = """
import json, sys
from app.cli import main

for argv in json.loads(sys.argv[1]):
    code = main(argv)
    if code != 0:
        sys.exit(f"{argv}: exit status {code}")
print(json.dumps(sorted(name for name in json.loads(sys.argv[2]) if name in sys.modules)))
"""


def loaded_after(commands: list[list[str]], modules: list[str], home: Path) -> list[str]:
    """Which of ``modules`` one process has imported after running ``commands`` (each
    must succeed) on the SQLite database ``home/auth.sqlite3``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AUTH_")}
    env |= {"HOME": str(home), "AUTH_SQLITE_PATH": str(home / "auth.sqlite3")}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(commands), json.dumps(modules)],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def test_operator_commands_on_sqlite_skip_the_web_stack_and_alembic(tmp_path: Path) -> None:
    upgrade(sqlite_target(tmp_path))
    commands = [[part.format(dir=tmp_path) for part in argv] for argv in COMMANDS]
    assert loaded_after(commands, NOT_FOR_OPERATOR_COMMANDS, tmp_path) == []


def test_migrate_is_the_command_that_imports_alembic(tmp_path: Path) -> None:
    assert loaded_after([["migrate"]], ["alembic"], tmp_path) == ["alembic"]
