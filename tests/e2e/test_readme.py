"""The README's quickstart runs as written.

Every block of "Quickstart with curl", "Tokens" and "Client-key rotation and recovery"
runs in document order against a real ``auth-server`` process (the README's
``http://127.0.0.1:5000`` replaced by the test server's address): shell blocks in
``bash`` with ``set -euo pipefail`` and every ``curl`` failing on an HTTP error,
variables carried from block to block as a reader's shell would; Python blocks in
this virtual environment, which has the reference client. Each answer documented in a
comment (``# {"result":true}`` beside the command or on the line below it, ``# True``
beside a ``print``) must match, ``...`` standing for any text.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.doc_blocks import Block, section_blocks
from tests.e2e.server import ServerProcess, free_port, server_env

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
SECTIONS = [
    "## Quickstart with curl",
    "### Tokens",
    "### Client-key rotation and recovery",
]
DOCUMENTED_URL = "http://127.0.0.1:5000"
MARK = "@@README-COMMAND@@"
CURL_FAILS_ON_HTTP_ERRORS = 'curl() { command curl --fail-with-body "$@"; }\n'


def readme_blocks() -> list[Block]:
    return [block for heading in SECTIONS for block in section_blocks(README, heading)]


def expected_pattern(comment: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in comment.split("...")))


def shell_commands(code: str) -> list[tuple[str, str | None]]:
    """(command line, documented answer or None) for every command of a shell block."""
    commands: list[tuple[str, str | None]] = []
    for line in code.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            answer = stripped.lstrip("# ")
            if answer.startswith("{") and commands and commands[-1][1] is None:
                commands[-1] = (commands[-1][0], answer)
            continue
        comment = re.search(r"\s+#\s*(\{.*)$", line)
        commands.append((line, comment.group(1) if comment else None))
    return commands


def run_shell(block: Block, env: dict[str, str], workdir: Path) -> dict[str, str]:
    """Run one shell block; check its documented answers; return the shell's variables."""
    commands = shell_commands(block.code)
    dump = workdir / "shell.env"
    script = "set -euo pipefail\nset -a\n" + CURL_FAILS_ON_HTTP_ERRORS
    for number, (line, _) in enumerate(commands):
        script += f"echo {MARK}{number}\n{line}\necho\n"
    script += f"env -0 > '{dump}'\n"
    result = subprocess.run(
        ["bash", "-c", script],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{block.section}:\n{result.stdout}\n{result.stderr}"
    outputs = re.split(rf"^{MARK}\d+\n", result.stdout, flags=re.MULTILINE)[1:]
    assert len(outputs) == len(commands)
    for (line, answer), output in zip(commands, outputs, strict=True):
        if answer is not None:
            assert expected_pattern(answer).fullmatch(output.strip()), (line, output)
    pairs = [item.split("=", 1) for item in dump.read_text().split("\0") if "=" in item]
    return dict(pairs)


def run_python(block: Block, env: dict[str, str], workdir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", block.code],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{block.section}:\n{result.stderr}"
    documented = [
        match.group(1)
        for line in block.code.splitlines()
        if line.startswith("print(") and (match := re.search(r"#\s*(.+)$", line))
    ]
    assert result.stdout.splitlines() == documented


def test_readme_blocks_run_as_written(tmp_path: Path) -> None:
    blocks = readme_blocks()
    assert [block.language for block in blocks].count("python") == 1
    env = server_env(
        tmp_path / "home",
        AUTH_PORT=str(free_port()),
        AUTH_SQLITE_PATH=str(tmp_path / "auth.sqlite3"),
        AUTH_LOG_LEVEL="warning",
    )
    with ServerProcess(tmp_path, env) as server:
        check_writes_that_change_nothing(server.url)
        shell = {key: value for key, value in env.items() if not key.startswith("AUTH_")}
        for block in blocks:
            code = block.code.replace(DOCUMENTED_URL, server.url)
            located = Block(block.language, code, block.section)
            if block.language == "sh":
                shell = run_shell(located, shell, tmp_path)
            else:
                assert block.language == "python", block
                run_python(located, shell, tmp_path)


# The README's "API map": what each write that changes nothing answers.
NO_OP_WRITES = [
    ("POST", "/api/role/kept", {"result": True}),  # re-creating a role
    ("POST", "/api/permission/kept/read", {"result": True}),  # a grant held already
    ("POST", "/api/membership/ann/kept", {"result": True}),  # an existing membership
    ("DELETE", "/api/permission/kept/absent", {"result": True}),  # an absent grant
    ("DELETE", "/api/permission/missing/absent", {"result": True}),  # ... of a missing role
    ("DELETE", "/api/membership/bob/kept", {"result": True}),  # an absent membership
    ("POST", "/api/permission/missing/read", {"result": False}),  # a missing role
    ("POST", "/api/membership/ann/missing", {"result": False}),  # a missing role
]


def check_writes_that_change_nothing(url: str) -> None:
    headers = {"Authorization": f"Bearer {uuid.uuid4()}"}
    with httpx.Client(base_url=url, headers=headers, timeout=10.0) as api:
        assert api.put("/api/settings", json={"strict_users": False}).status_code == 200
        for path in ("/api/role/kept", "/api/permission/kept/read", "/api/membership/ann/kept"):
            assert api.post(path).json() == {"result": True}
        for method, path, answer in NO_OP_WRITES:
            response = api.request(method, path)
            assert (response.status_code, response.json()) == (200, answer), (method, path)
        for path in ("/api/role/missing", "/api/role/kept", "/api/role/kept"):
            deleted = api.delete(path)
            assert deleted.status_code == 200
        assert deleted.json()["data"] == {"result": False}  # already deleted
        assert api.get("/api/roles").json() == {"result": []}
