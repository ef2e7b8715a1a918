"""Dockerfile and .dockerignore: the image's contract, and its healthcheck run for real.

No container engine is needed: the instructions are read as text, and the
HEALTHCHECK command runs against a real ``auth-server serve`` process.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import Settings
from tests.e2e.server import ServerProcess, free_port, server_env

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    logical = re.sub(
        r"\\\n\s*",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    pairs = []
    for line in logical.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            pairs.append((keyword.upper(), arguments.strip()))
    return pairs


def stage(name: str) -> list[tuple[str, str]]:
    """The instructions of the stage ``FROM ... AS name``."""
    result: list[tuple[str, str]] = []
    current = None
    for keyword, arguments in instructions():
        if keyword == "FROM":
            current = arguments.split()[-1]
            continue
        if current == name:
            result.append((keyword, arguments))
    return result


def env_values(pairs: list[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for keyword, arguments in pairs:
        if keyword == "ENV":
            values.update(re.findall(r"(\w+)=(\S+)", arguments))
    return values


def healthcheck_command() -> list[str]:
    (arguments,) = [args for keyword, args in stage("runtime") if keyword == "HEALTHCHECK"]
    command: list[str] = json.loads(arguments[arguments.index("CMD") + 3 :])
    return command


def test_two_stages_on_python_slim() -> None:
    froms = [arguments for keyword, arguments in instructions() if keyword == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE} AS runtime"]
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim") in instructions()


def test_runtime_contract() -> None:
    runtime = stage("runtime")
    assert ("USER", "10001:10001") in runtime
    assert ("EXPOSE", "5000") in runtime
    assert runtime[-2:] == [("ENTRYPOINT", '["auth-server"]'), ("CMD", '["serve"]')]
    environment = env_values(runtime)
    assert environment["AUTH_HOST"] == "0.0.0.0"  # noqa: S104
    assert environment["AUTH_MIGRATE_ON_START"] == "false"
    assert environment["AUTH_PORT"] == "5000"
    # The code comes from the builder, installed editable so alembic/ stays beside app/.
    assert ("COPY", "--from=builder /srv/auth /srv/auth") in runtime
    builder = stage("builder")
    assert any(k == "RUN" and "pip install -e ." in a for k, a in builder)
    copied = " ".join(a for k, a in builder if k == "COPY")
    for path in ("pyproject.toml", "alembic.ini", "alembic ./alembic", "app ./app"):
        assert path in copied


def test_no_secret_is_baked_in() -> None:
    secret_names = {
        f"AUTH_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if "SecretStr" in str(field.annotation)
    }
    declared = set(env_values(instructions())) | {
        arguments.split("=")[0] for keyword, arguments in instructions() if keyword == "ARG"
    }
    assert declared & secret_names == set()
    assert not [name for name in declared if re.search("PASSWORD|SECRET|TOKEN", name)]


def test_dockerignore_is_an_allow_list() -> None:
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    assert [line for line in lines if line.startswith("!")] == [
        "!pyproject.toml",
        "!README.md",
        "!alembic.ini",
        "!alembic/",
        "!app/",
    ]


@pytest.mark.e2e
def test_healthcheck_command_against_a_real_server(tmp_path: Path) -> None:
    command = healthcheck_command()
    assert command[0] == "python"
    assert "/health" in command[-1]
    port = str(free_port())
    env = server_env(
        tmp_path / "home", AUTH_SQLITE_PATH=str(tmp_path / "auth.sqlite3"), AUTH_PORT=port
    )

    def probe() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *command[1:]],
            env={"AUTH_PORT": port, "PATH": env["PATH"]},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    with ServerProcess(tmp_path, env):
        healthy = probe()
        assert (healthy.returncode, healthy.stdout, healthy.stderr) == (0, "", "")
    stopped = probe()
    assert stopped.returncode == 1
    assert "Connection refused" in stopped.stderr
