"""Dockerfile and .dockerignore: the image's contract, and its healthcheck run for real.

No container engine is needed here: the instructions are read as text, and the
HEALTHCHECK command runs against a real ``auth-server serve`` process. ``.ci/container``
builds the image and runs it in CI.
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


def test_two_stages_on_a_base_image_argument() -> None:
    froms = [arguments for keyword, arguments in instructions() if keyword == "FROM"]
    assert froms == ["${BASE_IMAGE} AS builder", "${BASE_IMAGE} AS runtime"]
    (default,) = [
        arguments.partition("=")[2]
        for keyword, arguments in instructions()
        if keyword == "ARG" and arguments.startswith("BASE_IMAGE=")
    ]
    # The official slim image of the Python and Debian release CI's local base mirrors.
    assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", default)  # pinned


def test_runtime_contract() -> None:
    runtime = stage("runtime")
    assert ("USER", "10001:10001") in runtime
    assert ("EXPOSE", "5000") in runtime
    assert runtime[-2:] == [("ENTRYPOINT", '["auth-server"]'), ("CMD", '["serve"]')]
    environment = env_values(runtime)
    assert environment["AUTH_HOST"] == "0.0.0.0"  # noqa: S104
    assert environment["AUTH_MIGRATE_ON_START"] == "false"
    assert environment["AUTH_PORT"] == "5000"
    # Only the virtualenv comes from the builder: no source tree in the image.
    assert [a for k, a in runtime if k == "COPY"] == ["--from=builder /opt/venv /opt/venv"]


def test_install_is_locked_and_not_editable() -> None:
    builder = " ".join(a for k, a in stage("builder") if k == "RUN")
    assert "pip install -e" not in builder
    assert "/opt/venv/bin/pip install --require-hashes -r /tmp/requirements/main.txt" in builder
    assert "/opt/build/bin/pip install --require-hashes -r /tmp/requirements/build.txt" in builder
    assert "wheel --no-deps --no-build-isolation --no-index" in builder
    assert "/opt/venv/bin/pip install --no-deps --no-index /tmp/dist/auth_service-" in builder
    assert "/opt/venv/bin/pip check" in builder
    copied = " ".join(a for k, a in stage("builder") if k == "COPY")
    for path in (
        "requirements/main.txt",
        "requirements/build.txt",
        "pyproject.toml",
        "setup.py",
        "alembic.ini",
        "alembic ./alembic",
        "app ./app",
    ):
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
        "!setup.py",
        "!MANIFEST.in",
        "!README.md",
        "!LICENSE",
        "!alembic.ini",
        "!alembic/",
        "!app/",
        "!requirements/main.txt",
        "!requirements/build.txt",
    ]
    # Every file the builder copies is let in.
    allowed = {line.removeprefix("!").rstrip("/") for line in lines if line.startswith("!")}
    for keyword, arguments in stage("builder"):
        if keyword == "COPY":
            *sources, _target = arguments.split()
            assert set(sources) <= allowed, sources


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
