"""A tenant with 20,000 roles pages through them while another tenant checks.

A real ``auth-server`` process (one worker, encryption on, rate limiting off) on
SQLite and PostgreSQL. The big tenant's roles carry encrypted descriptions and are
written straight into the database (creating them through the API would take
minutes). Four clients walk the whole listing at once, ``LISTING_WALKS_EACH`` times
each (default 1), 1,000 roles a page, while a separate process times another tenant's
``has_permission``.

Asserted: every walker sees every role exactly once, in name order; every check is
answered 200 and allowed; the reference client's ``list_roles`` (no ``limit``) gets
the first 1,000 roles in order. The latencies are printed (``pytest -s``) and
recorded in the README, never asserted: the machine's load is not this test's.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from auth import Client
from cryptography.fernet import Fernet
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.url import resolve_database_target
from app.models import Role
from app.security.cipher import FieldCipher
from tests.e2e.server import ServerProcess, free_port, server_env

pytestmark = pytest.mark.e2e

ROLE_COUNT = 20_000
WALKERS = 4
WALKS_EACH = int(os.environ.get("LISTING_WALKS_EACH", "1"))
"""Walks per walker (the README's figures: 2)."""
BASELINE_CHECKS = 300
FERNET_KEY = "PjxX3zqKfQkJbJ6m3rT8o9yJm1d1QWQ3l4qgKx5t0Ck="
DESCRIPTION = "Role description, encrypted at rest like every description of this tenant."

# Times sequential has_permission calls until the stop file appears (or ``count`` ran).
PROBER = """
import json, sys, time, pathlib, httpx
url, key, stop, count = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3]), int(sys.argv[4])
answers, times = [], []
with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
    while (count and len(times) < count) or (not count and not stop.exists()):
        started = time.perf_counter()
        response = http.get("/api/has_permission/alice/publish")
        times.append(time.perf_counter() - started)
        answers.append([response.status_code, response.json()["data"]["has_permission"]])
print(json.dumps({"times": times, "answers": answers}))
"""


@pytest.fixture
def encrypted_server(fresh_database_env: dict[str, str], tmp_path: Path) -> Iterator[ServerProcess]:
    env = server_env(
        tmp_path / "home",
        AUTH_PORT=str(free_port()),
        AUTH_STRICT_USERS_DEFAULT="false",
        AUTH_RATE_LIMIT_ENABLED="false",
        AUTH_ENABLE_ENCRYPTION="true",
        AUTH_ENCRYPTION_KEY=FERNET_KEY,
        **fresh_database_env,
    )
    with ServerProcess(tmp_path, env) as process:
        yield process


def _database_url(env: dict[str, str]) -> str:
    if "AUTH_SQLITE_PATH" in env:
        return f"sqlite:///{env['AUTH_SQLITE_PATH']}"
    return env["AUTH_DATABASE_URL"]


async def _seed(url: str, marker: str, names: list[str]) -> None:
    """Add ``names`` to the tenant that owns the role ``marker``."""
    cipher = FieldCipher(b"unused-index-key", [Fernet(FERNET_KEY)])
    engine = create_async_engine(resolve_database_target(url).url)
    try:
        async with engine.begin() as connection:
            tenant = (
                await connection.execute(select(Role.tenant_id).where(Role.name == marker))
            ).scalar_one()
            rows = [
                {"tenant_id": tenant, "name": name, "description": cipher.seal(DESCRIPTION)}
                for name in names
            ]
            for start in range(0, len(rows), 5000):
                await connection.execute(insert(Role), rows[start : start + 5000])
    finally:
        await engine.dispose()


def _probe(server: ServerProcess, key: str, stop: Path, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", PROBER, server.url, key, str(stop), str(count)],
        stdout=subprocess.PIPE,
        text=True,
    )


def _finish(prober: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = prober.communicate(timeout=300)
    assert prober.returncode == 0
    result: dict[str, Any] = json.loads(out)
    assert result["answers"], "the prober made no check"
    assert all(answer == [200, True] for answer in result["answers"])
    return result


def _figures(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"n={len(ms)} p50={statistics.median(ms):.1f} ms p99={p99:.1f} ms max={ms[-1]:.1f} ms"


_gate: dict[int, asyncio.Semaphore] = {}


async def _walk(server: ServerProcess, key: str) -> tuple[list[str], list[float]]:
    """One whole walk; at most ``WALKERS`` walks run at once."""
    async with _gate.setdefault(id(asyncio.get_running_loop()), asyncio.Semaphore(WALKERS)):
        return await _walk_once(server, key)


async def _walk_once(server: ServerProcess, key: str) -> tuple[list[str], list[float]]:
    names: list[str] = []
    page_times: list[float] = []
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=120) as http:
        link: str | None = "/api/roles?limit=1000"
        while link is not None:
            started = asyncio.get_running_loop().time()
            response = await http.get(link)
            page_times.append(asyncio.get_running_loop().time() - started)
            assert response.status_code == 200, response.text
            roles = response.json()["result"]
            assert all(role["description"] in (DESCRIPTION, None) for role in roles)
            names.extend(role["role"] for role in roles)
            header = response.headers.get("link")
            link = header[1 : header.index(">")] if header else None
    return names, page_times


async def test_paged_listings_of_a_big_tenant_leave_others_served(
    encrypted_server: ServerProcess, fresh_database_env: dict[str, str], tmp_path: Path
) -> None:
    big, small = str(uuid.uuid4()), str(uuid.uuid4())
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    with Client(api_key=big, service_url=encrypted_server.url, max_retries=0) as client:
        assert client.create_role(marker) == {"result": True}
    with Client(api_key=small, service_url=encrypted_server.url, max_retries=0) as client:
        client.create_role("editors")
        client.add_permission("editors", "publish")
        client.add_membership("alice", "editors")
    names = [f"role-{n:05d}" for n in range(ROLE_COUNT)]
    await _seed(_database_url(fresh_database_env), marker, names)
    expected = sorted([*names, marker])

    baseline = _finish(_probe(encrypted_server, small, tmp_path / "never", BASELINE_CHECKS))

    stop = tmp_path / "stop"
    prober = _probe(encrypted_server, small, stop, 0)
    try:
        walks = await asyncio.gather(
            *(_walk(encrypted_server, big) for _ in range(WALKERS * WALKS_EACH))
        )
    finally:
        stop.touch()
    loaded = _finish(prober)

    for seen, _ in walks:
        assert seen == expected
    with Client(api_key=big, service_url=encrypted_server.url, max_retries=0) as client:
        first = client.list_roles()["result"]
    assert [role["role"] for role in first] == expected[:1000]

    page_times = [t for _, times in walks for t in times]
    print(
        f"\n[{_database_url(fresh_database_env).split(':')[0]}] {ROLE_COUNT} roles, "
        f"{WALKERS} concurrent walkers x {WALKS_EACH} walks, limit=1000:"
        f"\n  other tenant alone:        {_figures(baseline['times'])}"
        f"\n  other tenant during walks: {_figures(loaded['times'])}"
        f"\n  one page of 1,000 roles:   {_figures(page_times)}"
    )
