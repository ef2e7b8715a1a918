"""Noisy neighbours: one tenant lists and writes at full speed while another checks.

A real ``auth-server`` process (one worker, field encryption on, rate budgets raised
so that the noise is never throttled) on SQLite and PostgreSQL. The noisy tenant holds
300 roles, loaded in one ``POST /api/bulk``; four clients walk ``GET /api/roles`` (a
page of 300 encrypted roles), ``which_users_can`` and ``members`` and create, grant
and delete roles, as fast as the server answers. A separate process times the quiet tenant's sequential
``has_permission`` calls, first alone, then under the noise, for ``NOISE_SECONDS``
each.

Asserted: every quiet check answers 200 and allowed, every noisy request answers 200.
The quiet tenant's p50/p99 alone and under noise are printed (``pytest -s``) and
recorded in the README, never asserted: the machine's load is not this test's.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.bulk.helpers import NDJSON, ndjson
from tests.e2e.server import ServerProcess, free_port, server_env

pytestmark = pytest.mark.e2e

NOISY_ROLES = 300
NOISE_CLIENTS = 4
NOISE_SECONDS = float(os.environ.get("NOISE_SECONDS", "2"))
FERNET_KEY = "PjxX3zqKfQkJbJ6m3rT8o9yJm1d1QWQ3l4qgKx5t0Ck="
RAISED = "100000000/minute"

# Times sequential has_permission calls of one tenant for a number of seconds.
PROBER = """
import json, sys, time, httpx
url, key, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
answers, times = [], []
with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
    http.get("/api/has_permission/alice/publish")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        response = http.get("/api/has_permission/alice/publish")
        times.append(time.perf_counter() - started)
        answers.append([response.status_code, response.json()["data"]["has_permission"]])
print(json.dumps({"times": times, "answers": answers}))
"""


@pytest.fixture
def shared_server(fresh_database_env: dict[str, str], tmp_path: Path) -> Iterator[ServerProcess]:
    budgets = {
        f"AUTH_RATE_LIMIT_{name}": RAISED
        for name in ("DEFAULT", "WRITE", "ROLE_CREATE", "REGISTRATION")
    }
    env = server_env(
        tmp_path / "home",
        AUTH_PORT=str(free_port()),
        AUTH_STRICT_USERS_DEFAULT="false",
        AUTH_ENABLE_ENCRYPTION="true",
        AUTH_ENCRYPTION_KEY=FERNET_KEY,
        AUTH_LOG_LEVEL="warning",
        **budgets,
        **fresh_database_env,
    )
    with ServerProcess(tmp_path, env) as process:
        yield process


def _probe(url: str, key: str, seconds: float) -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, "-c", PROBER, url, key, str(seconds)],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    result: dict[str, Any] = json.loads(run.stdout)
    return result


def _figures(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return statistics.median(ordered) * 1000, p99 * 1000


async def _seed(url: str, quiet_key: str, noisy_key: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        quiet = {"Authorization": f"Bearer {quiet_key}"}
        for path in ("/api/role/editors", "/api/permission/editors/publish"):
            assert (await http.post(path, headers=quiet)).status_code == 200
        assert (await http.post("/api/membership/alice/editors", headers=quiet)).json() == {
            "result": True
        }
        # The noisy tenant's 300 roles in one import: seeding is not this test's subject.
        records: list[dict[str, str]] = []
        for n in range(NOISY_ROLES):
            role = f"r{n:04d}"
            records += [
                {"type": "role", "role": role},
                {"type": "grant", "role": role, "permission": "publish"},
            ]
            if n % 10 == 0:
                records.append({"type": "membership", "user": f"u{n}", "role": role})
        imported = await http.post(
            "/api/bulk",
            content=ndjson(records),
            headers={"Authorization": f"Bearer {noisy_key}", **NDJSON},
        )
        assert imported.status_code == 200, imported.text
        assert imported.json()["data"] == {
            "roles": NOISY_ROLES,
            "grants": NOISY_ROLES,
            "memberships": NOISY_ROLES // 10,
        }


async def _noise(
    url: str, key: str, stop: asyncio.Event, worker: int, answered: asyncio.Event
) -> list[int]:
    """One noisy client's statuses: listings and writes as fast as answered
    (``answered`` is set at its first answer)."""
    paths = [
        ("GET", "/api/roles"),
        ("GET", "/api/which_users_can/publish"),
        ("GET", "/api/members/r0000"),
        ("POST", f"/api/role/scratch{worker}"),
        ("POST", f"/api/permission/scratch{worker}/publish"),
        ("DELETE", f"/api/role/scratch{worker}"),
    ]
    statuses: list[int] = []
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        while not stop.is_set():
            for method, path in paths:
                statuses.append((await http.request(method, path)).status_code)
                answered.set()
    return statuses


async def test_a_noisy_tenant_does_not_break_another(shared_server: ServerProcess) -> None:
    quiet_key, noisy_key = str(uuid.uuid4()), str(uuid.uuid4())
    await _seed(shared_server.url, quiet_key, noisy_key)

    alone = await asyncio.to_thread(_probe, shared_server.url, quiet_key, NOISE_SECONDS)
    stop = asyncio.Event()
    answered = [asyncio.Event() for _ in range(NOISE_CLIENTS)]
    noise = [
        asyncio.create_task(_noise(shared_server.url, noisy_key, stop, n, answered[n]))
        for n in range(NOISE_CLIENTS)
    ]
    # Measure once every noisy client is being answered.
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in answered)), 60)
    started = time.monotonic()
    noisy = await asyncio.to_thread(_probe, shared_server.url, quiet_key, NOISE_SECONDS)
    stop.set()
    noise_statuses = [status for statuses in await asyncio.gather(*noise) for status in statuses]
    noise_seconds = time.monotonic() - started

    for answers in (alone["answers"], noisy["answers"]):
        assert answers
        assert all(answer == [200, True] for answer in answers)
    assert noise_statuses
    assert set(noise_statuses) == {200}
    assert "Traceback" not in shared_server.log()

    alone_p50, alone_p99 = _figures(alone["times"])
    noisy_p50, noisy_p99 = _figures(noisy["times"])
    print(
        f"\nquiet tenant has_permission: alone p50 {alone_p50:.1f} ms p99 {alone_p99:.1f} ms "
        f"({len(alone['times'])} checks); under noise p50 {noisy_p50:.1f} ms "
        f"p99 {noisy_p99:.1f} ms ({len(noisy['times'])} checks), p99 ratio "
        f"{noisy_p99 / alone_p99:.2f}; noise: {len(noise_statuses)} requests "
        f"({len(noise_statuses) / noise_seconds:.0f}/s)"
    )
