"""The gate: every ``/api`` request is authenticated once and rate-limited before routing.

Pure ASGI middleware (no body buffering), one pass:

1. **Parse** the ``Authorization`` header (gated paths: every ``/api`` path but
   ``OPTIONS`` preflights and :data:`PUBLIC_API_PATHS`): missing or not
   ``Bearer <one token>`` -> 401 with ``WWW-Authenticate: Bearer``; neither a UUID4 nor
   a JWT -> 400. Never audited, never echoing the presented value.
2. **Authenticate** it once, as a :class:`Visitor` kept in the request's context
   (:func:`app.edge.context.current_request`): the client key's keyed hash, or the
   verified access token's claims, and the :class:`~app.decisions.service.Passport` the decision
   snapshots give for it (the tenant, and the principal when its snapshot is current).
   Routes read the principal from it (``PrincipalDep``); when it is absent they
   resolve the credential against the database, reusing the hash and the claims.
   A decision request whose snapshot is current is answered right here
   (:mod:`app.rbac.shortcut`), the rest goes on to the routes.
   A request's ``Auth-Min-Revision`` (:mod:`app.decisions.consistency`) goes with the
   client key to the snapshots; a malformed one answers 400 before anything else.
3. **Rate-limit** (when ``AUTH_RATE_LIMIT_ENABLED``) by who is asking
   (:mod:`app.edge.rate_limit`): a tenant the store knows by its id (so rotating the
   key buys no fresh budget), anything else by client address.
   The failed-authentication budget of an address refuses only requests whose
   credential the store does not know: a valid caller behind the same address is
   never refused by it. Every 401 answered then spends one of that budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.decisions.consistency import BadMinRevision, min_revision_of
from app.decisions.service import Passport
from app.edge.context import current_request, rate_limit_address
from app.edge.rate_limit import RateLimits, is_decision_request, is_exempt, too_many_requests
from app.errors import BEARER_CHALLENGE, problem_response, record_auth_failure
from app.rbac.shortcut import answer_decision
from app.security.credentials import (
    Credential,
    CredentialKind,
    MalformedCredential,
    MissingCredential,
    hash_client_key,
    parse_authorization,
)
from app.security.failures import FailureReason
from app.state import AppState, app_state
from app.tokens.codec import TokenClaims, TokenRejected, TokenType

PUBLIC_API_PATHS: frozenset[str] = frozenset(
    {
        # Their credential travels in the body (or, for /api/token, optionally in the
        # header): each route authenticates itself.
        "/api/token",
        "/api/token/refresh",
        "/api/token/revoke",
        "/api/keys/recover",
    }
)


@dataclass(frozen=True, slots=True)
class Visitor:
    """What the gate learnt about a request's credential, shared with the routes."""

    credential: Credential
    key_hash: str | None = None
    """The client key's keyed hash (client keys only)."""
    claims: TokenClaims | None = None
    """The access token's verified claims (tokens only)."""
    passport: Passport | None = None
    """Set when the store knows the credential (see :mod:`app.decisions`)."""

    @property
    def identity(self) -> str | None:
        """The tenant the request is counted against; ``None`` (count it by client
        address) when the store does not know the credential: a key that opens a
        tenant, a retired key, or a token that does not verify."""
        if self.passport is not None:
            return f"tenant:{self.passport.tenant_id}"
        if self.claims is not None:
            return f"tenant:{self.claims.tenant_id}"
        return None


def is_gated(scope: Scope) -> bool:
    path: str = scope["path"]
    if not (path == "/api" or path.startswith("/api/")):
        return False
    if scope["method"] == "OPTIONS":
        return False
    return path not in PUBLIC_API_PATHS


def authorization_header(scope: Scope) -> str | None:
    """The request's ``Authorization`` value (the first, if several), or ``None``."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return None


async def _authenticate(
    state: AppState, credential: Credential, min_revision: int | None = None, *, warm: bool = True
) -> Visitor:
    """``warm``: rebuild the tenant's snapshot if it is stale. Only decisions do: a
    rebuild for every write of a busy tenant would read it all again for nothing."""
    decisions = state.decisions
    if credential.kind is CredentialKind.CLIENT_KEY:
        key_hash = hash_client_key(credential.value, state.secrets.key_hash)
        passport = (
            None
            if decisions is None
            else await decisions.for_client_key(key_hash, min_revision, warm=warm)
        )
        return Visitor(credential, key_hash=key_hash, passport=passport)
    try:
        claims = state.tokens.verify(credential.value, TokenType.ACCESS)
    except TokenRejected:
        return Visitor(credential)
    passport = None if decisions is None else await decisions.for_token(claims, warm=warm)
    return Visitor(credential, claims=claims, passport=passport)


class ClientKeyGate:
    def __init__(self, app: ASGIApp, limits: RateLimits | None = None) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        state = app_state(scope["app"])
        gated = is_gated(scope)
        method: str = scope["method"]
        decision = is_decision_request(method, scope["path"])  # classified once
        try:
            # Auth-Min-Revision (app.decisions.consistency): a bad value is refused
            # before any work, a good one bounds the snapshot a decision may use.
            min_revision = min_revision_of(scope) if gated else None
        except BadMinRevision as exc:
            await problem_response(400, str(exc), slug="bad-min-revision")(scope, receive, send)
            return
        header = authorization_header(scope)
        visitor: Visitor | None = None
        refused: tuple[int, str, FailureReason] | None = None
        try:
            credential = parse_authorization(header)
        except MissingCredential as exc:
            refused = (401, f"{exc}.", FailureReason.MISSING_HEADER)
        except MalformedCredential as exc:
            refused = (400, f"{exc}.", FailureReason.MALFORMED_CREDENTIAL)
        else:
            visitor = await _authenticate(state, credential, min_revision, warm=decision)
            current_request().visitor = visitor
        known = visitor is not None and visitor.passport is not None
        if self.limits is not None and not (known and decision and self.limits.decisions is None):
            # (A known tenant's decision spends no budget unless AUTH_RATE_LIMIT_DECISIONS
            # is set: no store round trip.)
            address = rate_limit_address(scope)
            identity = None if visitor is None else visitor.identity
            refusal = await self.limits.check(
                identity or f"ip:{address}", address, method, scope["path"], known=known
            )
            if refusal is not None:
                await too_many_requests(refusal)(scope, receive, send)
                return
            if not known:
                send = self._counting_failures(send, address)
        if (
            decision
            and visitor is not None
            and visitor.passport is not None
            and visitor.passport.snapshot is not None
            and state.decisions is not None
            # Answered before routing, but not when each decision is audited: that
            # takes the route's database transaction.
            and not state.settings.audit_permission_checks
            and await answer_decision(scope, receive, send, visitor.passport, state.decisions)
        ):
            return
        if gated and refused is not None:
            status, detail, reason = refused
            self._record(scope, reason)
            headers = {"WWW-Authenticate": BEARER_CHALLENGE} if status == 401 else None
            slug = "missing-credential" if status == 401 else "malformed-credential"
            await problem_response(status, detail, slug=slug, headers=headers)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _counting_failures(self, send: Send, address: str) -> Send:
        limits = self.limits
        assert limits is not None

        async def send_counting_failures(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                await limits.spend_auth_failure(address)
            await send(message)

        return send_counting_failures

    @staticmethod
    def _record(scope: Scope, reason: FailureReason) -> None:
        client = scope.get("client")
        record_auth_failure(scope["app"], reason, scope["method"], scope["path"], client)
