"""``/api/token``, ``/api/token/refresh``, ``/api/token/revoke`` (contract section 6).

These paths are outside the client-key gate: ``/api/token`` authenticates the client
key itself (Bearer header, HTTP Basic or the client-credentials form, so Swagger UI's
Authorize dialog works), the other two take the token in the body.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.responses import JSONResponse

from app.apidocs.schema import form_schema as finished_form_schema
from app.deps import (
    AuditFactoryDep,
    SessionDep,
    SettingsDep,
    StateDep,
    tenant_of_key,
)
from app.errors import (
    INVALID_TOKEN_CHALLENGE,
    BadRequest,
    Unauthorized,
    problem_response,
    record_auth_failure,
)
from app.responses import Bare, bare, problem_examples
from app.security.credentials import (
    CredentialKind,
    MalformedCredential,
    MissingCredential,
    hash_client_key,
    is_uuid4,
    parse_authorization,
)
from app.security.failures import FailureReason
from app.security.principal import TokenScope as Scope
from app.tokens.bodies import is_form, read_form, read_json_object, validate
from app.tokens.schemas import (
    ClientCredentialsForm,
    RefreshForm,
    RefreshRequest,
    RevokeRequest,
    TokenRequest,
    TokenResponse,
)
from app.tokens.service import ReplayedRefreshToken, TokenPair, TokenService

router = APIRouter(prefix="/api/token", tags=["tokens"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _body_doc(
    json_schema: dict[str, Any], form_schema: dict[str, Any], *, required: bool = True
) -> dict[str, Any]:
    """The two body forms a token route reads (see :mod:`app.tokens.bodies`); local ``$defs``
    are moved to the components by :mod:`app.apidocs.schema`; the form's schema is finished by
    :func:`app.apidocs.schema.form_schema` (no null, unknown fields ignored)."""
    return {
        "requestBody": {
            "required": required,
            "content": {
                "application/json": {"schema": json_schema},
                "application/x-www-form-urlencoded": {"schema": finished_form_schema(form_schema)},
            },
        }
    }


def _token_response(pair: TokenPair, response: Response) -> TokenResponse:
    response.headers.update(NO_STORE)
    return TokenResponse(
        access_token=pair.access_token,
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token,
        scope=pair.scope,
    )


def _invalid_client(detail: str, reason: FailureReason) -> Unauthorized:
    return Unauthorized(detail, reason=reason)


def _basic_secret(header: str) -> str | None:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] or None


def _scope(requested: str | None) -> Scope:
    """The least scope unless more is asked for: ``check`` serves a frontend; ``admin``
    must be requested explicitly."""
    if not requested:
        return Scope.CHECK
    names = set(requested.split())
    unknown = names - {scope.value for scope in Scope}
    if unknown:
        raise BadRequest("Unknown scope: use 'admin' or 'check'.")
    return Scope.ADMIN if Scope.ADMIN.value in names else Scope.CHECK


async def _client_key_and_scope(request: Request) -> tuple[str, Scope]:
    header = request.headers.get("authorization")
    secret: str | None = None
    requested: str | None = None
    if is_form(request):
        form = validate(ClientCredentialsForm, await read_form(request))
        secret, requested = form.client_secret, form.scope
    else:
        body = await read_json_object(request)
        if body is not None:
            requested = validate(TokenRequest, body).scope
    if header is not None and secret is None:
        secret = _basic_secret(header)
        if secret is None:
            try:
                credential = parse_authorization(header)
            except (MissingCredential, MalformedCredential) as exc:
                raise _invalid_client(
                    "Present the client key as a Bearer token or client secret.",
                    FailureReason.MALFORMED_CREDENTIAL,
                ) from exc
            if credential.kind is not CredentialKind.CLIENT_KEY:
                raise _invalid_client(
                    "A token cannot obtain another token; present the client key.",
                    FailureReason.INVALID_TOKEN,
                )
            secret = credential.value
    if secret is None:
        raise _invalid_client("Client key missing.", FailureReason.MISSING_HEADER)
    if not is_uuid4(secret):
        raise _invalid_client("The client key must be a UUID4.", FailureReason.MALFORMED_CREDENTIAL)
    return secret.lower(), _scope(requested.value if isinstance(requested, Scope) else requested)


@router.post(
    "",
    response_model=TokenResponse,
    summary="Exchange the client key for an access and a refresh token",
    description=(
        'Client key as `Authorization: Bearer <key>` with optional JSON `{"scope"}`, '
        "or the OAuth2 client-credentials form (`grant_type=client_credentials`, "
        "`client_secret=<key>`). The scope is `check` (decision and read routes) unless "
        "`admin` is requested. Only the client key itself is accepted, never a token."
    ),
    responses=problem_examples(400, 401),
    openapi_extra={
        **_body_doc(
            TokenRequest.model_json_schema(),
            ClientCredentialsForm.model_json_schema(),
            required=False,
        ),
        # The client key as Bearer header, or in the form's client_secret.
        "security": [{"ClientKey": []}, {}],
    },
)
async def issue_token(
    request: Request,
    response: Response,
    state: StateDep,
    session: SessionDep,
    settings: SettingsDep,
    audit: AuditFactoryDep,
) -> TokenResponse:
    client_key, scope = await _client_key_and_scope(request)
    key_hash = hash_client_key(client_key, state.secrets.key_hash)
    tenant = await tenant_of_key(request, state, session, key_hash)
    service = TokenService(session, state.tokens, settings, audit)
    pair = await service.issue(tenant.id, tenant.key_generation, scope)
    return _token_response(pair, response)


@router.post(
    "/refresh",
    response_model=TokenResponse,
    summary="Spend a refresh token for a new pair",
    description="A refresh token works once; presenting a spent one revokes its family.",
    responses=problem_examples(400, 401),
    openapi_extra=_body_doc(RefreshRequest.model_json_schema(), RefreshForm.model_json_schema()),
)
async def refresh_token(
    request: Request,
    response: Response,
    state: StateDep,
    session: SessionDep,
    settings: SettingsDep,
    audit: AuditFactoryDep,
) -> TokenResponse | JSONResponse:
    if is_form(request):
        token = validate(RefreshForm, await read_form(request)).refresh_token
    else:
        token = validate(RefreshRequest, await read_json_object(request) or {}).refresh_token
    service = TokenService(session, state.tokens, settings, audit)
    try:
        pair = await service.refresh(token)
    except ReplayedRefreshToken:
        # Answer without raising, so the request boundary commits the revocation.
        record_auth_failure(
            request.app,
            FailureReason.REFRESH_REPLAY,
            request.method,
            request.url.path,
            request.client,
        )
        return problem_response(
            401,
            "This refresh token was already used; every token of its login is now revoked.",
            slug="unauthorized",
            headers={"WWW-Authenticate": INVALID_TOKEN_CHALLENGE, **NO_STORE},
        )
    return _token_response(pair, response)


@router.post(
    "/revoke",
    response_model=Bare[bool],
    summary="Revoke a token and every token of its login (RFC 7009)",
    description="Answers 200 whatever the token was.",
    responses=problem_examples(400),
    openapi_extra=_body_doc(RevokeRequest.model_json_schema(), RevokeRequest.model_json_schema()),
)
async def revoke_token(
    request: Request,
    state: StateDep,
    session: SessionDep,
    settings: SettingsDep,
    audit: AuditFactoryDep,
) -> Bare[bool]:
    data = await read_form(request) if is_form(request) else await read_json_object(request) or {}
    if is_form(request):
        data = {key: data[key] for key in ("token", "token_type_hint") if key in data}
    revocation = validate(RevokeRequest, data)
    await TokenService(session, state.tokens, settings, audit).revoke(revocation.token)
    return bare(True)
