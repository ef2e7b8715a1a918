"""Helpers of the data-protection suite.

* :class:`PrivateDatabase`: a fresh, migrated database with settings for in-process
  apps and the environment of ``auth-server`` processes on it (same secrets).
* Raw access past the service (SQL through the app's own engine), keyed values
  (blind index, user fingerprints) computed independently from the documented
  derivation, and a scan for values that must never be stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import subprocess
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import FastAPI
from sqlalchemy import text

from app.config import Settings
from app.db.migrations import upgrade
from app.db.url import resolve_database_target
from app.main import create_app
from app.state import AppState
from tests.conftest import TEST_JWT_SECRET, TEST_KEY_HASH_SECRET, make_settings
from tests.databases import postgresql_database
from tests.e2e.server import run_cli, run_cli_in_process, server_env

HEX64 = re.compile(r"[0-9a-f]{64}")
FINGERPRINT = re.compile(r"u_[0-9a-f]{16}")
ENCRYPTED_PREFIX = "enc:v1:"
TENANT_TABLES = ("roles", "memberships", "grants", "api_keys")
# Two Fernet keys for rotation tests (Fernet.generate_key()).
KEY_A = "k2T0Q-4rrXl2YaHdPc-8zaR6G41nJG15f5iAEXARchE="
KEY_B = "fg0ljvJONlB_X8gcoMOf6SSR2V9Txh1tL1EQ4UirQbw="
BASE_URL = "http://testserver"


@dataclass(frozen=True)
class PrivateDatabase:
    """A fresh database: ``url`` as an operator writes it, ``directory`` for state."""

    url: str
    directory: Path

    def settings(self, **overrides: object) -> Settings:
        return make_settings(
            resolve_database_target(self.url),
            self.directory / "state",
            rate_limit_enabled=False,
            **overrides,
        )

    def env(self, **auth: str) -> dict[str, str]:
        """The environment of an ``auth-server`` process on this database."""
        return server_env(
            self.directory / "home",
            AUTH_DATABASE_URL=self.url,
            AUTH_KEY_HASH_SECRET=TEST_KEY_HASH_SECRET,
            AUTH_JWT_SECRET_KEY=TEST_JWT_SECRET,
            AUTH_STRICT_USERS_DEFAULT="false",
            AUTH_RATE_LIMIT_ENABLED="false",
            **auth,
        )

    def cli(self, *args: str, **auth: str) -> subprocess.CompletedProcess[str]:
        """``auth-server ARGS`` on this database: a real process, run to completion."""
        return run_cli(list(args), self.env(**auth), self.directory)

    async def cli_in_process(self, *args: str, **auth: str) -> subprocess.CompletedProcess[str]:
        """The same command through :func:`app.cli.main` in this process (no interpreter
        start-up; see :func:`tests.e2e.server.run_cli_in_process`), in a worker thread
        since the command runs its own event loop."""
        return await asyncio.to_thread(
            run_cli_in_process, list(args), self.env(**auth), self.directory
        )


@asynccontextmanager
async def fresh_database(backend: str, directory: Path) -> AsyncIterator[PrivateDatabase]:
    if backend == "sqlite":
        url = f"sqlite:///{directory / 'auth.sqlite3'}"
        await asyncio.to_thread(upgrade, resolve_database_target(url))
        yield PrivateDatabase(url, directory)
        return
    async with postgresql_database("auth_protection") as url:
        await asyncio.to_thread(upgrade, resolve_database_target(url))
        yield PrivateDatabase(url, directory)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[FastAPI]:
    """An app with its real lifespan."""
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@asynccontextmanager
async def http_client(
    app: FastAPI,
    client_key: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    raise_app_exceptions: bool = True,
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app``, authenticated when ``client_key`` is given."""
    merged = {"Authorization": f"Bearer {client_key}"} if client_key else {}
    merged.update(headers or {})
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=merged) as http:
        yield http


def state(app: FastAPI) -> AppState:
    result: AppState = app.state.auth
    return result


async def fetch(app: FastAPI, sql: str, **params: object) -> list[dict[str, Any]]:
    async with state(app).database.transaction(write=False) as session:
        result = await session.execute(text(sql), params)
        return [dict(row._mapping) for row in result]


