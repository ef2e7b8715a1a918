"""The security guide's monitoring example runs as written, settings from the environment.

``query_audit_logs(action="delete", hours=24)`` returns dicts, newest first, over
every tenant, and the deleted roles among them have ``entity_type == "role"``. The
other filters (``entity_type=``, ``tenant=`` as an id or a client key, ``limit=``)
narrow it, and the function also works when called inside a running event loop.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from app.audit import query_audit_logs
from app.models import AuditLog
from tests.api.helpers import assert_bare
from tests.databases import DIRECT_ACCESS
from tests.protection.helpers import PrivateDatabase, http_client, running, tenant_of

pytestmark = pytest.mark.stored_data


@dataclass(frozen=True)
class History:
    first: int
    first_key: str
    second: int


@pytest.fixture(scope="module")
async def history(module_database: PrivateDatabase) -> History:
    """Tenant 1 deleted roles ``stale`` (30 hours ago), ``temp1`` and ``temp2``;
    tenant 2 deleted ``scratch``; both did other things too."""
    first_key, second_key = str(uuid.uuid4()), str(uuid.uuid4())
    async with running(module_database.settings()) as app:
        async with http_client(app, first_key) as api:
            for role in ("stale", "temp1", "temp2", "keep"):
                assert_bare(await api.post(f"/api/role/{role}"), True)
            assert_bare(await api.post("/api/permission/keep/read"), True)
            assert_bare(await api.delete("/api/permission/keep/read"), True)
            for role in ("stale", "temp1", "temp2"):
                assert (await api.delete(f"/api/role/{role}")).status_code == 200
            first = await tenant_of(app, api)
        async with http_client(app, second_key) as api:
            assert_bare(await api.post("/api/role/scratch"), True)
            assert (await api.delete("/api/role/scratch")).status_code == 200
            second = await tenant_of(app, api)
        async with app.state.auth.database.transaction(every_tenant=DIRECT_ACCESS) as session:
            await session.execute(
                update(AuditLog)
                .where(AuditLog.chain_id == first, AuditLog.resource == "stale")
                .values(created_at=datetime.now(UTC) - timedelta(hours=30))
            )
    return History(first, first_key, second)


@pytest.fixture
def environment(
    module_database: PrivateDatabase, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The operator's environment: ``AUTH_*`` variables of this database only."""
    for name in [name for name in os.environ if name.upper().startswith("AUTH_")]:
        monkeypatch.delenv(name)
    for name, value in module_database.env().items():
        if name.startswith("AUTH_"):
            monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)


def _seen(logs: list[dict[str, Any]]) -> list[tuple[int, str, str | None]]:
    return [(log["tenant"], log["action"], log["resource"]) for log in logs]


@pytest.mark.usefixtures("environment")
def test_guide_example(history: History) -> None:
    alerts: list[dict[str, Any]] = []

    def alert_security_team(log: dict[str, Any]) -> None:
        alerts.append(log)

    recent_logs = query_audit_logs(action="delete", hours=24)
    for log in recent_logs:
        if log["entity_type"] == "role":
            alert_security_team(log)

    assert _seen(recent_logs) == [
        (history.second, "DELETE_ROLE", "scratch"),
        (history.first, "DELETE_ROLE", "temp2"),
        (history.first, "DELETE_ROLE", "temp1"),
    ]
    assert alerts == recent_logs
    assert all(type(log) is dict and log["success"] is True for log in recent_logs)
    everything = query_audit_logs(action="delete")
    assert _seen(everything)[-1] == (history.first, "DELETE_ROLE", "stale")


@pytest.mark.usefixtures("environment")
def test_filters(history: History) -> None:
    by_id = query_audit_logs(entity_type="role", tenant=history.first)
    assert [(log["action"], log["resource"]) for log in by_id] == [
        ("DELETE_ROLE", "temp2"),
        ("DELETE_ROLE", "temp1"),
        ("CREATE_ROLE", "keep"),
        ("CREATE_ROLE", "temp2"),
        ("CREATE_ROLE", "temp1"),
        ("DELETE_ROLE", "stale"),
        ("CREATE_ROLE", "stale"),
    ]
    assert query_audit_logs(entity_type="role", tenant=history.first_key) == by_id
    assert query_audit_logs(entity_type="role", tenant=history.first_key.upper()) == by_id
    assert query_audit_logs(entity_type="ROLE", tenant=str(history.first)) == by_id
    assert query_audit_logs(entity_type="role", tenant=history.first, limit=2) == by_id[:2]
    assert _seen(query_audit_logs(action="remove", tenant=history.first)) == [
        (history.first, "REMOVE_PERMISSION", "keep:read")
    ]
    assert _seen(query_audit_logs(action="DELETE_ROLE", hours=24, tenant=history.second)) == [
        (history.second, "DELETE_ROLE", "scratch")
    ]
    with pytest.raises(ValueError, match="no tenant has that client key"):
        query_audit_logs(tenant=str(uuid.uuid4()))


@pytest.mark.usefixtures("environment")
async def test_from_a_running_event_loop(history: History) -> None:
    logs = query_audit_logs(action="delete", hours=24, tenant=history.first_key)
    assert _seen(logs) == [
        (history.first, "DELETE_ROLE", "temp2"),
        (history.first, "DELETE_ROLE", "temp1"),
    ]
