"""The documentation renders in a real browser under its Content-Security-Policy.

Headless Chromium (Debian's ``chromium``) loads ``/docs`` and ``/redoc`` from a real
server and dumps the DOM after the scripts ran; Chromium reports every CSP violation
on stderr ("... violates the following Content Security Policy directive ..."). The
tests are skipped when Chromium is missing, except under ``CI=true`` (``.ci/run``
installs it), where that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import ServerProcess, free_port, server_env

pytestmark = pytest.mark.e2e

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=10000",
)
REDOC_REMOTE_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required under CI=true (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def render(url: str, profile: Path) -> tuple[str, list[str]]:
    """The DOM after the page's scripts ran, and the CSP violations Chromium reported."""
    result = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    violations = [line for line in result.stderr.splitlines() if "Content Security Policy" in line]
    return result.stdout, violations


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    chromium()
    workdir = tmp_path_factory.mktemp("docs-server")
    env = server_env(
        workdir / "home",
        AUTH_PORT=str(free_port()),
        AUTH_SQLITE_PATH=str(workdir / "auth.sqlite3"),
    )
    with ServerProcess(workdir, env) as server:
        yield server


@pytest.fixture(scope="module")
def operations(docs_server: ServerProcess) -> list[dict[str, str]]:
    spec = httpx.get(f"{docs_server.url}/openapi.json", timeout=10).json()
    return [
        {"path": path, "method": method, **operation}
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    ]


def test_swagger_ui_renders_every_operation(
    docs_server: ServerProcess, operations: list[dict[str, str]], tmp_path: Path
) -> None:
    first = operations[0]
    deep_link = f"{docs_server.url}/docs#/{first['tags'][0]}/{first['operationId']}"
    dom, violations = render(deep_link, tmp_path / "profile")
    assert violations == []
    rendered = re.findall(r'class="opblock opblock-(get|post|put|patch|delete)', dom)
    assert len(rendered) == len(operations)
    rendered_paths = set(re.findall(r'data-path="([^"]+)"', dom))
    assert rendered_paths == {operation["path"] for operation in operations}
    # The deep-linked operation is expanded: its parameters and "Try it out" are there.
    assert dom.count("try-out__btn") == 1
    assert "opblock-body" in dom


def test_redoc_renders_every_operation(
    docs_server: ServerProcess, operations: list[dict[str, str]], tmp_path: Path
) -> None:
    dom, violations = render(f"{docs_server.url}/redoc", tmp_path / "profile")
    # Nothing is loaded from elsewhere: ReDoc's remote logo is blocked, and is the only
    # thing the policy had to block.
    assert len(violations) == 1
    assert REDOC_REMOTE_LOGO in violations[0]
    for operation in operations:
        assert f'id="operation/{operation["operationId"]}"' in dom, operation["operationId"]
