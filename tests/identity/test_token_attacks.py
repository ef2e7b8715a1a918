"""Forged and misused tokens: every one answers 401 ``invalid_token``.

Tokens are forged with python-jose over the claims layout of ``app/tokens/codec.py``
(``iss aud sub jti iat nbf exp typ scope tid fam gen``), signed with the test secret
and its ``kid`` unless the attack is about exactly that.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from app.tenants.service import disable_tenant
from tests.api.helpers import assert_bare
from tests.identity.helpers import (
    KID,
    assert_unauthorized,
    bearer,
    claims_of,
    db_session,
    forge,
    issue_tokens,
    tenant_id_of,
)


def access_claims(tenant_id: int, family: str, generation: int) -> dict[str, Any]:
    """Valid access-token claims, laid out as ``TokenCodec.encode`` writes them."""
    now = int(time.time())
    return {
        "iss": "auth",
        "aud": "auth-api",
        "sub": f"tenant:{tenant_id}",
        "jti": str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "typ": "access",
        "scope": "admin",
        "tid": tenant_id,
        "fam": family,
        "gen": generation,
    }


@dataclass
class Target:
    """A real login of the test's tenant: the family and generation a forger needs."""

    api: httpx.AsyncClient
    app: FastAPI
    client_key: str
    tokens: dict[str, Any]
    tenant_id: int

    async def use(self, token: str) -> httpx.Response:
        return await self.api.get("/api/roles", headers=bearer(token))

    def forge(self, **changes: Any) -> dict[str, Any]:
        """Valid claims of this login, with ``changes`` applied."""
        issued = claims_of(self.tokens["access_token"])
        return {**access_claims(self.tenant_id, issued["fam"], issued["gen"]), **changes}


def _b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


async def alg_none(t: Target) -> httpx.Response:
    header = {"alg": "none", "typ": "JWT", "kid": KID}
    return await t.use(f"{_b64(header)}.{_b64(t.forge())}.")


async def other_secret(t: Target) -> httpx.Response:
    return await t.use(forge(t.forge(), secret="another-signing-secret-0123456789abcdef"))


async def hs_rs_confusion(t: Target) -> httpx.Response:
    return await t.use(forge(t.forge(), secret=_rsa_pem().decode(), algorithm="RS256"))


async def hs512(t: Target) -> httpx.Response:
    return await t.use(forge(t.forge(), algorithm="HS512"))


async def expired(t: Target) -> httpx.Response:
    now = int(time.time())
    return await t.use(forge(t.forge(iat=now - 1000, nbf=now - 1000, exp=now - 60)))


async def not_yet_valid(t: Target) -> httpx.Response:
    return await t.use(forge(t.forge(nbf=int(time.time()) + 3600)))


async def wrong_issuer(t: Target) -> httpx.Response:
    return await t.use(forge(t.forge(iss="someone-else")))


async def wrong_audience(t: Target) -> httpx.Response:
    return await t.use(forge(t.forge(aud="another-api")))


async def tampered_payload(t: Target) -> httpx.Response:
    check = await issue_tokens(t.api, "check")
    header, _, signature = check["access_token"].split(".")
    payload = {**claims_of(check["access_token"]), "scope": "admin"}
    return await t.use(f"{header}.{_b64(payload)}.{signature}")


async def missing_exp(t: Target) -> httpx.Response:
    claims = t.forge()
    del claims["exp"]
    return await t.use(forge(claims))


async def missing_jti(t: Target) -> httpx.Response:
    claims = t.forge()
    del claims["jti"]
    return await t.use(forge(claims))


async def unknown_kid(t: Target) -> httpx.Response:
    return await t.use(forge(t.forge(), kid="0123456789abcdef"))


async def refresh_as_access(t: Target) -> httpx.Response:
    return await t.use(t.tokens["refresh_token"])


async def forged_refresh_type(t: Target) -> httpx.Response:
    return await t.use(forge(t.forge(typ="refresh")))


async def replayed_refresh(t: Target) -> httpx.Response:
    body = {"refresh_token": t.tokens["refresh_token"]}
    assert (await t.api.post("/api/token/refresh", json=body)).status_code == 200
    return await t.api.post("/api/token/refresh", json=body)


async def rotated_key(t: Target) -> httpx.Response:
    assert (await t.api.post("/api/keys/rotate")).status_code == 200
    return await t.use(t.tokens["access_token"])


async def disabled_tenant(t: Target) -> httpx.Response:
    async with db_session(t.app) as session:
        assert await disable_tenant(session, t.tenant_id)
    return await t.use(t.tokens["access_token"])


Attack = Callable[[Target], Awaitable[httpx.Response]]
ATTACKS: list[Attack] = [
    alg_none,
    other_secret,
    hs_rs_confusion,
    hs512,
    expired,
    not_yet_valid,
    wrong_issuer,
    wrong_audience,
    tampered_payload,
    missing_exp,
    missing_jti,
    unknown_kid,
    refresh_as_access,
    forged_refresh_type,
    replayed_refresh,
    rotated_key,
    disabled_tenant,
]


@pytest.fixture
async def target(api: httpx.AsyncClient, app: FastAPI, client_key: str) -> Target:
    tokens = await issue_tokens(api)
    return Target(api, app, client_key, tokens, await tenant_id_of(app, client_key))


async def test_forged_claims_are_accepted(target: Target) -> None:
    """Control: the forger's layout is the service's, so each attack changes one thing."""
    claims = target.forge()
    assert set(claims) == set(claims_of(target.tokens["access_token"]))
    assert_bare(await target.use(forge(claims)), [])


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda attack: attack.__name__)
async def test_attack_is_refused(target: Target, attack: Attack) -> None:
    assert_unauthorized(await attack(target), invalid_token=True)
