"""Operator commands on tenants (``auth-server tenant ...``), outside HTTP.

Used for closed registration (``AUTH_TENANT_REGISTRATION=closed``): only tenants
created here are accepted. The new client key is returned once; only its hash is
stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from app.config import Settings
from app.db import Database, build_engine
from app.migrations import assert_schema_current
from app.security.credentials import hash_client_key
from app.security.secrets import load_server_secrets
from app.tenants.service import create_operator_tenant, disable_tenant, list_tenants


@dataclass(frozen=True)
class TenantSummary:
    id: int
    label: str | None
    created_at: datetime
    operator_created: bool
    disabled: bool
    strict_users: bool | None


async def _database(settings: Settings) -> Database:
    engine = build_engine(settings)
    await assert_schema_current(engine)
    return Database(engine)


async def create_tenant(settings: Settings, label: str | None) -> tuple[int, str]:
    secrets = load_server_secrets(settings)
    database = await _database(settings)
    client_key = str(uuid.uuid4())
    try:
        async with database.transaction() as session:
            tenant_id = await create_operator_tenant(
                session, hash_client_key(client_key, secrets.key_hash), label
            )
    finally:
        await database.dispose()
    return tenant_id, client_key


async def tenant_summaries(settings: Settings) -> list[TenantSummary]:
    database = await _database(settings)
    try:
        async with database.transaction(write=False) as session:
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
    finally:
        await database.dispose()


async def disable(settings: Settings, tenant_id: int) -> bool:
    database = await _database(settings)
    try:
        async with database.transaction() as session:
            return await disable_tenant(session, tenant_id)
    finally:
        await database.dispose()
