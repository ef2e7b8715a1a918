"""Faults against real server processes: what the service answers when its database
or its rate-limit store fails, and what survives a crash.

* PostgreSQL stopped under load (a private cluster, never the shared one): 503
  problem+json with ``Retry-After``, never an allow, no 500, no reset connection, one
  log line per outage, and recovery on its own.
* PostgreSQL frozen (SIGSTOP): 503 within the configured timeouts; recovery after
  SIGCONT.
* SIGKILL of the service during a write burst (SQLite and PostgreSQL): every write
  answered 200 is there after a restart, and the audit chain verifies.
* Redis down: rate limiting fails open as documented, decisions keep working.
* SQLite on a full disk: writes answer 503, nothing half-written, ``/health`` says
  the store cannot take writes, and both recover when space returns.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.fault_env import PrivatePostgres, PrivateRedis, fill, private_postgres
from tests.e2e.fault_env import small_filesystem as small_fs
from tests.e2e.server import ServerProcess, free_port, run_cli, server_env

pytestmark = pytest.mark.e2e

PROBLEM_JSON = "application/problem+json"
USER = "alice"
ROLE = "editors"
PERMISSION = "publish"
CHECK = f"/api/has_permission/{USER}/{PERMISSION}"
TIMEOUT_SECONDS = 1  # AUTH_DB_CONNECT_TIMEOUT and AUTH_DB_STATEMENT_TIMEOUT here
FAULT_BOUND = 4 * TIMEOUT_SECONDS + 1.0  # connect + statement + slack on a busy machine
DOWN_LOG = "database unavailable"
UP_LOG = "database answers again"


def start_server(workdir: Path, **auth: str) -> ServerProcess:
    env = server_env(
        workdir / "home",
        AUTH_PORT=str(free_port()),
        AUTH_STRICT_USERS_DEFAULT="false",
        **{
            "AUTH_RATE_LIMIT_DEFAULT": "1000000/minute",
            "AUTH_RATE_LIMIT_WRITE": "1000000/minute",
            "AUTH_RATE_LIMIT_ROLE_CREATE": "1000000/minute",
            "AUTH_LOG_FORMAT": "text",
            "AUTH_DB_CONNECT_TIMEOUT": str(TIMEOUT_SECONDS),
            "AUTH_DB_STATEMENT_TIMEOUT": str(TIMEOUT_SECONDS),
            "AUTH_DB_POOL_TIMEOUT": str(TIMEOUT_SECONDS),
            **auth,
        },
    )
    return ServerProcess(workdir, env).start_healthy()


@pytest.fixture
def cluster() -> Iterator[PrivatePostgres]:
    with private_postgres() as started:
        yield started


@pytest.fixture
def pg_server(cluster: PrivatePostgres, tmp_path: Path) -> Iterator[ServerProcess]:
    process = start_server(tmp_path, AUTH_DATABASE_URL=cluster.url)
    try:
        yield process
    finally:
        process.stop()


def client(server: ServerProcess, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30.0
    )


def grant_alice(http: httpx.Client) -> None:
    """alice holds ``publish`` through ``editors``: a healthy check answers allowed."""
    for path in (f"/api/role/{ROLE}", f"/api/permission/{ROLE}/{PERMISSION}",
                 f"/api/membership/{USER}/{ROLE}"):  # fmt: skip
        assert http.post(path).json() == {"result": True}
    assert allowed(http.get(CHECK))


def allowed(response: httpx.Response) -> bool:
    """Whether ``response`` is a decision that allowed (a write never is)."""
    if response.status_code != 200:
        return False
    data = response.json().get("data")
    return isinstance(data, dict) and data.get("has_permission") is True


def assert_unavailable(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert int(response.headers["retry-after"]) >= 1
    body: dict[str, Any] = response.json()
    assert body["type"] == "urn:auth:problem:database-unavailable"
    assert body["fault"] in {"unreachable", "timeout", "full"}
    return body


def local_port(response: httpx.Response) -> int:
    """The client-side port of the connection that carried ``response``."""
    stream = response.extensions["network_stream"]
    address = stream.get_extra_info("client_addr")
    return int(address[1])


WORKERS = 4
"""Keep-alive clients of a :class:`Load`."""


@dataclass
class Load:
    """Checks and writes from several keep-alive clients until stopped."""

    server: ServerProcess
    key: str
    results: list[tuple[float, str, int, bool]] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    ports: dict[int, set[int]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def _run(self, worker: int) -> None:
        with client(self.server, self.key) as http:
            n = 0
            while not self.stop.is_set():
                n += 1
                write = n % 4 == 0
                sent = time.monotonic()
                try:
                    if write:
                        response = http.post(f"/api/role/load-{worker}-{n}")
                    else:
                        response = http.get(CHECK)
                except httpx.TransportError as exc:
                    self.transport_errors.append(type(exc).__name__)
                    continue
                self.ports.setdefault(worker, set()).add(local_port(response))
                if response.status_code == 503:
                    assert_unavailable(response)
                kind = "write" if write else "check"
                # Stamped when sent: a request sent after the database went down must
                # answer 503 (one sent before may have been answered from a state
                # confirmed while the database still answered).
                self.results.append((sent, kind, response.status_code, allowed(response)))
                time.sleep(0.01)

    def __enter__(self) -> Load:
        self._threads = [
            threading.Thread(target=self._run, args=(worker,), daemon=True)
            for worker in range(WORKERS)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def between(self, start: float, end: float) -> list[tuple[float, str, int, bool]]:
        return [result for result in self.results if start <= result[0] <= end]


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> float:
    """Seconds until ``condition()`` held; fails after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")


