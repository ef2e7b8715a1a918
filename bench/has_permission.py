"""``has_permission`` throughput and latency against a real server: encryption off vs on.

    python -m bench.has_permission [--duration 10] [--clients 16] [--users 200]

For each configuration the benchmark starts its own ``auth-server serve`` (SQLite in a
temporary directory, one worker, rate limiting off, log level ``warning``), writes the
same data set through the API (roles, grants, memberships), checks a sample of
answers, then runs ``--clients`` concurrent asyncio clients (one keep-alive connection
each) that call ``GET /api/has_permission/{user}/{permission}`` in a loop for
``--duration`` seconds after a one-second warm-up. About half the questions are
allowed. It prints requests per second, the median and 99th-percentile latency, and
the CPU time the server and the client spent per request (Linux).

Both servers run on this machine, one after the other, and share its CPUs with the
client, so compare the rows with each other, not with other machines.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from tests.e2e.server import ServerProcess, free_port, server_env

ROLES = 10
PERMISSIONS_PER_ROLE = 5
ROLES_PER_USER = 2
WARM_UP_SECONDS = 1.0


@dataclass(frozen=True)
class Result:
    label: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    server_cpu: float | None
    client_cpu: float

    def per_request_ms(self, cpu_seconds: float | None) -> str:
        if cpu_seconds is None or not self.requests:
            return "n/a"
        return f"{cpu_seconds * 1000 / self.requests:.2f}"

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass(frozen=True)
class Workload:
    """Who holds what, and the questions the clients ask (with their answers)."""

    memberships: dict[str, list[str]]
    questions: list[tuple[str, bool]]

    @classmethod
    def build(cls, users: int, seed: int = 1) -> Workload:
        rng = random.Random(seed)
        roles = [f"role{index}" for index in range(ROLES)]
        memberships = {
            f"user{index}@example.com": rng.sample(roles, ROLES_PER_USER) for index in range(users)
        }
        questions: list[tuple[str, bool]] = []
        for _ in range(4096):
            user = rng.choice(list(memberships))
            role = rng.choice(roles)
            permission = f"{role}-perm{rng.randrange(PERMISSIONS_PER_ROLE)}"
            allowed = role in memberships[user]
            questions.append((f"/api/has_permission/{user}/{permission}", allowed))
        return cls(memberships, questions)


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux ``/proc``; ``None`` elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


@contextmanager
def server(directory: Path, *, encrypted: bool) -> Iterator[tuple[str, int]]:
    """A healthy ``auth-server serve`` in ``directory``; yields its base URL and pid."""
    settings = {
        "AUTH_PORT": str(free_port()),
        "AUTH_SQLITE_PATH": str(directory / "auth.sqlite3"),
        "AUTH_KEY_HASH_SECRET": secrets.token_urlsafe(32),
        "AUTH_JWT_SECRET_KEY": secrets.token_urlsafe(32),
        "AUTH_STRICT_USERS_DEFAULT": "false",
        "AUTH_RATE_LIMIT_ENABLED": "false",
        "AUTH_LOG_LEVEL": "warning",
    }
    if encrypted:
        settings["AUTH_ENABLE_ENCRYPTION"] = "true"
        settings["AUTH_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    with ServerProcess(directory, server_env(directory, **settings)) as process:
        yield process.url, process.pid


async def populate(http: httpx.AsyncClient, workload: Workload) -> None:
    writes = [f"/api/role/role{index}" for index in range(ROLES)]
    writes += [
        f"/api/permission/role{role}/role{role}-perm{index}"
        for role in range(ROLES)
        for index in range(PERMISSIONS_PER_ROLE)
    ]
    writes += [
        f"/api/membership/{user}/{role}"
        for user, roles in workload.memberships.items()
        for role in roles
    ]
    for path in writes[:ROLES]:
        _check((await http.post(path)).status_code == 200, path)
    for start in range(ROLES, len(writes), 16):
        answers = await asyncio.gather(*(http.post(path) for path in writes[start : start + 16]))
        for answer in answers:
            _check(answer.json() == {"result": True}, answer.text)
    for path, allowed in workload.questions[:200]:
        data = (await http.get(path)).json()["data"]
        _check(data == {"has_permission": allowed}, f"{path}: {data}")


def _check(condition: bool, detail: str) -> None:
    if not condition:
        raise SystemExit(f"unexpected answer: {detail}")


async def measure(
    label: str, url: str, pid: int, workload: Workload, *, clients: int, duration: float
) -> Result:
    """Populate a new tenant, then ask its questions from ``clients`` connections."""
    headers = {"Authorization": f"Bearer {uuid.uuid4()}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=30.0
    ) as http:
        await populate(http, workload)
        latencies: list[float] = []
        errors = 0
        measuring = False

        async def client(offset: int, stop_at: float) -> None:
            nonlocal errors
            index = offset
            while (now := time.perf_counter()) < stop_at:
                path = workload.questions[index % len(workload.questions)][0]
                response = await http.get(path)
                if measuring:
                    latencies.append((time.perf_counter() - now) * 1000)
                    errors += response.status_code != 200
                index += clients

        warm_up = time.perf_counter() + WARM_UP_SECONDS
        await asyncio.gather(*(client(offset, warm_up) for offset in range(clients)))
        measuring = True
        server_before, client_before = process_cpu_seconds(pid), own_cpu_seconds()
        started = time.perf_counter()
        stop_at = started + duration
        await asyncio.gather(*(client(offset, stop_at) for offset in range(clients)))
        elapsed = time.perf_counter() - started
        server_after, client_after = process_cpu_seconds(pid), own_cpu_seconds()
    server_cpu = (
        None if server_before is None or server_after is None else server_after - server_before
    )
    return Result(
        label, len(latencies), errors, elapsed, latencies, server_cpu, client_after - client_before
    )


def run(duration: float, clients: int, users: int) -> list[Result]:
    workload = Workload.build(users)
    results: list[Result] = []
    for label, encrypted in (("off", False), ("on", True)):
        with (
            tempfile.TemporaryDirectory(prefix="auth-bench-") as directory,
            server(Path(directory), encrypted=encrypted) as (url, pid),
        ):
            work = measure(label, url, pid, workload, clients=clients, duration=duration)
            results.append(asyncio.run(work))
    return results


def table(results: list[Result], *, duration: float, clients: int, users: int) -> str:
    lines = [
        f"has_permission on SQLite, 1 worker, {clients} clients, {duration:g} s per run, "
        f"{users} users, {os.cpu_count()} CPUs (client and server share them)",
        f"{'encryption':<11}{'requests':>10}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}{'server CPU ms/req':>19}{'client CPU ms/req':>19}",
    ]
    for result in results:
        lines.append(
            f"{result.label:<11}{result.requests:>10}{result.rate:>8.0f}"
            f"{statistics.median(result.latencies_ms):>9.2f}{result.percentile(0.99):>9.2f}"
            f"{result.errors:>8}{result.per_request_ms(result.server_cpu):>19}"
            f"{result.per_request_ms(result.client_cpu):>19}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.has_permission", description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections")
    parser.add_argument("--users", type=int, default=200, help="users in the data set")
    args = parser.parse_args(argv)
    results = run(args.duration, args.clients, args.users)
    print(table(results, duration=args.duration, clients=args.clients, users=args.users))
    return 1 if any(result.errors for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
