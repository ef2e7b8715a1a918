"""``auth-server`` for end-to-end tests: real processes, and the CLI run in-process.

:class:`ServerProcess` owns one child process: its environment is built from scratch
(no ``AUTH_*`` variable of the caller leaks in), its working directory is a temporary
directory (so no ``.env`` is read), and its output goes to a log file rather than a
pipe. :meth:`ServerProcess.stop` always reaps the process and closes the log.

:func:`run_cli` runs a command as a real process; :func:`run_cli_in_process` runs the
same command through :func:`app.cli.main` in this process (no interpreter start-up,
which is most of a command's cost), for tests whose subject is not the process itself.
"""

from __future__ import annotations

import io
import logging
import logging.config
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from unittest.mock import patch

import httpx

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
_PROCESS_STATE = threading.Lock()  # held by a run_cli_in_process call


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


def run_cli_in_process(
    args: Sequence[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``auth-server ARGS`` like :func:`run_cli`, but through :func:`app.cli.main` in
    this process: same exit status, standard output and standard error.

    For the call, ``os.environ`` is replaced by ``env``, the working directory is
    ``cwd``, standard input is empty and standard output and error are captured (not
    terminals); all are restored afterwards, and so is the logging configuration the
    command installs. ``SystemExit`` becomes the exit status, and an uncaught exception
    its traceback on standard error with status 1, as in a process. Calls run one at a
    time. The command runs its own event loop: from a coroutine, call this through
    :func:`asyncio.to_thread`.

    What stays of this process: modules already imported (and the loggers they made),
    and the warning filters (under pytest, a warning is an error here).
    """
    from app.cli import main

    stdout, stderr = _Capture(), _Capture()
    with _process_state(env, cwd, stdout.stream, stderr.stream):
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = _exit_status(exc.code)
        except Exception:
            traceback.print_exc()
            code = 1
    return subprocess.CompletedProcess(["auth-server", *args], code, stdout.text(), stderr.text())


class _Capture:
    """A standard stream over bytes (``.buffer`` included, as the CLI writes bytes)."""

    def __init__(self) -> None:
        self._bytes = io.BytesIO()
        self.stream = io.TextIOWrapper(self._bytes, encoding="utf-8", write_through=True)

    def text(self) -> str:
        """What was written, decoded with newlines translated as ``text=True`` does."""
        self.stream.flush()
        return self._bytes.getvalue().decode().replace("\r\n", "\n").replace("\r", "\n")


def _exit_status(code: object) -> int:
    """The status of a process ending with ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


@contextmanager
def _process_state(
    env: dict[str, str], cwd: Path, stdout: IO[str], stderr: IO[str]
) -> Iterator[None]:
    """This process's environment, directory and standard streams as a child's would be,
    one caller at a time, restored afterwards."""
    with _PROCESS_STATE:
        saved_environ = dict(os.environ)
        saved_cwd = os.getcwd()
        saved_streams = sys.stdin, sys.stdout, sys.stderr
        try:
            os.environ.clear()
            os.environ.update(env)
            os.chdir(cwd)
            sys.stdin = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
            sys.stdout, sys.stderr = stdout, stderr
            with _logging_restored():
                yield
        finally:
            sys.stdin, sys.stdout, sys.stderr = saved_streams
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_environ)


_LoggerState = tuple[int, list[logging.Handler], bool, bool]
_NEW_LOGGER: _LoggerState = (logging.NOTSET, [], True, False)


def _logger_states() -> dict[str, _LoggerState]:
    """Level, handlers, propagation and disabling of every logger ("" for the root)."""
    loggers = [("", logging.root), *logging.Logger.manager.loggerDict.items()]
    return {
        name: (logger.level, list(logger.handlers), logger.propagate, logger.disabled)
        for name, logger in loggers
        if isinstance(logger, logging.Logger)
    }


@contextmanager
def _logging_restored() -> Iterator[None]:
    """Undo what the command's ``logging.config.dictConfig`` does, and only that.

    Every logger that exists once it has run (those it configured included) gets back
    its state of just before it ran (a logger it created: a new logger's); handlers it
    installed are closed (they write to the captured streams). Loggers created later,
    by the modules the command imports, keep the state those modules gave them, as
    they would in a process where the modules stay imported."""
    before: dict[str, _LoggerState] = {}
    configured: set[str] = set()
    apply = logging.config.dictConfig

    def recording(config: dict[str, Any]) -> None:
        if not configured:
            before.update(_logger_states())
        apply(config)
        configured.update(_logger_states())

    try:
        with patch.object(logging.config, "dictConfig", recording):
            yield
    finally:
        for name in configured:
            logger = logging.getLogger(name or None)
            level, handlers, propagate, disabled = before.get(name, _NEW_LOGGER)
            for handler in logger.handlers:
                if handler not in handlers:
                    handler.close()
            logger.handlers[:] = handlers
            logger.propagate, logger.disabled = propagate, disabled
            logger.setLevel(level)


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
