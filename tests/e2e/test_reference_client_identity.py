"""The reference client's identity methods against a real server process:
strict users, per-user API keys and client-key rotation."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from auth import Client
from auth.client import AuthRefused

from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

USER = "bob@example.com"


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Any]:
    with Client(
        api_key=str(uuid.uuid4()),
        service_url=server.url,
        circuit_breaker_enabled=False,
        max_retries=0,
    ) as auth_client:
        yield auth_client


def data(payload: dict[str, Any]) -> Any:
    assert payload["success"] is True
    return payload["data"]


def test_strict_users_and_api_keys(client: Any) -> None:
    assert data(client.set_strict_users(True)) == {"strict_users": True}
    assert data(client.get_settings()) == {"strict_users": True}
    client.create_role("ops")
    client.add_permission("ops", "deploy")

    with pytest.raises(AuthRefused) as refused:
        client.add_membership(USER, "ops")
    assert refused.value.status == 409
    assert refused.value.payload["reason"] == "user_not_key_backed"
    blocked = data(client.user_has_permission(USER, "deploy"))
    assert blocked == {"has_permission": False, "reason": "user_not_key_backed"}

    expires = datetime.now(UTC) + timedelta(days=30)
    created = data(client.create_api_key(USER, label="laptop", expires_at=expires))
    secret = created["api_key"]
    assert re.fullmatch(r"rak_[0-9A-Za-z]{43}", secret)
    assert created["user"] == USER
    assert created["label"] == "laptop"

    assert client.add_membership(USER, "ops") == {"result": True}
    assert data(client.user_has_permission(USER, "deploy")) == {"has_permission": True}

    valid = data(client.validate_api_key(secret))
    assert valid["valid"] is True
    assert valid["user"] == USER
    assert valid["key_id"] == created["key_id"]
    check = data(client.check_api_key_permission(secret, "deploy"))
    assert check["valid"] is True
    assert check["has_permission"] is True
    assert data(client.check_api_key_permission(secret, "delete"))["has_permission"] is False

    listing = data(client.list_api_keys(USER))
    assert listing["count"] == 1
    assert secret not in str(listing)
    shorter = datetime.now(UTC) + timedelta(days=1)
    updated = data(client.set_api_key_expiry(USER, created["key_id"], shorter))
    assert updated["key_id"] == created["key_id"]

    revoked = data(client.revoke_api_key(USER, created["key_id"]))
    assert revoked == {"revoked": True, "already_revoked": False}
    assert data(client.validate_api_key(secret)) == {"valid": False, "reason": "revoked"}
    assert data(client.user_has_permission(USER, "deploy"))["reason"] == "user_not_key_backed"


def test_rotate_key_switches_the_client(server: ServerProcess, client: Any) -> None:
    old_key = client.api_key
    client.create_role("support")
    created = data(client.create_api_key(USER))

    rotated = data(client.rotate_key())
    new_key = rotated["new_key"]
    assert new_key != old_key
    assert client.api_key == new_key
    assert rotated["migrated"]["roles"] == 1
    assert rotated["migrated"]["api_keys"] == 1

    assert client.list_roles() == {"result": [{"role": "support", "description": None}]}
    assert data(client.validate_api_key(created["api_key"]))["valid"] is True

    with (
        Client(
            api_key=old_key, service_url=server.url, circuit_breaker_enabled=False, max_retries=0
        ) as stale,
        pytest.raises(AuthRefused) as refused,
    ):
        stale.list_roles()
    assert refused.value.status == 401
