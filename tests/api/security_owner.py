"""Tenant A of the route security table, and every credential its cases present.

:func:`seed_owner` opens A the same way every time: role ``editors`` (description
``Editors``) holding ``publish``, alice its member; API keys for alice (``ci``) and bob
(``ops``); strict user identity on; its client key rotated once, so that it has a
retired key. :class:`Owner` then issues access tokens of both scopes when first asked,
an expired one (minted with the app's own codec and dated back: no waiting) and a
rotate key.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from jose import jwt

from app.tokens.codec import TokenType
from tests.api.helpers import assert_wrapped
from tests.api.matchers import API_KEY, API_KEY_PREFIX, ROTATE_KEY, UTC_TIMESTAMP, UUID4, instant
from tests.api.security_cases import Case, Wrapped

NDJSON = "application/x-ndjson"
SEED_EXPORT = (
    '{"type":"role","role":"editors","description":"Editors"}\n'
    '{"type":"grant","role":"editors","permission":"publish"}\n'
    '{"type":"membership","user":"alice","role":"editors"}\n'
)
"""Tenant A's roles, grants and memberships: imported as they are, exported as they are."""
SEEDED = {"roles": 1, "memberships": 1, "permissions": 1, "api_keys": 2, "settings": 1}
"""What tenant A owns (``migrated`` of its rotation)."""


def client(app: FastAPI, credential: str | None = None) -> httpx.AsyncClient:
    headers = {} if credential is None else {"Authorization": f"Bearer {credential}"}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers=headers
    )


def created_key(user: str, label: str | None) -> Wrapped:
    """``POST /api/apikeys/user/{user}``'s answer: the secret, shown once."""
    return Wrapped(
        {
            "api_key": API_KEY,
            "key_id": UUID4,
            "user": user,
            "label": label,
            "key_prefix": API_KEY_PREFIX,
            "created": UTC_TIMESTAMP,
            "expires_at": None,
        }
    )


def listed_key(created: dict[str, Any], **changes: object) -> dict[str, object]:
    """The listing entry of a key answered as ``created``, live and never used."""
    entry: dict[str, object] = {
        "key_id": created["key_id"],
        "key_prefix": created["key_prefix"],
        "label": created["label"],
        "is_active": True,
        "created": instant(created["created"]),
        "revoked_at": None,
        "expires_at": None,
        "last_used_at": None,
    }
    return {**entry, **changes}


@dataclass
class Owner:
    """Tenant A and its credentials."""

    app: FastAPI
    key: str
    """The current client key."""
    retired_key: str
    """A client key rotation retired: this tenant's own, or, for a tenant that only
    serves requests whose header plays no part, the shared tenant's."""
    alice: dict[str, Any] = field(default_factory=dict)
    """Creation answer of alice's API key (label ``ci``); empty for a bare tenant."""
    bob: dict[str, Any] = field(default_factory=dict)
    """Creation answer of bob's API key (label ``ops``); empty for a bare tenant."""
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Token responses by scope, issued on first use."""
    rotate_key: str | None = None

    async def token(self, scope: str) -> dict[str, Any]:
        if scope not in self.tokens:
            async with client(self.app, self.key) as http:
                response = await http.post("/api/token", json={"scope": scope})
            assert response.status_code == 200, response.text
            self.tokens[scope] = response.json()
        return self.tokens[scope]

    async def expired_token(self) -> str:
        """An admin access token of this tenant's current login, issued two hours ago
        for 15 minutes: expired far past any leeway (at most 5 minutes)."""
        claims = jwt.get_unverified_claims((await self.token("admin"))["access_token"])
        token, _ = self.app.state.auth.tokens.encode(
            token_type=TokenType.ACCESS,
            tenant_id=claims["tid"],
            family_id=claims["fam"],
            key_generation=claims["gen"],
            scope="admin",
            lifetime=timedelta(minutes=15),
            now=datetime.now(UTC) - timedelta(hours=2),
        )
        return str(token)

    async def issue_rotate_key(self) -> str:
        async with client(self.app, self.key) as http:
            response = await http.post("/api/keys/get_rotate_key")
        self.rotate_key = str(assert_wrapped(response, {"rotate_key": ROTATE_KEY})["rotate_key"])
        return self.rotate_key

    async def credential(self, case: Case) -> str | None:
        """The bearer credential ``case`` presents (``None``: no header)."""
        match case:
            case Case.NO_HEADER:
                return None
            case Case.MALFORMED:
                return "not-a-credential"
            case Case.OTHER_TENANT:
                return str(uuid.uuid4())
            case Case.EXPIRED:
                return await self.expired_token()
            case Case.CHECK_TOKEN:
                return str((await self.token("check"))["access_token"])
            case Case.ADMIN_TOKEN:
                return str((await self.token("admin"))["access_token"])
            case Case.RETIRED:
                return self.retired_key
            case Case.OWN_KEY:
                return self.key


async def seed_owner(app: FastAPI, retired_key: str | None = None) -> Owner:
    """A new tenant A: role ``editors`` (description ``Editors``) holding ``publish``,
    alice its member; API keys for alice (``ci``) and bob (``ops``); strict user
    identity on. Unless a ``retired_key`` is given, its client key is then rotated once
    and the first one is its retired key."""
    key = str(uuid.uuid4())
    async with client(app, key) as http:
        alice = assert_wrapped(
            await http.post("/api/apikeys/user/alice", json={"label": "ci"}),
            created_key("alice", "ci").data,
        )
        bob = assert_wrapped(
            await http.post("/api/apikeys/user/bob", json={"label": "ops"}),
            created_key("bob", "ops").data,
        )
        imported = await http.post(
            "/api/bulk", content=SEED_EXPORT, headers={"Content-Type": NDJSON}
        )
        assert_wrapped(imported, {"roles": 1, "grants": 1, "memberships": 1})
        settings = await http.put("/api/settings", json={"strict_users": True})
        assert_wrapped(settings, {"strict_users": True})
        if retired_key is None:
            rotated = await http.post("/api/keys/rotate")
            retired_key = key
            key = assert_wrapped(rotated, {"new_key": UUID4, "migrated": SEEDED})["new_key"]
    return Owner(app, key, retired_key, alice, bob)


def bare_owner(app: FastAPI, retired_key: str) -> Owner:
    """A tenant that exists once its first request succeeds (open registration), with
    nothing in it."""
    return Owner(app, str(uuid.uuid4()), retired_key)
