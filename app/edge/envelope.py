"""The outermost layer: what every answer carries and what every request leaves behind.

One pure ASGI pass, outside Starlette's ``ServerErrorMiddleware`` (so 500 answers and
the refusals of the inner edge layers get all of it), with a single ``send`` wrapper:

* **Request id** (:mod:`app.edge.context`): the caller's ``X-Request-ID`` when valid,
  else a new UUID4; published in the request's context (:mod:`app.edge.context`) for
  every log line and audit row of the request, and set on the response.
* **Security headers** (:mod:`app.edge.headers`): the static set, the page's
  Content-Security-Policy, and ``Cache-Control: no-store`` on ``/api`` answers, each
  replacing any value an inner layer set.
* **Revision**: ``Auth-Revision: <n>`` when the request noted the tenant revision its
  answer reflects (:func:`app.edge.context.record_revision`: a committed write, or a
  decision answered from a snapshot).
* **Telemetry** (:mod:`app.edge.telemetry`): once the response is complete (or the
  application raised), one ``app.access`` log line and the request metrics, with the
  route template and the decision the route noted.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.edge import context
from app.edge.context import (
    REQUEST_ID_HEADER,
    REVISION_HEADER,
    RequestContext,
    accept_request_id,
)
from app.edge.headers import API_CSP, STATIC_HEADERS
from app.edge.metrics import Metrics
from app.edge.telemetry import RouteTemplates, log_access

PAGE_NAMES = frozenset(
    {
        *(name.lower().encode() for name in STATIC_HEADERS),
        b"content-security-policy",
        REQUEST_ID_HEADER.lower().encode(),
    }
)
API_NAMES = PAGE_NAMES | {b"cache-control"}
REVISION_HEADER_NAME = REVISION_HEADER.lower().encode()


class EdgeEnvelope:
    def __init__(
        self, app: ASGIApp, metrics: Metrics, page_policies: Mapping[str, str] | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.page_policies = dict(page_policies or {})
        self.templates = RouteTemplates()
        static = [(name.lower().encode(), value.encode()) for name, value in STATIC_HEADERS.items()]
        self._page_headers = static
        self._api_headers = [*static, (b"cache-control", b"no-store")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = accept_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        path: str = scope["path"]
        policy = self.page_policies.get(path, API_CSP)
        is_api = path == "/api" or path.startswith("/api/")
        status = 500
        request = RequestContext(request_id=request_id)

        ours, replaced = (
            (self._api_headers, API_NAMES) if is_api else (self._page_headers, PAGE_NAMES)
        )
        added = [
            *ours,
            (b"content-security-policy", policy.encode()),
            (b"x-request-id", request_id.encode()),
        ]

        async def send_enveloped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                # One pass: drop any value an inner layer set for our headers, add ours.
                kept = [pair for pair in message.get("headers", ()) if pair[0] not in replaced]
                message["headers"] = kept + added
                if request.revision is not None:
                    message["headers"].append((REVISION_HEADER_NAME, b"%d" % request.revision))
            await send(message)

        token = context.enter(request)
        try:
            await self.app(scope, receive, send_enveloped)
        finally:
            seconds = time.perf_counter() - started
            method: str = scope["method"]
            route = self.templates.of(scope)
            self.metrics.observe(
                method=method,
                route=route,
                status=status,
                seconds=seconds,
                decision=request.decision,
            )
            log_access(scope, method, route, status, seconds)
            context.leave(token)
