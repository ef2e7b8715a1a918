"""Operator commands on tenants (``auth-server tenant ...``), outside HTTP.

Used for closed registration (``AUTH_TENANT_REGISTRATION=closed``): only tenants
created here are accepted. The new client key is returned once; only its hash is
stored. Creating, re-keying and disabling a tenant are audited in its chain
(``CREATE_TENANT``, ``ROTATE_KEY``, ``DISABLE_TENANT``, user agent ``auth-server``).

``rekey`` is the way back for a tenant whose client key an attacker rotated away (the
rotation also retired the owner's rotate key): the operator hands the new key to the
owner over a trusted channel.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from app.audit.trail import AuditOrigin, AuditTrail
from app.config import Settings
from app.db.tenant_guard import bind_tenant
from app.security.credentials import hash_client_key
from app.state import open_state
from app.tenants.rotation import RotationService
from app.tenants.service import create_operator_tenant, disable_tenant, list_tenants

OPERATOR = AuditOrigin(user_agent="auth-server")


@dataclass(frozen=True)
class TenantSummary:
    id: int
    label: str | None
    created_at: datetime
    operator_created: bool
    disabled: bool
    strict_users: bool | None


async def create_tenant(settings: Settings, label: str | None) -> tuple[int, str]:
    client_key = str(uuid.uuid4())
    async with open_state(settings) as state, state.database.transaction() as session:
        tenant_id = await create_operator_tenant(
            session, hash_client_key(client_key, state.secrets.key_hash), label, state.secrets.audit
        )
        bind_tenant(session, tenant_id)
        await AuditTrail.for_state(state, session, tenant_id, OPERATOR).record(
            "CREATE_TENANT", "tenant", str(tenant_id), details={"label": label}
        )
    return tenant_id, client_key


async def tenant_summaries(settings: Settings) -> list[TenantSummary]:
    async with open_state(settings) as state, state.database.transaction(write=False) as session:
        return [
            TenantSummary(
                id=tenant.id,
                label=tenant.label,
                created_at=tenant.created_at,
                operator_created=tenant.operator_created,
                disabled=tenant.disabled_at is not None,
                strict_users=tenant.strict_users,
            )
            for tenant in await list_tenants(session)
        ]


async def rekey(settings: Settings, tenant_id: int) -> str | None:
    """Give the tenant a new client key (returned once); the old key, the rotate key
    and every token die. ``None`` when there is no such tenant."""
    async with (
        open_state(settings) as state,
        state.database.transaction(tenant=tenant_id) as session,
    ):

        def trail(chain_id: int) -> AuditTrail:
            return AuditTrail.for_state(state, session, chain_id, OPERATOR)

        service = RotationService(session, state.secrets.key_hash, trail)
        return await service.rekey(tenant_id)


async def disable(settings: Settings, tenant_id: int) -> bool:
    async with (
        open_state(settings) as state,
        state.database.transaction(tenant=tenant_id) as session,
    ):
        found = await disable_tenant(session, tenant_id)
        if found:
            await AuditTrail.for_state(state, session, tenant_id, OPERATOR).record(
                "DISABLE_TENANT", "tenant", str(tenant_id)
            )
        return found
