"""The audit trail: hash-chained, per-tenant records of every change.

Python API for investigations (the security guide's example works as written)::

    from app.audit import query_audit_logs

    for log in query_audit_logs(action="delete", hours=24):
        if log["entity_type"] == "role":
            alert_security_team(log)

``action`` is an action name (``DELETE_ROLE``) or a word of one (``delete`` matches
``DELETE_ROLE``), case-insensitive. Settings come from the environment like the
server's (``AUTH_*``), or pass ``settings=``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.config import Settings


def query_audit_logs(
    action: str | None = None,
    hours: float | None = None,
    *,
    entity_type: str | None = None,
    tenant: int | str | None = None,
    limit: int = 100,
    settings: Settings | None = None,
) -> list[dict[str, Any]]:
    """Audit entries, newest first, as dicts (``timestamp``, ``tenant``, ``action``,
    ``entity_type``, ``resource``, ``details``, ``success``, ``user`` fingerprint,
    ``ip_address``, ``user_agent``, ``request_id``). ``tenant`` is a tenant id or a
    client key; ``None`` means every tenant."""
    from app.audit.admin import query_entries
    from app.config import load_settings

    resolved = settings or load_settings()

    def run() -> list[dict[str, Any]]:
        return asyncio.run(
            query_entries(
                resolved,
                action=action,
                hours=hours,
                entity_type=entity_type,
                tenant=tenant,
                limit=limit,
            )
        )

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:  # inside a running loop
        return pool.submit(run).result()


__all__ = ["query_audit_logs"]