def health(server: ServerProcess) -> httpx.Response:
    return httpx.get(f"{server.url}/health", timeout=30.0)


def test_postgresql_stopped_under_load(cluster: PrivatePostgres, pg_server: ServerProcess) -> None:
    key = str(uuid.uuid4())
    with client(pg_server, key) as http:
        grant_alice(http)
    with Load(pg_server, key) as load:
        wait_for(lambda: len(load.ports) == WORKERS, 10)  # every client is being answered
        cluster.stop("fast")
        stopped = time.monotonic()
        wait_for(lambda: len(load.between(stopped, 1e12)) >= 2 * WORKERS, 10)
        down = health(pg_server)
        assert down.status_code == 503
        assert down.json()["status"] == "unhealthy"
        starting = time.monotonic()  # the database may answer before start() returns
        cluster.start()
        restarted = time.monotonic()
        recovery = wait_for(lambda: allowed(httpx.get(
            f"{pg_server.url}{CHECK}", headers={"Authorization": f"Bearer {key}"})), 10)  # fmt: skip
        wait_for(lambda: any(allowed_ for _, kind, _, allowed_ in load.between(
            restarted + recovery, 1e12) if kind == "check"), 10)  # fmt: skip
    outage = load.between(stopped, starting)
    assert outage, "no request was answered while the database was down"
    assert {status for _, _, status, _ in outage} == {503}
    assert not any(was_allowed for *_, was_allowed in outage)
    assert {status for _, _, status, _ in load.results} <= {200, 503}
    assert load.transport_errors == []
    assert all(len(ports) == 1 for ports in load.ports.values()), load.ports  # kept alive
    assert any(allowed_ for _, kind, _, allowed_ in load.between(restarted + recovery, 1e12)
               if kind == "check")  # fmt: skip
    assert health(pg_server).json() == {"status": "healthy"}
    log = pg_server.log()
    assert log.count(DOWN_LOG) == 1, log
    assert log.count(UP_LOG) == 1, log
    assert "Traceback" not in log
    assert "unhandled error" not in log