async def execute(app: FastAPI, sql: str, **params: object) -> int:
    """Run one statement in a committed write transaction; rows affected."""
    async with state(app).database.transaction() as session:
        result = await session.execute(text(sql), params)
        return int(getattr(result, "rowcount", 0))


async def tenant_rows(app: FastAPI, table: str, tenant_id: int) -> list[dict[str, Any]]:
    assert table in TENANT_TABLES
    sql = f"SELECT * FROM {table} WHERE tenant_id = :tenant ORDER BY id"  # noqa: S608
    return await fetch(app, sql, tenant=tenant_id)


def opened(app: FastAPI, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Audit rows with their resource opened. With encryption on, every stored
    resource must be sealed (``enc:v1:``): a plaintext one fails here."""
    cipher = state(app).cipher
    result = []
    for row in rows:
        stored = row["resource"]
        if cipher.enabled and stored is not None:
            assert stored.startswith(ENCRYPTED_PREFIX), stored
        result.append(row | {"resource": cipher.open_optional(stored)})
    return result


async def audit_rows(app: FastAPI, chain_id: int) -> list[dict[str, Any]]:
    """One chain's rows in ``seq`` order, resources opened (see :func:`opened`)."""
    sql = "SELECT * FROM audit_log WHERE chain_id = :chain ORDER BY seq"
    return opened(app, await fetch(app, sql, chain=chain_id))


async def audit_total(app: FastAPI) -> int:
    rows = await fetch(app, "SELECT count(*) AS n FROM audit_log")
    return int(rows[0]["n"])


async def tenant_of(app: FastAPI, http: httpx.AsyncClient) -> int:
    """The tenant id behind ``http``'s client key (registered by a read if new)."""
    assert (await http.get("/api/roles")).status_code == 200
    key = http.headers["authorization"].split()[1]
    digest = hmac.new(state(app).secrets.key_hash, key.lower().encode(), hashlib.sha256)
    rows = await fetch(app, "SELECT id FROM tenants WHERE key_hash = :h", h=digest.hexdigest())
    assert len(rows) == 1
    return int(rows[0]["id"])


def _derived(info: bytes) -> bytes:
    """A key derived from the test key-hash secret, as the service documents it."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info)
    return hkdf.derive(TEST_KEY_HASH_SECRET.encode())


BLIND_INDEX_KEY = _derived(b"auth blind index v1")
AUDIT_KEY = _derived(b"auth audit chain v1")


def blind_index(tenant_id: int, field: str, value: str) -> str:
    message = f"{tenant_id}:{field}:{value}".encode()
    return hmac.new(BLIND_INDEX_KEY, message, hashlib.sha256).hexdigest()


def fingerprint(tenant_id: int, user: str) -> str:
    digest = hmac.new(AUDIT_KEY, f"{tenant_id}:{user}".encode(), hashlib.sha256).hexdigest()
    return f"u_{digest[:16]}"


def stored_values(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        for value in row.values():
            if value is not None:
                yield str(value)


def leaked(rows: Iterable[dict[str, Any]], forbidden: Iterable[str]) -> set[str]:
    """The forbidden values (case-insensitive) found inside any stored value."""
    values = [value.lower() for value in stored_values(rows)]
    return {item for item in forbidden if any(item.lower() in value for value in values)}


def event(row: dict[str, Any]) -> tuple[str, str, str | None, bool, str | None]:
    """(action, entity_type, resource, success, user fingerprint) of an audit row."""
    return (
        row["action"],
        row["entity_type"],
        row["resource"],
        bool(row["success"]),
        row["user_fingerprint"],
    )


def details(row: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(row["details"])
    return parsed


class AuditWatch:
    """New rows of one chain since the last call."""

    def __init__(self, app: FastAPI, chain_id: int) -> None:
        self.app = app
        self.chain_id = chain_id
        self.seen = 0

    async def new(self) -> list[dict[str, Any]]:
        rows = await fetch(
            self.app,
            "SELECT * FROM audit_log WHERE chain_id = :chain AND seq > :seen ORDER BY seq",
            chain=self.chain_id,
            seen=self.seen,
        )
        if rows:
            self.seen = int(rows[-1]["seq"])
        return opened(self.app, rows)

    async def events(self) -> list[tuple[str, str, str | None, bool, str | None]]:
        return [event(row) for row in await self.new()]
