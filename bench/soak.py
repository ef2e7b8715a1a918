"""Soak: mixed traffic against a real ``auth-server`` for a configurable time.

    .venv/bin/python -m bench.soak [--duration 600] [--backend sqlite|postgresql]
                                   [--connections 8] [--sample-every 10] [--json FILE]

Starts ``auth-server serve`` (a scratch SQLite file, or a PostgreSQL database of its
own; rate limiting on with budgets raised), seeds one tenant (30 roles of 5
permissions, 300 users of 3 roles each) and drives it from ``--connections``
concurrent clients: 90% ``has_permission`` checks, 8% writes (memberships and grants
added and removed, roles created and deleted), 2% listings (``roles``, ``members``,
``which_users_can``, a user's API keys, one page each). The server's resident memory
(``VmRSS`` from ``/proc``) is sampled every ``--sample-every`` seconds.

Reports requests, errors (any answer but 200, any transport error), p50/p99 per kind
and the memory samples; exits 1 on any error, or when memory after the first fifth
of the run grew by more than 25% (and 20 MiB) by its end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.databases import postgresql_database
from tests.e2e.server import ServerProcess, free_port, server_env

ROLES = 30
PERMISSIONS_PER_ROLE = 5
USERS = 300
ROLES_PER_USER = 3
PERMISSIONS = [f"perm-{n}" for n in range(60)]
RAISED = "100000000/minute"
GROWTH_LIMIT = 0.25
GROWTH_FLOOR_MIB = 20.0


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    first_errors: list[str] = field(default_factory=list)

    def record(self, kind: str, seconds: float, problem: str | None) -> None:
        self.latencies.setdefault(kind, []).append(seconds)
        if problem is not None:
            self.errors[kind] = self.errors.get(kind, 0) + 1
            if len(self.first_errors) < 10:
                self.first_errors.append(f"{kind}: {problem}")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@asynccontextmanager
async def database(backend: str, directory: Path) -> AsyncIterator[dict[str, str]]:
    if backend == "sqlite":
        yield {"AUTH_SQLITE_PATH": str(directory / "auth.sqlite3")}
        return
    async with postgresql_database("auth_soak") as url:
        yield {"AUTH_DATABASE_URL": url}


async def seed(http: httpx.AsyncClient) -> None:
    rng = random.Random(7)
    for n in range(ROLES):
        (await http.post(f"/api/role/role-{n}")).raise_for_status()
        for permission in rng.sample(PERMISSIONS, PERMISSIONS_PER_ROLE):
            (await http.post(f"/api/permission/role-{n}/{permission}")).raise_for_status()
    for n in range(USERS):
        for role in rng.sample(range(ROLES), ROLES_PER_USER):
            (await http.post(f"/api/membership/user-{n}/role-{role}")).raise_for_status()


def next_request(rng: random.Random) -> tuple[str, str, str]:
    """(kind, method, path) of the next request of the mix."""
    draw = rng.random()
    user, role = f"user-{rng.randrange(USERS)}", f"role-{rng.randrange(ROLES)}"
    permission = rng.choice(PERMISSIONS)
    if draw < 0.90:
        return "check", "GET", f"/api/has_permission/{user}/{permission}"
    if draw < 0.98:
        scratch = f"scratch-{rng.randrange(20)}"
        method = rng.choice(["POST", "DELETE"])
        path = rng.choice(
            [
                f"/api/membership/{user}/{role}",
                f"/api/permission/{role}/{permission}",
                f"/api/role/{scratch}",
                f"/api/membership/{user}/{scratch}",
            ]
        )
        return "write", method, path
    path = rng.choice(
        [
            "/api/roles?limit=100",
            f"/api/members/{role}",
            f"/api/which_users_can/{permission}",
            f"/api/apikeys/user/{user}",
        ]
    )
    return "listing", "GET", path


async def drive(http: httpx.AsyncClient, deadline: float, tally: Tally, seed_value: int) -> None:
    rng = random.Random(seed_value)
    while time.monotonic() < deadline:
        kind, method, path = next_request(rng)
        started = time.perf_counter()
        problem: str | None = None
        try:
            response = await http.request(method, path)
            if response.status_code != 200:
                problem = f"{method} {path} -> {response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            problem = f"{method} {path} -> {type(exc).__name__}"
        tally.record(kind, time.perf_counter() - started, problem)


async def sample_memory(pid: int, deadline: float, every: float, samples: list[float]) -> None:
    started = time.monotonic()
    while time.monotonic() < deadline:
        samples.append(rss_mib(pid))
        print(
            f"  {time.monotonic() - started:6.0f} s  RSS {samples[-1]:.1f} MiB",
            file=sys.stderr,
            flush=True,
        )
        await asyncio.sleep(min(every, max(0.0, deadline - time.monotonic())))
    samples.append(rss_mib(pid))


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="auth-soak-") as scratch:
        directory = Path(scratch)
        async with database(args.backend, directory) as database_env:
            env = server_env(
                directory / "home",
                AUTH_PORT=str(free_port()),
                AUTH_STRICT_USERS_DEFAULT="false",
                AUTH_LOG_LEVEL="warning",
                **{
                    f"AUTH_RATE_LIMIT_{name}": RAISED
                    for name in ("DEFAULT", "WRITE", "ROLE_CREATE", "REGISTRATION")
                },
                **database_env,
            )
            with ServerProcess(directory, env) as server:
                headers = {"Authorization": f"Bearer {uuid.uuid4()}"}
                limits = httpx.Limits(max_connections=args.connections)
                async with httpx.AsyncClient(
                    base_url=server.url, headers=headers, timeout=30, limits=limits
                ) as http:
                    await seed(http)
                    tally, samples = Tally(), []
                    deadline = time.monotonic() + args.duration
                    started = time.monotonic()
                    await asyncio.gather(
                        sample_memory(server.pid, deadline, args.sample_every, samples),
                        *(drive(http, deadline, tally, n) for n in range(args.connections)),
                    )
                    elapsed = time.monotonic() - started
                if "Traceback" in server.log():
                    tally.first_errors.append("the server logged a traceback")
                    tally.errors["server"] = 1
    return report(args, tally, samples, elapsed)


def report(
    args: argparse.Namespace, tally: Tally, samples: list[float], elapsed: float
) -> dict[str, Any]:
    total = sum(len(values) for values in tally.latencies.values())
    warm = samples[max(0, len(samples) // 5)]
    final = samples[-1]
    growth = final - warm
    flat = growth <= max(GROWTH_FLOOR_MIB, warm * GROWTH_LIMIT)
    return {
        "backend": args.backend,
        "duration_s": round(elapsed, 1),
        "connections": args.connections,
        "requests": total,
        "requests_per_s": round(total / elapsed, 1),
        "errors": sum(tally.errors.values()),
        "errors_by_kind": tally.errors,
        "first_errors": tally.first_errors,
        "by_kind": {
            kind: {
                "count": len(values),
                "p50_ms": round(statistics.median(values) * 1000, 1),
                "p99_ms": round(percentile(values, 0.99) * 1000, 1),
            }
            for kind, values in sorted(tally.latencies.items())
        },
        "rss_mib": {
            "first": round(samples[0], 1),
            "after_first_fifth": round(warm, 1),
            "max": round(max(samples), 1),
            "last": round(final, 1),
        },
        "memory_flat": flat,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of traffic")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--sample-every", type=float, default=10.0, help="RSS sample, seconds")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    result = asyncio.run(soak(args))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0 if result["errors"] == 0 and result["memory_flat"] else 1


if __name__ == "__main__":
    sys.exit(main())
