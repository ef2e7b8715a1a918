"""Things the fault tests break on purpose, each started by the test itself.

* :class:`PrivatePostgres`: a throw-away PostgreSQL cluster (``initdb`` + ``pg_ctl``
  from ``/usr/lib/postgresql/*/bin``) in a temporary directory, on a free port of
  127.0.0.1, run as the ``postgres`` user when the tests run as root. It can be
  stopped, started, frozen (SIGSTOP of every process of the cluster) and thawed.
  The shared server on 5432 is never touched.
* :class:`PrivateRedis`: a ``redis-server`` on a free port, without persistence.
* :func:`small_filesystem`: a tmpfs of a few hundred KiB mounted on a temporary
  directory (root only), unmounted afterwards.

Each helper skips the test when its tool is missing (fails under ``CI=true``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.e2e.server import free_port

COMMAND_TIMEOUT = 30.0


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


def _postgresql_bin() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    if not found:
        _unavailable("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


def _children(pid: int) -> list[int]:
    """Every process whose parent is ``pid`` (the cluster's backends and workers)."""
    children: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


class PrivatePostgres:
    """A PostgreSQL cluster owned by one test (see the module docstring)."""

    def __init__(self) -> None:
        self.bin = _postgresql_bin()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="auth-faults-pg-"))
        self.data = self.root / "data"
        self.user: str | None = None
        if os.geteuid() == 0:  # initdb refuses to run as root
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                _unavailable("running as root and no 'postgres' user to run initdb as")
            self.user = entry.pw_name
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._frozen: list[int] = []

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(
            command, check=True, capture_output=True, timeout=COMMAND_TIMEOUT, cwd=self.root
        )

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "-N"
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c max_connections=60"
        )
        self._run("pg_ctl", "start", "-w", "-D", str(self.data), "-o", options, "-l",
                  str(self.root / "postgres.log"))  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """``fast``: sessions are ended (clients see an admin shutdown), then exit."""
        self._run("pg_ctl", "stop", "-w", "-D", str(self.data), "-m", mode)

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().splitlines()[0])

    def freeze(self) -> None:
        """SIGSTOP the postmaster and every one of its processes."""
        postmaster = self.postmaster_pid()
        os.kill(postmaster, signal.SIGSTOP)
        self._frozen = [postmaster, *_children(postmaster)]
        for pid in self._frozen[1:]:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in reversed(self._frozen):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self._frozen = []

    def destroy(self) -> None:
        self.thaw()
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except subprocess.SubprocessError:
                os.kill(self.postmaster_pid(), signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


class PrivateRedis:
    """``redis-server`` on a free port of 127.0.0.1, no persistence."""

    def __init__(self, workdir: Path) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            _unavailable("redis-server is not installed")
        self.executable = str(executable)
        self.port = free_port()
        self.workdir = workdir
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._process = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            while time.monotonic() < deadline:
                try:
                    client.ping()
                    return
                except redis.RedisError:
                    time.sleep(0.05)
        finally:
            client.close()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


@contextmanager
def small_filesystem(size_kib: int) -> Iterator[Path]:
    """A tmpfs of ``size_kib`` KiB on a fresh directory, unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        _unavailable("mounting a small filesystem needs root")
    mountpoint = Path(tempfile.mkdtemp(prefix="auth-faults-fs-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0700", "tmpfs", str(mountpoint)],
        capture_output=True,
        check=False,
        timeout=COMMAND_TIMEOUT,
    )
    if mounted.returncode != 0:
        mountpoint.rmdir()
        _unavailable(f"cannot mount a tmpfs: {mounted.stderr.decode(errors='replace')}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False, timeout=COMMAND_TIMEOUT)
        mountpoint.rmdir()


def fill(directory: Path) -> Path:
    """Write a filler file in ``directory`` until its filesystem is full."""
    filler = directory / "filler"
    chunk = b"\0" * 4096
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(chunk)
                handle.flush()
        except OSError:
            pass
    return filler
