"""CORS (``AUTH_ALLOW_CORS``, ``AUTH_CORS_ORIGINS``), off by default.

Starlette's :class:`~starlette.middleware.cors.CORSMiddleware` with this service's
policy: the configured origins only (``*`` is accepted in development and refused in
production by :mod:`app.security.production`), the methods of the API, the request headers a
browser client needs (``Content-Type``, ``Authorization``, ``X-Request-ID``), no
credentials (the API authenticates with a bearer header, never a cookie), and the
response headers a browser client may read (request id, listings' ``Link``,
rate-limit headers). A refused
preflight answers 400 problem+json instead of Starlette's plain text.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

from app.edge.context import REQUEST_ID_HEADER
from app.errors import problem_response

ALLOWED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ALLOWED_HEADERS = ("Content-Type", "Authorization", REQUEST_ID_HEADER)
EXPOSED_HEADERS = (
    REQUEST_ID_HEADER,
    "Link",
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
)
PREFLIGHT_MAX_AGE = 600


class ServiceCORSMiddleware(CORSMiddleware):
    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        super().__init__(
            app,
            allow_origins=list(origins),
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            allow_credentials=False,
            max_age=PREFLIGHT_MAX_AGE,
        )

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        detail = bytes(response.body).decode() or "Disallowed CORS request"
        headers = {
            name: value
            for name, value in response.headers.items()
            if name.lower() not in {"content-length", "content-type"}
        }
        return problem_response(400, f"{detail}.", slug="cors-refused", headers=headers)
