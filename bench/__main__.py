"""``make bench``: the service's speed, side by side with a bare FastAPI route.

    python -m bench [--scenarios sqlite,encrypted,...] [--memberships 10000]
                    [--duration 10] [--connections 16] [--smoke]

Every scenario starts its own ``auth-server serve`` (defaults: logging, metrics,
security headers, rate limiting on; SQLite in a scratch directory, or a PostgreSQL
database of its own), seeds a tenant (``--memberships`` memberships over 250 roles,
4 roles a user; through ``POST /api/bulk`` when the server has it, else the REST
API), checks a sample of answers, pins the server to core 0 and Debian's ``wrk`` to
core 1, and runs ``GET /api/has_permission/{user}/{name}`` over 2,000 random
questions (about half allowed) for ``--duration`` seconds at ``--connections``
connections. The bare route (:mod:`bench.bare_app`) runs all along, pinned to the
same core: the load alternates between it and the service in ``--rounds`` slices, and
each figure is the median slice, reported with its ratio to the bare route's, so that
the machine's noise cancels. Besides decisions: REST writes per second (new
memberships), a 1,000-check ``POST /api/check`` (median client-side time over 20),
the server's resident memory after the run, and its start-up time.

Scenarios: ``sqlite`` (the default settings), ``encrypted`` (field encryption on),
``audited`` (``AUTH_AUDIT_PERMISSION_CHECKS``: a write per check), ``postgresql``,
``postgresql-encrypted``, ``workers2`` (``--workers 2``, both cores, beside wrk).
Results go to ``bench/results/<time>.json`` as well.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from bench import harness, wrk

SERVER_CORE = 0
LOAD_CORE = 1
SEED_LIMITS = {
    "AUTH_RATE_LIMIT_WRITE": "10000000/minute",
    "AUTH_RATE_LIMIT_DEFAULT": "10000000/minute",
    "AUTH_RATE_LIMIT_ROLE_CREATE": "10000000/minute",
}
SCENARIOS: dict[str, dict[str, str]] = {
    "sqlite": {},
    "encrypted": {"AUTH_ENABLE_ENCRYPTION": "true"},
    "audited": {"AUTH_AUDIT_PERMISSION_CHECKS": "true"},
    "postgresql": {},
    "postgresql-encrypted": {"AUTH_ENABLE_ENCRYPTION": "true"},
    "workers2": {"AUTH_WORKERS": "2"},
}


@dataclass
class Row:
    scenario: str
    bare_checks_per_second: float
    memberships: int
    seeded_via: str
    seed_writes_per_second: float
    checks_per_second: float
    ratio: float
    p50_ms: float
    p99_ms: float
    p99_ratio: float
    errors: int
    writes_per_second: float | None
    write_errors: int | None
    batch_ms: float | None
    rss_mib: float
    startup_seconds: float


def _batch_ms(url: str, key: str, data: harness.Dataset) -> float:
    checks = [{"user": u, "permission": p} for u, p, _ in (data.questions * 2)[:1000]]
    timings = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as http:
        for _ in range(21):
            started = time.perf_counter()
            response = http.post("/api/check", json={"checks": checks})
            timings.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
    return statistics.median(timings[1:])


def _writes(
    url: str, key: str, workdir: Path, args: argparse.Namespace, core: int | None
) -> wrk.Load:
    script = wrk.write_unique_posts(
        workdir / "writes.lua", key=key, before="/api/membership/writer", after="/r0"
    )
    return wrk.run(url, script, seconds=args.duration, connections=args.connections, core=core)


def _side_by_side(
    service_url: str,
    service_script: Path,
    bare_url: str,
    bare_script: Path,
    args: argparse.Namespace,
    core: int | None,
) -> tuple[wrk.Load, wrk.Load]:
    """Alternate slices of load on the bare route and on the service (``--rounds``
    each), so both see the machine in the same state; the median slice of each."""
    seconds = args.duration / args.rounds
    bare_loads, loads = [], []
    for _ in range(args.rounds):
        bare_loads.append(
            wrk.run(
                bare_url, bare_script, seconds=seconds, connections=args.connections, core=LOAD_CORE
            )
        )
        loads.append(
            wrk.run(
                service_url,
                service_script,
                seconds=seconds,
                connections=args.connections,
                core=core,
            )
        )

    def median(runs: list[wrk.Load]) -> wrk.Load:
        return sorted(runs, key=lambda load: load.requests_per_second)[len(runs) // 2]

    return median(loads), median(bare_loads)


def run_scenario(
    name: str,
    args: argparse.Namespace,
    workdir: Path,
    bare_server: harness.Running,
    bare_script: Path,
    stack: ExitStack,
) -> Row:
    settings = {**SEED_LIMITS, **SCENARIOS[name]}
    if settings.get("AUTH_ENABLE_ENCRYPTION") == "true":
        settings["AUTH_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    postgresql_url = None
    if name.startswith("postgresql"):
        from tests.databases import postgresql_database

        postgresql_url = stack.enter_context(_sync(postgresql_database("auth_bench")))
    workers = name == "workers2"
    server_core = None if workers else SERVER_CORE
    load_core = None if workers else LOAD_CORE
    data = harness.Dataset.build(args.memberships)
    directory = workdir / name
    with harness.service(
        directory, core=server_core, postgresql_url=postgresql_url, **settings
    ) as server:
        seeded = harness.seed(server.url, data)
        harness.check_answers(server.url, seeded.key, data)
        script = wrk.write_script(directory / "checks.lua", key=seeded.key, paths=data.paths())
        if not args.smoke:  # warm-up
            wrk.run(server.url, script, seconds=1, connections=args.connections, core=load_core)
        load, bare_load = _side_by_side(
            server.url, script, bare_server.url, bare_script, args, load_core
        )
        batch = _batch_ms(server.url, seeded.key, data)
        writes = None if args.smoke else _writes(server.url, seeded.key, directory, args, load_core)
        rss = harness.rss_mib(server.pid)
        if writes is not None and writes.errors:
            print(f"{name}: {writes.errors} writes answered other than 200", file=sys.stderr)
    return Row(
        scenario=name,
        bare_checks_per_second=round(bare_load.requests_per_second, 1),
        memberships=data.size,
        seeded_via=seeded.via,
        seed_writes_per_second=round(seeded.writes / seeded.seconds, 1),
        checks_per_second=round(load.requests_per_second, 1),
        ratio=round(load.requests_per_second / bare_load.requests_per_second, 3),
        p50_ms=round(load.p50_ms, 2),
        p99_ms=round(load.p99_ms, 2),
        p99_ratio=round(load.p99_ms / bare_load.p99_ms, 2),
        errors=load.errors,
        writes_per_second=None if writes is None else round(writes.requests_per_second, 1),
        write_errors=None if writes is None else writes.errors,
        batch_ms=round(batch, 2),
        rss_mib=round(rss, 1),
        startup_seconds=round(server.startup_seconds, 2),
    )


class _sync:
    """An async context manager driven from synchronous code (one event loop each way)."""

    def __init__(self, manager: object) -> None:
        self.manager = manager

    def __enter__(self) -> str:
        import asyncio

        self.loop = asyncio.new_event_loop()
        return str(self.loop.run_until_complete(self.manager.__aenter__()))  # type: ignore[attr-defined]

    def __exit__(self, *exc: object) -> None:
        self.loop.run_until_complete(self.manager.__aexit__(None, None, None))  # type: ignore[attr-defined]
        self.loop.close()


def _table(rows: list[Row]) -> str:
    lines = [
        "| scenario | memberships | checks/s | bare route/s | x bare | p50 ms | p99 ms "
        "| p99 x bare | errors | writes/s | 1,000-check batch ms | seed writes/s (via) "
        "| RSS MiB | start-up s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        writes = (
            "-"
            if row.writes_per_second is None
            else f"{row.writes_per_second:,.0f} ({row.write_errors} failed)"
        )
        lines.append(
            f"| {row.scenario} | {row.memberships:,} | {row.checks_per_second:,.0f} "
            f"| {row.bare_checks_per_second:,.0f} "
            f"| {row.ratio:.2f} | {row.p50_ms:.2f} | {row.p99_ms:.2f} | {row.p99_ratio:.2f} "
            f"| {row.errors} | {writes} | {row.batch_ms} "
            f"| {row.seed_writes_per_second:,.0f} ({row.seeded_via}) | {row.rss_mib:.0f} "
            f"| {row.startup_seconds:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--scenarios",
        default="sqlite,encrypted,postgresql",
        help="comma-separated (default: %(default)s); all: " + ",".join(SCENARIOS),
    )
    parser.add_argument("--memberships", type=int, default=10_000, help="default: %(default)s")
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds (default: %(default)s)"
    )
    parser.add_argument("--connections", type=int, default=16, help="default: %(default)s")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternating slices of bare route and service (default: %(default)s)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a few seconds: tiny data set, sqlite only, one round, no warm-up (the suite runs this)",
    )
    args = parser.parse_args(argv)
    if not wrk.available():
        print("bench: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    names = (
        ["sqlite"] if args.smoke else [n.strip() for n in args.scenarios.split(",") if n.strip()]
    )
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if args.smoke:
        args.memberships, args.duration, args.rounds = min(args.memberships, 400), 1.0, 1
    with tempfile.TemporaryDirectory(prefix="auth-bench-") as scratch, ExitStack() as stack:
        workdir = Path(scratch)
        bare_server = stack.enter_context(harness.bare(workdir, core=SERVER_CORE))
        bare_script = wrk.write_script(
            workdir / "bare.lua", key="bare", paths=harness.Dataset.build(400).paths()
        )
        wrk.run(
            bare_server.url, bare_script, seconds=1, connections=args.connections, core=LOAD_CORE
        )
        rows = [
            run_scenario(name, args, workdir, bare_server, bare_script, stack) for name in names
        ]
    print(_table(rows))
    if not args.smoke:
        results = Path(__file__).resolve().parent / "results"
        results.mkdir(exist_ok=True)
        document = {"rows": [asdict(row) for row in rows], "argv": sys.argv[1:]}
        (results / f"{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(
            json.dumps(document, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
