"""Helpers of the cross-process freshness tests (``tests/e2e/test_freshness.py``).

* :class:`Cluster`: two ``auth-server`` processes on one database, ``a`` with the
  default cache and ``b`` with ``AUTH_DECISION_CACHE_ENTRIES`` = :data:`SMALL_CACHE`
  (so B also evicts and rebuilds snapshots while the writes go on), and the
  :class:`Settings` an operator command run by the test uses.
* :class:`Ledger`: every write and every answer of a scenario, in order; the answers
  that differ from the state the last acknowledged write left (stale answers) are
  collected, and :meth:`Ledger.assert_fresh` fails with the sequence that led to them.
* :func:`warm`: ask a server until one of its answers came from the tenant's current
  snapshot (``auth_decision_snapshot_answers_total{probe="probed"}`` grew), so the
  write that follows must invalidate a warm cache, not merely miss a cold one.
* :class:`Toggle`: one round of a scenario: warm the reader, write on the writer,
  ask the reader at once (twice), for a write that flips one question's answer.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from jose import jwt

from app.config import Settings
from app.db.migrations import upgrade
from app.tenants.admin import rekey
from tests.conftest import TEST_FERNET_KEY, TEST_JWT_SECRET, TEST_KEY_HASH_SECRET
from tests.e2e.server import ServerProcess, free_port, server_env

SMALL_CACHE = 20
USER = "alice@example.com"
ROLE = "editors"
PERMISSION = "publish"
WARM_ATTEMPTS = 40
VIA = ("has_permission", "can_run")
"""The two decision routes; rounds alternate between them."""

Answer = tuple[int, bool | None, str | None]
"""``(status, has_permission, reason)`` of a decision."""
ALLOWED: Answer = (200, True, None)
DENIED: Answer = (200, False, None)
NOT_KEY_BACKED: Answer = (200, False, "user_not_key_backed")
REFUSED: Answer = (401, None, None)

CURRENT = 'auth_decision_snapshot_answers_total{probe="probed"}'


@dataclass
class Cluster:
    a: ServerProcess
    b: ServerProcess
    """Its cache holds at most :data:`SMALL_CACHE` rows."""
    settings: Settings
    """What an operator command run by the test uses (the servers' database and secrets)."""

    def sides(self, turn: int) -> tuple[ServerProcess, ServerProcess]:
        """``(writer, reader)``: A writes and B reads on even turns, the other way round
        on odd ones, so both caches are warmed and invalidated."""
        return (self.a, self.b) if turn % 2 == 0 else (self.b, self.a)

    def name(self, server: ServerProcess) -> str:
        return "A" if server.url == self.a.url else "B"


def _shared_env(backend: str, database_env: dict[str, str]) -> dict[str, str]:
    env = {
        "AUTH_KEY_HASH_SECRET": TEST_KEY_HASH_SECRET,
        "AUTH_JWT_SECRET_KEY": TEST_JWT_SECRET,
        # Every answer here is about freshness; budgets are tested in tests/edge.
        "AUTH_RATE_LIMIT_ENABLED": "false",
        "AUTH_LOG_LEVEL": "warning",
        **database_env,
    }
    if backend == "postgresql":  # decisions by blind index of encrypted names
        env |= {"AUTH_ENABLE_ENCRYPTION": "true", "AUTH_ENCRYPTION_KEY": TEST_FERNET_KEY}
    return env


def operator_settings(env: dict[str, str], state_dir: Path) -> Settings:
    url = env.get("AUTH_DATABASE_URL") or f"sqlite:///{env['AUTH_SQLITE_PATH']}"
    values: dict[str, Any] = {
        "database_url": url,
        "key_hash_secret": env["AUTH_KEY_HASH_SECRET"],
        "jwt_secret_key": env["AUTH_JWT_SECRET_KEY"],
        "state_dir": state_dir,
        "log_level": "warning",
    }
    if env.get("AUTH_ENABLE_ENCRYPTION") == "true":
        values |= {"enable_encryption": True, "encryption_key": env["AUTH_ENCRYPTION_KEY"]}
    return Settings(_env_file=None, **values)


@contextmanager
def start_cluster(backend: str, database_env: dict[str, str], workdir: Path) -> Iterator[Cluster]:
    """A and B on one database, migrated first, then started side by side."""
    shared = _shared_env(backend, database_env)
    settings = operator_settings(shared, workdir / "cli")
    upgrade(settings.database)
    with ExitStack() as stack:
        servers = []
        for name, extra in (("a", {}), ("b", {"AUTH_DECISION_CACHE_ENTRIES": str(SMALL_CACHE)})):
            home = workdir / name
            home.mkdir(parents=True, exist_ok=True)
            env = server_env(
                home / "home",
                AUTH_PORT=str(free_port()),
                AUTH_MIGRATE_ON_START="false",
                **shared,
                **extra,
            )
            server = ServerProcess(home, env)
            stack.callback(server.stop)
            server.start()
            servers.append(server)
        for server in servers:
            server.wait_healthy()
        yield Cluster(servers[0], servers[1], settings)


# --- HTTP -------------------------------------------------------------------------------


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


async def write(
    http: httpx.AsyncClient,
    server: ServerProcess,
    credential: str,
    method: str,
    path: str,
    body: dict[str, Any] | str | None = None,
) -> httpx.Response:
    """One write; anything but 200 fails the test (a write must be acknowledged). A
    ``str`` body goes as JSON lines (``POST /api/bulk``)."""
    url, headers = f"{server.url}{path}", bearer(credential)
    if isinstance(body, str):
        headers["Content-Type"] = "application/x-ndjson"
        response = await http.request(method, url, headers=headers, content=body)
    else:
        response = await http.request(method, url, headers=headers, json=body)
    assert response.status_code == 200, (method, path, response.status_code, response.text)
    return response


async def decision(
    http: httpx.AsyncClient,
    server: ServerProcess,
    credential: str,
    *,
    user: str = USER,
    permission: str = PERMISSION,
    via: str = "has_permission",
) -> Answer:
    if via == "has_permission":
        path = f"/api/has_permission/{user}/{permission}"
    else:
        path = f"/api/workflow/user/{user}/can_run/{permission}"
    response = await http.get(f"{server.url}{path}", headers=bearer(credential))
    if response.status_code != 200:
        return response.status_code, None, None
    data = response.json()["data"]
    return 200, data["has_permission"], data.get("reason")


async def issue_token(http: httpx.AsyncClient, server: ServerProcess, client_key: str) -> str:
    response = await write(http, server, client_key, "POST", "/api/token", {"scope": "check"})
    token: str = response.json()["access_token"]
    return token


def token_tenant(token: str) -> int:
    """The tenant id an access token names (its ``tid`` claim)."""
    return int(jwt.get_unverified_claims(token)["tid"])


async def open_tenant(http: httpx.AsyncClient, server: ServerProcess) -> tuple[str, str]:
    """A new tenant where USER (holding one API key) is in ROLE, which holds
    PERMISSION; its client key and the API key's id."""
    key = str(uuid.uuid4())
    await write(http, server, key, "POST", f"/api/role/{ROLE}")
    await write(http, server, key, "POST", f"/api/permission/{ROLE}/{PERMISSION}")
    issued = await write(http, server, key, "POST", f"/api/apikeys/user/{USER}")
    await write(http, server, key, "POST", f"/api/membership/{USER}/{ROLE}")
    return key, str(issued.json()["data"]["key_id"])


async def rotate_client_key(
    http: httpx.AsyncClient, cluster: Cluster, turn: int, key: str, token: str
) -> tuple[str, str]:
    """Move the tenant to a new client key, in turn by ``POST /api/keys/rotate``, by
    ``/api/keys/recover`` with its rotate key, or by the operator's ``tenant rekey``
    (its service function); the new key and what was done."""
    writer = cluster.sides(turn)[0]
    way = turn % 3
    if way == 0:
        rotated = await write(http, writer, key, "POST", "/api/keys/rotate")
        return str(rotated.json()["data"]["new_key"]), f"{cluster.name(writer)}: rotate"
    if way == 1:
        issued = await write(http, writer, key, "POST", "/api/keys/get_rotate_key")
        body = {"rotate_key": issued.json()["data"]["rotate_key"]}
        recovered = await http.post(f"{writer.url}/api/keys/recover", json=body)
        assert recovered.status_code == 200, recovered.text
        return str(recovered.json()["data"]["new_key"]), f"{cluster.name(writer)}: recover"
    new_key = await rekey(cluster.settings, token_tenant(token))
    assert new_key is not None
    return new_key, "operator: tenant rekey"


async def shorten_key(
    http: httpx.AsyncClient, writer: ServerProcess, key: str, key_id: str, window: float
) -> float:
    """Shorten USER's API key ``key_id`` to expire ``window`` seconds from now; when a
    busy machine delivered the request after that moment (400: not in the future),
    try a longer window. The new expiry, as Unix time."""
    path = f"{writer.url}/api/apikeys/user/{USER}/{key_id}"
    for attempt in range(4):
        expires = time.time() + window * (1 << attempt)
        body = {"expires_at": datetime.fromtimestamp(expires, UTC).isoformat()}
        response = await http.patch(path, headers=bearer(key), json=body)
        if response.status_code == 200:
            return expires
        assert response.status_code == 400, response.text
    raise AssertionError("the key's expiry could not be shortened")


async def metrics(http: httpx.AsyncClient, server: ServerProcess, *series: str) -> list[float]:
    """The values of ``series`` (``name{labels}`` as exposed) on ``server``'s /metrics."""
    text = (await http.get(f"{server.url}/metrics")).text
    values = []
    for name in series:
        found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        assert found is not None, f"{name} is missing from /metrics"
        values.append(float(found.group(1)))
    return values


async def current_answers(http: httpx.AsyncClient, server: ServerProcess) -> float:
    """How many requests ``server`` served with a current snapshot."""
    [value] = await metrics(http, server, CURRENT)
    return value


# --- the record -------------------------------------------------------------------------


@dataclass
class Ledger:
    """The sequence of one scenario and the stale answers it met."""

    kind: str
    cluster: Cluster
    sequence: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    checks: int = 0
    warmed: int = 0

    def wrote(self, server: ServerProcess | str, what: str) -> None:
        where = server if isinstance(server, str) else self.cluster.name(server)
        self.sequence.append(f"{where}: {what} -> 200")

    async def expect(
        self,
        http: httpx.AsyncClient,
        server: ServerProcess,
        credential: str,
        want: Answer,
        label: str,
        **question: str,
    ) -> None:
        got = await decision(http, server, credential, **question)
        self.record(server, f"{label} {question or ''}", got, want)

    def record(self, server: ServerProcess, label: str, got: Answer, want: Answer) -> None:
        self.checks += 1
        line = f"{self.cluster.name(server)}: {label} -> {got}"
        self.sequence.append(line)
        if got != want:
            self.stale.append(f"{line}, expected {want} (step {len(self.sequence)})")

    def assert_fresh(self, min_checks: int) -> None:
        assert not self.stale, (
            f"{len(self.stale)} stale answers in {self.kind}:\n"
            + "\n".join(self.stale)
            + "\nsequence (last 60 steps):\n"
            + "\n".join(self.sequence[-60:])
        )
        assert self.checks >= min_checks, (self.kind, self.checks)


async def warm(
    http: httpx.AsyncClient,
    server: ServerProcess,
    ledger: Ledger,
    *asks: tuple[str, Answer],
    via: str = "has_permission",
) -> None:
    """Ask ``server`` each ``(credential, expected answer)`` of ``asks`` (recorded in
    ``ledger``) until it answered from the tenant's current snapshot: its cache then
    holds the tenant at the stored revision."""
    before = await current_answers(http, server)
    for attempt in range(WARM_ATTEMPTS):
        for credential, want in asks:
            await ledger.expect(http, server, credential, want, "warm", via=via)
        if await current_answers(http, server) > before:
            ledger.warmed += 1
            return
        await asyncio.sleep(0.002 * (attempt + 1))
    raise AssertionError(f"{ledger.cluster.name(server)} never answered from its snapshot")


class Toggle:
    """One tenant, one question, a write that flips its answer: warm the reader, write
    on the writer, ask the reader at once."""

    def __init__(self, http: httpx.AsyncClient, ledger: Ledger, key: str, state: Answer) -> None:
        self.http = http
        self.ledger = ledger
        self.key = key
        self.state = state

    async def step(
        self,
        turn: int,
        method: str,
        path: str,
        after: Answer,
        body: dict[str, object] | str | None = None,
    ) -> httpx.Response:
        writer, reader = self.ledger.cluster.sides(turn)
        via = VIA[turn % 2]

        await warm(self.http, reader, self.ledger, (self.key, self.state), via=via)
        response = await write(self.http, writer, self.key, method, path, body)
        self.ledger.wrote(writer, f"{method} {path}")
        self.state = after
        for label in ("at once", "again"):
            await self.ledger.expect(self.http, reader, self.key, after, label, via=via)
        return response
