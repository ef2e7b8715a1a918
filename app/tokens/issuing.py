"""``POST /api/token``: authenticate the client key, choose the scope, issue a pair.

The client key arrives in one of three places, looked at in this order:

1. the client-credentials form's ``client_secret`` (an HTML form body);
2. HTTP Basic (``Authorization: Basic base64(id:secret)``, the secret is the key);
3. ``Authorization: Bearer <client key>``; a token there is refused (a token never
   obtains another token).

The scope comes from the form's or the JSON body's ``scope``: ``check`` unless
``admin`` is named. Refusals are domain errors: :class:`~app.errors.Unauthorized`
with a failure reason for a missing, malformed or wrong kind of credential,
:class:`~app.errors.BadRequest` for a body or scope the route does not accept. The
tenant behind the key is then looked up (or opened, under open registration) exactly
as for any ``/api`` request (:func:`app.deps.tenant_of_key`).
"""

from __future__ import annotations

import base64
import binascii

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import AuditFactory, tenant_of_key
from app.errors import BadRequest, Unauthorized
from app.security.credentials import (
    CredentialKind,
    MalformedCredential,
    MissingCredential,
    hash_client_key,
    is_uuid4,
    parse_authorization,
)
from app.security.failures import FailureReason
from app.security.principal import TokenScope
from app.state import AppState
from app.tokens.bodies import is_form, read_form, read_json_object, validate
from app.tokens.schemas import ClientCredentialsForm, TokenRequest
from app.tokens.service import TokenPair, TokenService


def _invalid_client(detail: str, reason: FailureReason) -> Unauthorized:
    return Unauthorized(detail, reason=reason)


def _basic_secret(header: str) -> str | None:
    """The password of an HTTP Basic header, or ``None`` (another scheme, bad base64,
    an empty password)."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] or None


def requested_scope(requested: str | None) -> TokenScope:
    """The least scope unless more is asked for: ``check`` serves a frontend; ``admin``
    must be requested explicitly. An unknown scope name is a :class:`BadRequest`."""
    if not requested:
        return TokenScope.CHECK
    names = set(requested.split())
    unknown = names - {scope.value for scope in TokenScope}
    if unknown:
        raise BadRequest("Unknown scope: use 'admin' or 'check'.")
    return TokenScope.ADMIN if TokenScope.ADMIN.value in names else TokenScope.CHECK


async def client_key_and_scope(request: Request) -> tuple[str, TokenScope]:
    """The presented client key (lower-cased) and the scope asked for. The body is read
    and validated first, then the ``Authorization`` header."""
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
    return secret.lower(), requested_scope(
        requested.value if isinstance(requested, TokenScope) else requested
    )


async def issue_for_client(
    request: Request, state: AppState, session: AsyncSession, audit: AuditFactory
) -> TokenPair:
    """A new login (token family) for the tenant of the presented client key, audited
    ``TOKEN_ISSUE`` in its chain. Only flushes; the request boundary commits."""
    client_key, scope = await client_key_and_scope(request)
    key_hash = hash_client_key(client_key, state.secrets.key_hash)
    tenant = await tenant_of_key(request, state, session, key_hash)
    service = TokenService(session, state.tokens, state.settings, audit)
    return await service.issue(tenant.id, tenant.key_generation, scope)
