"""A real ``auth-server`` process for end-to-end tests.

:class:`ServerProcess` owns one child process: its environment is built from scratch
(no ``AUTH_*`` variable of the caller leaks in), its working directory is a temporary
directory (so no ``.env`` is read), and its output goes to a log file rather than a
pipe. :meth:`ServerProcess.stop` always reaps the process and closes the log.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import httpx

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def auth_server_executable() -> str:
    """The ``auth-server`` console script of the running virtual environment."""
    beside_python = Path(sys.executable).with_name("auth-server")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("auth-server")
    if found is None:
        raise RuntimeError("the auth-server console script is not installed")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(home: Path, **auth: str) -> dict[str, str]:
    """The caller's environment minus every ``AUTH_*`` variable, plus ``HOME`` and ``auth``.

    ``home`` is created if missing.
    """
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("AUTH_")}
    env["HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(auth)
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``auth-server ARGS`` to completion, capturing its output."""
    return subprocess.run(
        [auth_server_executable(), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT,
        check=False,
    )


class ServerProcess:
    """``auth-server serve`` on ``127.0.0.1:port``, logging to ``workdir/server.log``.

    ``args`` replaces ``serve`` (e.g. ``serve --port N``); ``port`` is where it listens
    (default: ``AUTH_PORT`` of ``env``); ``executable`` is the ``auth-server`` to run
    (default: this environment's)."""

    def __init__(
        self,
        workdir: Path,
        env: dict[str, str],
        args: Sequence[str] = ("serve",),
        port: int | None = None,
        executable: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.executable = executable or auth_server_executable()
        self.port = port if port is not None else int(env["AUTH_PORT"])
        self._args = list(args)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "server.log"
        self._env = env
        self._log: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def start(self) -> None:
        self._log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            [self.executable, *self._args],
            env=self._env,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Return once ``/health`` answers 200; raise with the log otherwise."""
        assert self._process is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=1.0) as http:
            while time.monotonic() < deadline:
                code = self._process.poll()
                if code is not None:
                    raise RuntimeError(f"auth-server exited with {code}:\n{self.log()}")
                try:
                    if http.get("/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"auth-server not healthy after {timeout:.0f} s:\n{self.log()}")

    def stop(self) -> int | None:
        """Terminate (then kill) the process and close the log; return its exit code."""
        code: int | None = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            code = self._process.returncode
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def start_healthy(self) -> ServerProcess:
        """Start, wait until ``/health`` answers; stopped again if it never does."""
        self.start()
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> ServerProcess:
        return self.start_healthy()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
