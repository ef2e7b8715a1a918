"""Tenant routes: settings, client-key rotation, recovery. HTTP only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from app.audit.refusals import refusals_audited_as
from app.deps import (
    AuditDep,
    AuditFactoryDep,
    KeyOwnerDep,
    PrincipalDep,
    SessionDep,
    StateDep,
    WriterDep,
)
from app.responses import Wrapped, problem_examples, wrapped
from app.tenants.rotation import RotationService, set_strict_users
from app.tenants.schemas import (
    MigratedCounts,
    Recovered,
    RecoverRequest,
    RotatedKey,
    RotateKey,
    TenantSettings,
    UpdateSettingsRequest,
)

router = APIRouter(prefix="/api", tags=["tenant"], responses=problem_examples(400, 401))


async def _rotation(
    session: SessionDep, state: StateDep, audit: AuditFactoryDep
) -> RotationService:
    return RotationService(session, state.secrets.key_hash, audit)


Rotation = Annotated[RotationService, Depends(_rotation)]


@router.get(
    "/settings",
    response_model=Wrapped[TenantSettings],
    summary="This tenant's settings",
    operation_id="get_settings_api_settings_get",  # the id FastAPI derived before the rename
)
async def read_tenant_settings(principal: PrincipalDep) -> Wrapped[TenantSettings]:
    return wrapped(TenantSettings(strict_users=principal.strict_users), "Settings retrieved")


@router.put(
    "/settings",
    dependencies=[refusals_audited_as("UPDATE_SETTINGS", "settings")],
    response_model=Wrapped[TenantSettings],
    summary="Change this tenant's settings",
    responses=problem_examples(403),
)
async def put_settings(
    body: UpdateSettingsRequest, principal: WriterDep, session: SessionDep, audit: AuditDep
) -> Wrapped[TenantSettings]:
    await set_strict_users(session, principal.tenant_id, body.strict_users, audit)
    return wrapped(TenantSettings(strict_users=body.strict_users), "Settings updated")


@router.post(
    "/keys/rotate",
    dependencies=[refusals_audited_as("ROTATE_KEY", "client_key")],
    response_model=Wrapped[RotatedKey],
    summary="Rotate the client key (the new key is returned once)",
    description="Atomic: the tenant moves to the new key; the old key then answers 401 and "
    "every token issued before stops working.",
    responses=problem_examples(403),
)
async def rotate_key(principal: KeyOwnerDep, rotation: Rotation) -> Wrapped[RotatedKey]:
    new_key, counts = await rotation.rotate(principal)
    migrated = MigratedCounts(
        roles=counts.roles,
        memberships=counts.memberships,
        permissions=counts.permissions,
        api_keys=counts.api_keys,
        settings=counts.settings,
    )
    return wrapped(RotatedKey(new_key=new_key, migrated=migrated), "Client key rotated")


@router.post(
    "/keys/get_rotate_key",
    dependencies=[refusals_audited_as("GET_ROTATE_KEY", "rotate_key")],
    response_model=Wrapped[RotateKey],
    summary="Issue the tenant's recovery (rotate) key, once",
    responses={
        **problem_examples(403),
        409: {
            "description": "Already issued",
            "content": {
                "application/json": {
                    "example": {
                        "result": False,
                        "reason": "rotate_key_already_issued",
                        "hint": "...",
                    }
                }
            },
        },
    },
)
async def get_rotate_key(principal: KeyOwnerDep, rotation: Rotation) -> Wrapped[RotateKey]:
    return wrapped(
        RotateKey(rotate_key=await rotation.issue_rotate_key(principal.tenant_id)),
        "Rotate key issued; store it offline",
    )


@router.post(
    "/keys/recover",
    response_model=Wrapped[Recovered],
    summary="Recover a tenant with its rotate key (no Authorization header)",
    responses=problem_examples(409),
    openapi_extra={"security": []},
)
async def recover(body: RecoverRequest, rotation: Rotation) -> Wrapped[Recovered]:
    new_key = await rotation.recover(body.rotate_key, body.new_client_key)
    return wrapped(
        Recovered(new_key=new_key),
        "Tenant recovered; the rotate key is spent (ask for a fresh one with the new key)",
    )
