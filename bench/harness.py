"""The pieces of a benchmark run: servers pinned to a core, a data set, measurements.

* :func:`service` starts ``auth-server serve`` with its defaults (logging, metrics,
  security headers and rate limiting on) plus the scenario's settings, on SQLite in a
  scratch directory or on a PostgreSQL database of its own; :func:`bare` starts the
  yardstick (:mod:`bench.bare_app`). Both are pinned to one core (every thread).
* :class:`Dataset` is the tenant's data: roles, permissions and memberships, and a list
  of questions of which about half are allowed. :func:`seed` writes it through the REST
  API (``POST /api/bulk`` when the server has it), timing the writes.
* :func:`rss_mib` and the start-up time of :func:`service` are read from the process.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.e2e.server import ServerProcess, free_port, server_env

PERMISSIONS_PER_ROLE = 5
ROLES_PER_USER = 4
QUESTIONS = 2000


@dataclass(frozen=True)
class Running:
    url: str
    pid: int
    startup_seconds: float


def pin(pid: int, core: int) -> None:
    """Pin every thread of ``pid`` (and its children's) to ``core``."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), {core})
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        for child in children.read_text().split():
            pin(int(child), core)


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its children, MiB."""
    total = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1])
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        total += sum(int(rss_mib(int(child)) * 1024) for child in children.read_text().split())
    return total / 1024


@contextmanager
def service(
    directory: Path, *, core: int | None, postgresql_url: str | None = None, **settings: str
) -> Iterator[Running]:
    """``auth-server serve`` with its defaults and ``settings`` (``AUTH_*`` names)."""
    directory.mkdir(parents=True, exist_ok=True)
    values = {
        "AUTH_PORT": str(free_port()),
        "AUTH_SQLITE_PATH": str(directory / "auth.sqlite3"),
        "AUTH_KEY_HASH_SECRET": secrets.token_urlsafe(32),
        "AUTH_JWT_SECRET_KEY": secrets.token_urlsafe(32),
        "AUTH_STRICT_USERS_DEFAULT": "false",
        **settings,
    }
    if postgresql_url is not None:
        values["AUTH_DATABASE_URL"] = postgresql_url
    started = time.perf_counter()
    with ServerProcess(directory, server_env(directory / "home", **values)) as process:
        startup = time.perf_counter() - started
        if core is not None:
            pin(process.pid, core)
        yield Running(process.url, process.pid, startup)


@contextmanager
def bare(directory: Path, *, core: int | None) -> Iterator[Running]:
    """The bare FastAPI route under uvicorn, one worker."""
    port = free_port()
    log = (directory / "bare.log").open("w")
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.bare_app:app",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[1]
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{url}/api/has_permission/a/b", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        if core is not None:
            pin(process.pid, core)
        yield Running(url, process.pid, time.perf_counter() - started)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@dataclass(frozen=True)
class Dataset:
    """Roles with permissions, users with roles, and questions (about half allowed)."""

    roles: int
    users: int
    memberships: dict[str, list[int]]
    questions: list[tuple[str, str, bool]]

    @classmethod
    def build(cls, memberships: int, seed: int = 1) -> Dataset:
        rng = random.Random(seed)
        users = max(1, memberships // ROLES_PER_USER)
        roles = max(ROLES_PER_USER * 2, min(250, users // 10))
        held = {f"user{index}": rng.sample(range(roles), ROLES_PER_USER) for index in range(users)}
        names = list(held)
        questions = []
        for index in range(QUESTIONS):
            user = rng.choice(names)
            role = rng.choice(held[user]) if index % 2 == 0 else rng.randrange(roles)
            permission = f"r{role}-p{rng.randrange(PERMISSIONS_PER_ROLE)}"
            questions.append((user, permission, role in held[user]))
        return cls(roles, users, held, questions)

    @property
    def size(self) -> int:
        return sum(len(roles) for roles in self.memberships.values())

    def paths(self) -> list[str]:
        return [
            f"/api/has_permission/{user}/{permission}" for user, permission, _ in self.questions
        ]

    def lines(self) -> Iterator[str]:
        """The data set as ``POST /api/bulk`` JSON lines."""
        import json

        for role in range(self.roles):
            yield json.dumps({"type": "role", "role": f"r{role}"})
            for permission in range(PERMISSIONS_PER_ROLE):
                yield json.dumps(
                    {"type": "grant", "role": f"r{role}", "permission": f"r{role}-p{permission}"}
                )
        for user, roles in self.memberships.items():
            for role in roles:
                yield json.dumps({"type": "membership", "user": user, "role": f"r{role}"})


@dataclass(frozen=True)
class Seeded:
    key: str
    seconds: float
    writes: int
    via: str


async def _rest(url: str, key: str, paths: list[str], clients: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    queue = iter(paths)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:

        async def worker() -> None:
            for path in queue:
                response = await http.post(path)
                if response.status_code != 200:
                    raise RuntimeError(f"seeding {path}: {response.status_code} {response.text}")

        await asyncio.gather(*(worker() for _ in range(clients)))


def seed(url: str, data: Dataset, *, clients: int = 4) -> Seeded:
    """Write ``data`` into a new tenant; bulk import when the server offers it."""
    key = str(uuid.uuid4())
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=600) as http:
        http.get("/api/roles").raise_for_status()  # opens the tenant
        has_bulk = "/api/bulk" in http.get("/openapi.json").json().get("paths", {})
        started = time.perf_counter()
        if has_bulk:
            body = ("\n".join(data.lines()) + "\n").encode()
            http.post(
                "/api/bulk", content=body, headers={"Content-Type": "application/x-ndjson"}
            ).raise_for_status()
            return Seeded(key, time.perf_counter() - started, data.size, "bulk")
    paths = [f"/api/role/r{role}" for role in range(data.roles)]
    paths += [
        f"/api/permission/r{role}/r{role}-p{p}"
        for role in range(data.roles)
        for p in range(PERMISSIONS_PER_ROLE)
    ]
    paths += [
        f"/api/membership/{user}/r{role}"
        for user, roles in data.memberships.items()
        for role in roles
    ]
    asyncio.run(_rest(url, key, paths[: data.roles], clients))
    asyncio.run(_rest(url, key, paths[data.roles :], clients))
    return Seeded(key, time.perf_counter() - started, len(paths), "rest")


def check_answers(url: str, key: str, data: Dataset, sample: int = 200) -> None:
    """The service answers the data set's questions right (a benchmark of wrong
    answers measures nothing)."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        for user, permission, allowed in data.questions[:sample]:
            answer = http.get(f"/api/has_permission/{user}/{permission}").json()["data"]
            if answer["has_permission"] is not allowed:
                raise RuntimeError(f"wrong answer for {user} {permission}: {answer}")
