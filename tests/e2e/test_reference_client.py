"""The reference Python client (``auth==3.7.1``) against a real server process.

The client is synchronous (``requests``), so these tests are plain functions. Each
test is a fresh tenant (a new client key) on the module's server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from auth import Client
from auth.client import AuthRefused

from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

USER = "alice@example.com"


def new_client(server: ServerProcess, *, circuit_breaker: bool = False) -> Any:
    return Client(
        api_key=str(uuid.uuid4()),
        service_url=server.url,
        circuit_breaker_enabled=circuit_breaker,
        max_retries=0,
    )


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Any]:
    """A client of a fresh tenant; the process-wide circuit breaker stays out of play."""
    with new_client(server) as auth_client:
        yield auth_client


def unwrap(payload: dict[str, Any], message: str) -> Any:
    """Check the wrapped envelope exactly and return its ``data``."""
    assert set(payload) == {"success", "code", "message", "data", "timestamp"}
    assert payload["success"] is True
    assert payload["code"] == 200
    assert payload["message"] == message
    assert datetime.fromisoformat(payload["timestamp"]).utcoffset() == UTC.utcoffset(None)
    return payload["data"]


def check_message(user: str, name: str) -> str:
    return f"Permission check for user '{user}' and permission '{name}' completed"


def workflow_message(user: str, workflow: str) -> str:
    return f"Workflow permission check for user '{user}' and workflow '{workflow}' completed"


def test_grant_then_inspect(client: Any) -> None:
    assert client.create_role("editors") == {"result": True}
    assert client.add_permission("editors", "publish") == {"result": True}
    assert client.add_membership(USER, "editors") == {"result": True}

    allowed = client.user_has_permission(USER, "publish")
    assert unwrap(allowed, check_message(USER, "publish")) == {"has_permission": True}
    denied = client.user_has_permission(USER, "delete")
    assert unwrap(denied, check_message(USER, "delete")) == {"has_permission": False}

    pair = [{"user": USER, "role": "editors"}]
    assert client.list_roles() == {"result": [{"role": "editors", "description": None}]}
    assert client.get_user_roles(USER) == {"result": pair}
    assert client.get_role_members("editors") == {"result": pair}
    assert unwrap(
        client.get_user_permissions(USER), f"Retrieved permissions for user '{USER}'"
    ) == {"count": 1, "permissions": [{"name": "publish"}]}
    assert client.which_roles_can("publish") == {"result": [{"role": "editors"}]}
    assert client.which_users_can("publish") == {"result": pair}
    assert client.has_permission("editors", "publish") == {"result": True}
    assert unwrap(
        client.get_role_permissions("editors"), "Retrieved permissions for role 'editors'"
    ) == [{"name": "publish"}]
    assert unwrap(
        client.check_user_workflow_permission(USER, "publish"), workflow_message(USER, "publish")
    ) == {"has_permission": True}
    assert unwrap(
        client.get_users_for_workflow("publish"),
        "Retrieved users who can run workflow 'publish'",
    ) == {"count": 1, "members": pair}


def test_revoke_and_delete(client: Any) -> None:
    client.create_role("editors")
    client.add_permission("editors", "publish")
    client.add_membership(USER, "editors")

    assert client.remove_membership(USER, "editors") == {"result": True}
    assert unwrap(client.user_has_permission(USER, "publish"), check_message(USER, "publish")) == {
        "has_permission": False
    }
    assert client.get_role_members("editors") == {"result": []}
    assert client.remove_permission("editors", "publish") == {"result": True}
    assert client.which_roles_can("publish") == {"result": []}

    deletion = "Role 'editors' deletion completed"
    client.add_permission("editors", "publish")
    client.add_membership(USER, "editors")
    assert unwrap(client.delete_role("editors"), deletion) == {"result": True}
    assert unwrap(client.delete_role("editors"), deletion) == {"result": False}


def test_answers_after_role_deletion(client: Any) -> None:
    client.create_role("editors")
    client.add_permission("editors", "publish")
    client.add_membership(USER, "editors")
    client.delete_role("editors")

    assert unwrap(client.user_has_permission(USER, "publish"), check_message(USER, "publish")) == {
        "has_permission": False
    }
    assert client.list_roles() == {"result": []}
    assert client.get_user_roles(USER) == {"result": []}
    assert client.get_role_members("editors") == {"result": []}
    assert unwrap(
        client.get_user_permissions(USER), f"Retrieved permissions for user '{USER}'"
    ) == {"count": 0, "permissions": []}
    assert client.which_roles_can("publish") == {"result": []}
    assert client.which_users_can("publish") == {"result": []}
    assert (
        unwrap(client.get_role_permissions("editors"), "Retrieved permissions for role 'editors'")
        == []
    )
    assert unwrap(
        client.check_user_workflow_permission(USER, "publish"), workflow_message(USER, "publish")
    ) == {"has_permission": False}
    assert unwrap(
        client.get_users_for_workflow("publish"),
        "Retrieved users who can run workflow 'publish'",
    ) == {"count": 0, "members": []}
    # Re-creating a deleted role gives an empty role.
    assert client.create_role("editors") == {"result": True}
    assert client.has_permission("editors", "publish") == {"result": False}
    assert client.get_role_members("editors") == {"result": []}


def test_no_op_writes_answer_false_without_tripping_the_breaker(server: ServerProcess) -> None:
    """Five-plus writes against a missing role are 200 ``false``, never breaker failures."""
    with new_client(server, circuit_breaker=True) as auth_client:
        for _ in range(6):
            assert auth_client.add_permission("ghost", "publish") == {"result": False}
            assert auth_client.add_membership(USER, "ghost") == {"result": False}
        assert auth_client.list_roles() == {"result": []}


def test_invalid_name_is_refused_with_400(client: Any) -> None:
    with pytest.raises(AuthRefused) as refused:
        client.create_role("bad role")
    assert refused.value.status == 400
    assert refused.value.payload["status"] == 400
    assert refused.value.payload["success"] is False
    assert client.list_roles() == {"result": []}


def test_tenants_are_isolated(server: ServerProcess, client: Any) -> None:
    client.create_role("editors")
    client.add_permission("editors", "publish")
    client.add_membership(USER, "editors")
    with new_client(server) as other:
        assert other.list_roles() == {"result": []}
        assert unwrap(
            other.user_has_permission(USER, "publish"), check_message(USER, "publish")
        ) == {"has_permission": False}
        assert other.which_users_can("publish") == {"result": []}
