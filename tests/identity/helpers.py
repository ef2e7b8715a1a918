"""Helpers of the identity suite: secret-watching clients, database access, tokens.

:class:`SecretWatch` is attached to every client of this package as an httpx response
hook: no answer may carry a secret that its request presented (client key, token,
API-key or rotate-key secret) or that an earlier answer issued.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import FastAPI
from jose import jwt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Tenant
from app.security.credentials import hash_client_key
from app.security.secrets import key_id
from app.state import app_state
from tests.api.helpers import assert_problem
from tests.conftest import TEST_JWT_SECRET
from tests.databases import DIRECT_ACCESS

KID = key_id(TEST_JWT_SECRET)
TOKEN_FIELDS = {"access_token", "token_type", "expires_in", "refresh_token", "scope"}

_PRESENTED_FIELDS = frozenset({"api_key", "refresh_token", "token", "rotate_key", "client_secret"})
_ISSUED_FIELDS = frozenset(
    {"access_token", "refresh_token", "api_key", "new_key", "client_key", "rotate_key"}
)
_MIN_SECRET_LENGTH = 16


def _strings(value: object, fields: frozenset[str]) -> Iterator[str]:
    if isinstance(value, dict):
        for name, item in value.items():
            if name in fields and isinstance(item, str):
                yield item
            else:
                yield from _strings(item, fields)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, fields)


def _presented(request: httpx.Request) -> set[str]:
    values: list[str] = []
    scheme, _, credential = request.headers.get("authorization", "").strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() == "basic":
        values.append(base64.b64decode(credential).decode().partition(":")[2])
    else:
        values.append(credential)
    body = request.content
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = dict(parse_qsl(body.decode()))
        values.extend(form[name] for name in _PRESENTED_FIELDS if name in form)
    elif body:
        with suppress(ValueError):
            values.extend(_strings(json.loads(body), _PRESENTED_FIELDS))
    return {v for value in values for v in (value, value.lower()) if len(v) >= _MIN_SECRET_LENGTH}


class SecretWatch:
    """Response hook: fails the test when an answer leaks a known secret."""

    def __init__(self) -> None:
        self.known: set[str] = set()
        self.answers = 0
        """How many answers were checked."""

    async def __call__(self, response: httpx.Response) -> None:
        await response.aread()
        presented = _presented(response.request)
        text = response.text
        leaked = [secret for secret in self.known | presented if secret in text]
        assert not leaked, f"{response.request.url.path} answered with a secret it must not carry"
        self.answers += 1
        self.known |= presented
        with suppress(ValueError):
            self.known.update(_strings(response.json(), _ISSUED_FIELDS))


@asynccontextmanager
async def watched_client(
    app: FastAPI, watch: SecretWatch, client_key: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app``; authenticated with ``client_key`` when one is given."""
    headers = {"Authorization": f"Bearer {client_key}"} if client_key else {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers=headers,
        event_hooks={"response": [watch]},
    ) as http:
        yield http


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def new_key() -> str:
    return str(uuid.uuid4())


def is_uuid4(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parsed = uuid.UUID(value)
    return str(parsed) == value and parsed.version == 4


@asynccontextmanager
async def db_session(app: FastAPI) -> AsyncIterator[AsyncSession]:
    """A write transaction on the app's database, committed on exit, that reaches
    every tenant's rows."""
    async with app_state(app).database.transaction(every_tenant=DIRECT_ACCESS) as session:
        yield session


async def tenant_id_of(app: FastAPI, client_key: str) -> int:
    key_hash = hash_client_key(client_key, app_state(app).secrets.key_hash)
    async with app_state(app).database.transaction(write=False) as session:
        found = await session.scalar(select(Tenant.id).where(Tenant.key_hash == key_hash))
    assert found is not None
    return int(found)


def assert_unauthorized(response: httpx.Response, *, invalid_token: bool = False) -> None:
    """401 problem+json with an RFC 6750 challenge."""
    assert_problem(response, 401)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer")
    if invalid_token:
        assert 'error="invalid_token"' in challenge


async def issue_tokens(http: httpx.AsyncClient, scope: str | None = None) -> dict[str, Any]:
    """``POST /api/token`` with the client's Bearer client key."""
    response = await http.post("/api/token", json={"scope": scope} if scope else None)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == TOKEN_FIELDS
    return body


def forge(
    claims: dict[str, Any],
    *,
    secret: str = TEST_JWT_SECRET,
    algorithm: str = "HS256",
    kid: str = KID,
) -> str:
    """A JWT over ``claims`` signed as the caller says (python-jose)."""
    return str(jwt.encode(claims, secret, algorithm=algorithm, headers={"kid": kid}))


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.get_unverified_claims(token)
    return claims


def header_of(token: str) -> dict[str, Any]:
    header: dict[str, Any] = jwt.get_unverified_header(token)
    return header
