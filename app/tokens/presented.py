"""``POST /api/token/refresh`` and ``POST /api/token/revoke``: a token in the body.

Both read a JSON object or an HTML form (:mod:`app.tokens.bodies`; a body the route
does not accept is a :class:`~app.errors.BadRequest`), then run one
:class:`~app.tokens.service.TokenService` use case. Both only flush; the request
boundary commits.

A replayed refresh token is *returned* as a refusal, never raised: raising would roll
back the revocation of its family, which must be committed before the 401 is sent.
The failed authentication is counted and logged here (as the error handler does for
raised refusals); the family's ``TOKEN_REFRESH_REPLAY`` row rides in the transaction.
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import AuditFactory
from app.errors import INVALID_TOKEN_CHALLENGE, Unauthorized, record_auth_failure
from app.security.failures import FailureReason
from app.state import AppState
from app.tokens.bodies import is_form, read_form, read_json_object, validate
from app.tokens.schemas import RefreshForm, RefreshRequest, RevokeRequest
from app.tokens.service import ReplayedRefreshToken, TokenPair, TokenService

REPLAY_DETAIL = "This refresh token was already used; every token of its login is now revoked."
REVOKE_FORM_FIELDS = ("token", "token_type_hint")
"""The form fields revocation reads; any other field of a form is ignored (RFC 7009)."""


def _service(state: AppState, session: AsyncSession, audit: AuditFactory) -> TokenService:
    return TokenService(session, state.tokens, state.settings, audit)


async def _refresh_token_of(request: Request) -> str:
    if is_form(request):
        return validate(RefreshForm, await read_form(request)).refresh_token
    return validate(RefreshRequest, await read_json_object(request) or {}).refresh_token


async def refresh_presented(
    request: Request, state: AppState, session: AsyncSession, audit: AuditFactory
) -> TokenPair | Unauthorized:
    """Spend the body's refresh token for a new pair. A replayed one revokes its family
    and comes back as the 401 to answer (``WWW-Authenticate: Bearer
    error="invalid_token"``) after the commit; any other refusal is raised."""
    token = await _refresh_token_of(request)
    try:
        return await _service(state, session, audit).refresh(token)
    except ReplayedRefreshToken as replay:
        record_auth_failure(
            request.app,
            FailureReason.REFRESH_REPLAY,
            request.method,
            request.url.path,
            request.client,
        )
        return Unauthorized(
            REPLAY_DETAIL,
            reason=FailureReason.REFRESH_REPLAY,
            challenge=INVALID_TOKEN_CHALLENGE,
            tenant_id=replay.tenant_id,
        )


async def revoke_presented(
    request: Request, state: AppState, session: AsyncSession, audit: AuditFactory
) -> None:
    """Revoke the family of the body's token (access or refresh); a token that is not
    ours, or not valid, is ignored (RFC 7009)."""
    if is_form(request):
        form = await read_form(request)
        data = {key: form[key] for key in REVOKE_FORM_FIELDS if key in form}
    else:
        data = await read_json_object(request) or {}
    revocation = validate(RevokeRequest, data)
    await _service(state, session, audit).revoke(revocation.token)
