"""Host header validation (``AUTH_ALLOWED_HOSTS``) with problem+json refusals.

Starlette's :class:`~starlette.middleware.trustedhost.TrustedHostMiddleware` does the
matching (exact names and ``*.example.com`` wildcards, case-insensitive, port
ignored); it is run as a validator in front of a marker app, so a request it lets
through reaches the real application and one it refuses gets this service's
400 problem+json instead of Starlette's plain-text body. No ``www.`` redirects.
``*`` (the default) accepts any host and adds no work per request.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import problem_response

_ACCEPTED = "auth.host_accepted"


async def _mark_accepted(scope: Scope, _receive: Receive, _send: Send) -> None:
    scope[_ACCEPTED] = True


async def _discard(_message: Message) -> None:
    return None


class AllowedHostsMiddleware:
    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.allow_any = "*" in allowed_hosts
        self.validator = TrustedHostMiddleware(
            _mark_accepted, allowed_hosts=list(allowed_hosts), www_redirect=False
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.allow_any or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.validator(scope, receive, _discard)
        if scope.pop(_ACCEPTED, False):
            await self.app(scope, receive, send)
            return
        response = problem_response(
            400, "The Host header names no host this service answers for.", slug="invalid-host"
        )
        await response(scope, receive, send)
