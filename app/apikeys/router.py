"""``/api/apikeys/...`` (contract: per-user API keys). HTTP only."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Body, Depends

from app.apikeys.schemas import (
    CheckKeyPermissionRequest,
    CreatedKey,
    CreateKeyRequest,
    InvalidKey,
    KeyInfo,
    KeyList,
    RevokeResult,
    UpdateKeyRequest,
    ValidateKeyRequest,
    ValidKey,
    ValidKeyPermission,
)
from app.apikeys.service import ApiKeyService, KeyRecord, ValidatedKey
from app.audit.refusals import refusals_audited_as
from app.deps import AuditDep, PrincipalDep, StateDep, TenancyDep, WriterDep
from app.edge.context import DecisionKind, record_decision
from app.name_params import KeyId, UserName
from app.paging.request import PageDep, listing_responses
from app.rbac.deps import RbacReader
from app.responses import Wrapped, problem_examples, wrapped

router = APIRouter(prefix="/api/apikeys", tags=["api keys"], responses=problem_examples(400, 401))


async def _reader(
    tenancy: TenancyDep, _principal: PrincipalDep, state: StateDep, audit: AuditDep
) -> ApiKeyService:
    return ApiKeyService(tenancy, state.secrets.key_hash, audit)


async def _writer(
    tenancy: TenancyDep, _principal: WriterDep, state: StateDep, audit: AuditDep
) -> ApiKeyService:
    return ApiKeyService(tenancy, state.secrets.key_hash, audit)


KeysReader = Annotated[ApiKeyService, Depends(_reader)]
KeysWriter = Annotated[ApiKeyService, Depends(_writer)]


def _info(key: KeyRecord) -> KeyInfo:
    return KeyInfo(
        key_id=key.key_id,
        key_prefix=key.key_prefix,
        label=key.label,
        is_active=key.is_active,
        created=key.created_at,
        revoked_at=key.revoked_at,
        expires_at=key.expires_at,
        last_used_at=key.last_used_at,
    )


def _invalid(result: ValidatedKey) -> InvalidKey | None:
    if result.key is None or result.reason is not None:
        return InvalidKey.model_validate({"reason": result.reason or "unknown_key"})
    return None


def _valid(key: KeyRecord) -> ValidKey:
    return ValidKey(user=key.user, key_id=key.key_id, label=key.label, expires_at=key.expires_at)


@router.post(
    "/user/{user}",
    dependencies=[refusals_audited_as("CREATE_API_KEY", "api_key")],
    response_model=Wrapped[CreatedKey],
    summary="Create an API key for a user (the secret is shown once)",
)
async def create_key(
    user: UserName,
    service: KeysWriter,
    body: Annotated[CreateKeyRequest | None, Body()] = None,
) -> Wrapped[CreatedKey]:
    request = body or CreateKeyRequest()
    secret, key = await service.create(user, request.label, request.expires_at)
    created = CreatedKey(
        api_key=secret,
        key_id=key.key_id,
        user=user,
        label=key.label,
        key_prefix=key.key_prefix,
        created=key.created_at,
        expires_at=key.expires_at,
    )
    return wrapped(created, f"API key created for user '{user}'")


@router.get(
    "/user/{user}",
    response_model=Wrapped[KeyList],
    summary="List a user's API keys",
    description="Every key of the user (live, revoked, expired) in creation order. Paged: "
    "`limit` (1..1000, default 1000) and `cursor`; when more follow, `data.next_cursor` "
    'and `Link: <...&cursor=...>; rel="next"`. `count` counts the keys of this answer.',
    responses=listing_responses(),
)
async def list_keys(user: UserName, service: KeysReader, page: PageDep) -> Wrapped[KeyList]:
    keys = await service.list(user, page.window(int))
    infos = [_info(key) for key in keys.items]
    return wrapped(
        KeyList(count=len(infos), keys=infos, next_cursor=page.finish(keys)),
        f"Retrieved API keys for user '{user}'",
    )


@router.patch(
    "/user/{user}/{key_id}",
    dependencies=[refusals_audited_as("UPDATE_API_KEY", "api_key")],
    response_model=Wrapped[KeyInfo],
    summary="Shorten an API key's expiry",
    responses=problem_examples(404, 409),
)
async def update_key(
    user: UserName, key_id: KeyId, body: UpdateKeyRequest, service: KeysWriter
) -> Wrapped[KeyInfo]:
    key = await service.shorten(user, key_id, body.expires_at)
    return wrapped(_info(key), "API key updated")


@router.delete(
    "/user/{user}/{key_id}",
    dependencies=[refusals_audited_as("REVOKE_API_KEY", "api_key")],
    response_model=Wrapped[RevokeResult],
    summary="Revoke an API key (idempotent)",
    responses=problem_examples(404),
)
async def revoke_key(user: UserName, key_id: KeyId, service: KeysWriter) -> Wrapped[RevokeResult]:
    already = await service.revoke(user, key_id)
    return wrapped(RevokeResult(already_revoked=already), "API key revoked")


@router.post(
    "/validate",
    response_model=Wrapped[ValidKey | InvalidKey],
    summary="Validate an API-key secret",
)
async def validate_key(
    body: ValidateKeyRequest, service: KeysReader
) -> Wrapped[ValidKey | InvalidKey]:
    result = await service.validate(body.api_key)
    answer: ValidKey | InvalidKey = _invalid(result) or _valid(_key(result))
    return wrapped(answer, "API key validation completed")


@router.post(
    "/check_permission",
    response_model=Wrapped[ValidKeyPermission | InvalidKey],
    summary="Validate an API key and check its user's permission in one call",
)
async def check_key_permission(
    body: CheckKeyPermissionRequest,
    service: KeysReader,
    rbac: RbacReader,
) -> Wrapped[ValidKeyPermission | InvalidKey]:
    holds = partial(rbac.user_has_permission, permission=body.permission)
    result, allowed = await service.check_permission(body.api_key, holds)
    return wrapped(_permission_answer(result, allowed), "API key permission check completed")


def _permission_answer(result: ValidatedKey, allowed: bool) -> ValidKeyPermission | InvalidKey:
    """Why the key is refused, or its user's answer (a decision, noted for the metrics)."""
    invalid = _invalid(result)
    if invalid is not None:
        return invalid
    record_decision(DecisionKind.CHECK_PERMISSION, allowed)
    return ValidKeyPermission(**_valid(_key(result)).model_dump(), has_permission=allowed)


def _key(result: ValidatedKey) -> KeyRecord:
    assert result.key is not None
    return result.key
