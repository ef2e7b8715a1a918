"""The client-key gate: every ``/api/*`` request is classified before routing.

Pure ASGI middleware (no body buffering). For ``/api`` paths, except ``OPTIONS``
preflights and the explicitly public paths, it parses the ``Authorization`` header:

* missing / not ``Bearer <one token>``  -> 401 with ``WWW-Authenticate: Bearer``
* neither a UUID4 nor a JWT             -> 400
* otherwise the parsed :class:`Credential` is stored in ``scope["state"]`` and the
  request continues; resolving it to a tenant (a database lookup) is the job of the
  ``PrincipalDep`` dependency.

Gate failures are never audited and never echo the presented value.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import BEARER_CHALLENGE, problem_response, record_auth_failure
from app.security.credentials import (
    MalformedCredential,
    MissingCredential,
    parse_authorization,
)
from app.security.failures import FailureReason

CREDENTIAL_STATE_KEY = "credential"
# Set by the rate limiter when it has already derived them from this request's
# credential, so authentication does not derive them twice.
KEY_HASH_STATE_KEY = "client_key_hash"
CLAIMS_STATE_KEY = "access_claims"
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


def _is_gated(scope: Scope) -> bool:
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


class ClientKeyGate:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_gated(scope):
            await self.app(scope, receive, send)
            return
        try:
            credential = parse_authorization(authorization_header(scope))
        except MissingCredential as exc:
            self._record(scope, FailureReason.MISSING_HEADER)
            response = problem_response(
                401,
                f"{exc}.",
                slug="missing-credential",
                headers={"WWW-Authenticate": BEARER_CHALLENGE},
            )
            await response(scope, receive, send)
            return
        except MalformedCredential as exc:
            self._record(scope, FailureReason.MALFORMED_CREDENTIAL)
            response = problem_response(400, f"{exc}.", slug="malformed-credential")
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[CREDENTIAL_STATE_KEY] = credential
        await self.app(scope, receive, send)

    @staticmethod
    def _record(scope: Scope, reason: FailureReason) -> None:
        client = scope.get("client")
        record_auth_failure(scope.get("app"), reason, scope["method"], scope["path"], client)
