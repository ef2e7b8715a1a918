"""A stored ciphertext that fails authentication fails the request, never the decision.

Listings that must open the tampered value answer a generic 500 problem+json that
carries none of the stored or displayed values; decisions use the blind index only,
so they stay exactly as they were (in particular, no other user becomes allowed).
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.api.helpers import assert_bare, assert_problem, assert_wrapped
from tests.protection.helpers import (
    ENCRYPTED_PREFIX,
    blind_index,
    execute,
    http_client,
    tenant_of,
    tenant_rows,
)

pytestmark = pytest.mark.stored_data

ROLE = "vault"
PERMISSION = "open-vault"
USERS = ("target.user@example.com", "carol.k")
INTERNAL_ERROR = {
    "type": "urn:auth:problem:internal",
    "title": "Internal Server Error",
    "status": 500,
    "detail": "The service failed to handle this request.",
    "success": False,
    "code": 500,
    "message": "The service failed to handle this request.",
}


def flipped(stored: str) -> str:
    """``stored`` with one character in the middle of its Fernet token changed."""
    position = len(ENCRYPTED_PREFIX) + (len(stored) - len(ENCRYPTED_PREFIX)) // 2
    replacement = "A" if stored[position] != "A" else "B"
    return stored[:position] + replacement + stored[position + 1 :]


async def _assert_decision(api: httpx.AsyncClient, user: str, allowed: bool) -> None:
    response = await api.get(f"/api/has_permission/{user}/{PERMISSION}")
    assert_wrapped(response, {"has_permission": allowed})


async def test_tampered_user_name_fails_closed(
    protection: str, app: FastAPI, api: httpx.AsyncClient, client_key: str
) -> None:
    if protection != "encrypted":
        pytest.skip("ciphertext exists only with encryption on")
    assert_bare(await api.post(f"/api/role/{ROLE}"), True)
    assert_bare(await api.post(f"/api/permission/{ROLE}/{PERMISSION}"), True)
    for user in USERS:
        assert_bare(await api.post(f"/api/membership/{user}/{ROLE}"), True)
    tenant = await tenant_of(app, api)
    target = next(
        row
        for row in await tenant_rows(app, "memberships", tenant)
        if row["user_key"] == blind_index(tenant, "user", USERS[0])
    )
    tampered = flipped(target["user_name"])
    await execute(
        app,
        "UPDATE memberships SET user_name = :value WHERE id = :id",
        value=tampered,
        id=target["id"],
    )

    async with http_client(app, client_key, raise_app_exceptions=False) as http:
        for path in (f"/api/members/{ROLE}", f"/api/which_users_can/{PERMISSION}"):
            response = await http.get(path)
            assert assert_problem(response, 500) == INTERNAL_ERROR
            for secret in (*USERS, tampered, target["user_name"], ENCRYPTED_PREFIX):
                assert secret not in response.text
        await _assert_decision(http, "mallory", allowed=False)
        await _assert_decision(http, USERS[0], allowed=True)
        await _assert_decision(http, USERS[1], allowed=True)
        assert_bare(
            await http.get(f"/api/user_roles/{USERS[1]}"), [{"user": USERS[1], "role": ROLE}]
        )
    response = await api.delete(f"/api/role/{ROLE}")
    assert_wrapped(response, {"result": True})
