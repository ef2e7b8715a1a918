"""``/api/token``, ``/api/token/refresh``, ``/api/token/revoke`` (contract section 6).
HTTP only: each route declares its contract and calls one use case.

These paths are outside the client-key gate: ``/api/token`` authenticates the client
key itself (Bearer header, HTTP Basic or the client-credentials form, so Swagger UI's
Authorize dialog works; :mod:`app.tokens.issuing`), the other two take the token in the
body (:mod:`app.tokens.presented`). Every token answer carries ``Cache-Control:
no-store``, refusals of a replayed refresh token included.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.responses import JSONResponse

from app.apidocs.schema import form_schema as finished_form_schema
from app.deps import AuditFactoryDep, SessionDep, StateDep
from app.errors import Unauthorized, problem_response
from app.responses import Bare, bare, problem_examples
from app.tokens.issuing import issue_for_client
from app.tokens.presented import refresh_presented, revoke_presented
from app.tokens.schemas import (
    ClientCredentialsForm,
    RefreshForm,
    RefreshRequest,
    RevokeRequest,
    TokenRequest,
    TokenResponse,
)
from app.tokens.service import TokenPair

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


def _answer(outcome: TokenPair | Unauthorized, response: Response) -> TokenResponse | JSONResponse:
    """The new pair, or a refusal the use case returned instead of raising (so that the
    request boundary commits what it wrote)."""
    if isinstance(outcome, Unauthorized):
        return problem_response(
            outcome.status,
            outcome.detail,
            slug=outcome.slug,
            headers={**outcome.headers, **NO_STORE},
        )
    return _token_response(outcome, response)


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
    audit: AuditFactoryDep,
) -> TokenResponse:
    return _token_response(await issue_for_client(request, state, session, audit), response)


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
    audit: AuditFactoryDep,
) -> TokenResponse | JSONResponse:
    return _answer(await refresh_presented(request, state, session, audit), response)


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
    audit: AuditFactoryDep,
) -> Bare[bool]:
    await revoke_presented(request, state, session, audit)
    return bare(True)