def test_postgresql_frozen_answers_503_within_timeout(
    cluster: PrivatePostgres, pg_server: ServerProcess
) -> None:
    key = str(uuid.uuid4())
    with client(pg_server, key) as http:
        grant_alice(http)
        cluster.freeze()
        try:
            requests: list[Callable[[], httpx.Response]] = [
                lambda: http.get(CHECK),
                lambda: http.post("/api/role/frozen"),
                lambda: health(pg_server),
            ]
            for request in requests:
                started = time.monotonic()
                response = request()
                elapsed = time.monotonic() - started
                assert response.status_code == 503, response.text
                assert elapsed < FAULT_BOUND, f"{elapsed:.1f} s"
            assert_unavailable(http.get(CHECK))
        finally:
            cluster.thaw()
        wait_for(lambda: allowed(http.get(CHECK)), 10)
        assert http.get("/api/roles").status_code == 200
    assert health(pg_server).status_code == 200
    assert "Traceback" not in pg_server.log()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_during_write_burst_loses_no_acknowledged_write(
    fresh_database_env: dict[str, str], tmp_path: Path
) -> None:
    server = start_server(tmp_path, **fresh_database_env)
    key = str(uuid.uuid4())
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def burst(worker: int) -> None:
        with client(server, key) as http:
            for n in range(100_000):
                if stop.is_set():
                    return
                role = f"burst-{worker}-{n}"
                try:
                    response = http.post(f"/api/role/{role}")
                except httpx.TransportError:
                    return
                if response.status_code == 200 and response.json() == {"result": True}:
                    with lock:
                        acknowledged.append(role)

    try:
        with client(server, key) as http:
            grant_alice(http)
        threads = [threading.Thread(target=burst, args=(w,), daemon=True) for w in range(4)]
        for thread in threads:
            thread.start()
        wait_for(lambda: len(acknowledged) >= 100, 20)
        os.kill(server.pid, signal.SIGKILL)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        server.stop()
    assert len(acknowledged) >= 100
    restarted = start_server(tmp_path, **fresh_database_env)
    try:
        with client(restarted, key) as http:
            roles = all_roles(http)
            assert [role for role in acknowledged if role not in roles] == []
            assert allowed(http.get(CHECK))
    finally:
        restarted.stop()
    env = server_env(tmp_path / "home", **fresh_database_env)
    verified = run_cli(["audit", "verify"], env, tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def all_roles(http: httpx.Client) -> set[str]:
    """Every role of the tenant, following ``Link: <...>; rel="next"`` when listings page."""
    roles: set[str] = set()
    url: str | None = "/api/roles?limit=1000"
    while url is not None:
        response = http.get(url)
        assert response.status_code == 200, response.text
        roles.update(item["role"] for item in response.json()["result"])
        url = response.links.get("next", {}).get("url")
    return roles


def test_redis_down_rate_limits_fail_open_and_decisions_keep_working(tmp_path: Path) -> None:
    redis_server = PrivateRedis(tmp_path)
    redis_server.start()
    try:
        server = start_server(
            tmp_path,
            AUTH_RATE_LIMIT_STORAGE_URI=redis_server.url,
            AUTH_RATE_LIMIT_DEFAULT="20/minute",
            AUTH_RATE_LIMIT_DECISIONS="20/minute",  # decisions are not limited by default
            AUTH_RATE_LIMIT_WRITE="20/minute",
        )
        try:
            key = str(uuid.uuid4())
            with client(server, key) as http:
                grant_alice(http)
                answers = [http.get(CHECK).status_code for _ in range(30)]
                assert 429 in answers  # the shared budget applies while Redis is up
                redis_server.stop()
                during = [http.get(CHECK) for _ in range(30)]
                assert all(allowed(response) for response in during)
                redis_server.start()  # same port, empty store
                # The store is retried every few seconds; then the budgets apply again.
                wait_for(lambda: any(http.get(CHECK).status_code == 429 for _ in range(25)), 15)
            log = server.log()
            assert log.count("rate limit storage unreachable") == 1, log
            assert log.count("rate limit storage answers again") == 1, log
            assert "Traceback" not in log
        finally:
            server.stop()
    finally:
        redis_server.stop()


def test_sqlite_disk_full_answers_503_and_health_reports_it(tmp_path: Path) -> None:
    with small_fs(4096) as disk:
        server = start_server(tmp_path, AUTH_SQLITE_PATH=str(disk / "auth.sqlite3"))
        try:
            key = str(uuid.uuid4())
            with client(server, key) as http:
                grant_alice(http)
                filler = fill(disk)
                answered: dict[str, int] = {}
                body = "x" * 500  # role descriptions: each write needs new pages
                for n in range(400):
                    role = f"full-{n}"
                    response = http.post(f"/api/role/{role}", json={"description": body})
                    answered[role] = response.status_code
                    if response.status_code != 200:
                        break
                refused = [role for role, status in answered.items() if status != 200]
                assert refused, "the full disk never refused a write"
                assert set(answered.values()) <= {200, 503}
                assert_unavailable(response)
                assert response.json()["fault"] == "full"
                stored = all_roles(http)  # nothing half-written, nothing acknowledged lost
                assert {role for role in answered if role in stored} == {
                    role for role, status in answered.items() if status == 200
                }
                assert allowed(http.get(CHECK))  # reads and decisions still work
                unhealthy = health(server)
                assert unhealthy.status_code == 503
                assert unhealthy.json() == {"status": "unhealthy", "database": "full"}
                filler.unlink()
                assert health(server).json() == {"status": "healthy"}
                assert http.post("/api/role/after-full").json() == {"result": True}
            log = server.log()
            assert log.count("database cannot take writes") == 1, log
            assert log.count("database takes writes again") == 1, log
            assert "Traceback" not in log
        finally:
            server.stop()
