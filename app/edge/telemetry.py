"""One observation per request: the access log line and the request metrics.

Pure ASGI, just inside :mod:`app.edge.request_id` and outside Starlette's
``ServerErrorMiddleware``, so it sees every answer, 500s and edge refusals included.
When the response is complete (or the application raised) it

* writes one ``app.access`` log line: method, route template, status, duration,
  client address (after trusted proxy headers) and, through the logging filter, the
  request id. Never the raw path (it holds user names), the query string or any
  header;
* records the request in :class:`~app.edge.metrics.Metrics`, with the decision the
  route noted, if any.

The route template is the one the router matched (``scope["route"]``); a request an
edge layer refused before routing is matched against the routes here, and one no
route matches is ``unmatched``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.edge import context
from app.edge.metrics import Metrics
from app.route_templates import candidate_routes, route_template

access_logger = logging.getLogger("app.access")


class TelemetryMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._routes: list[Any] | None = None

    def route_template(self, scope: Scope) -> str:
        if self._routes is None and scope.get("route") is None:
            self._routes = candidate_routes(scope.get("app"))
        return route_template(scope, self._routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            seconds = time.perf_counter() - started
            method: str = scope["method"]
            route = self.route_template(scope)
            request = context.current()
            self.metrics.observe(
                method=method,
                route=route,
                status=status,
                seconds=seconds,
                decision=None if request is None else request.decision,
            )
            access_logger.info(
                "%s %s %d",
                method,
                route,
                status,
                extra={
                    "event": "request",
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "client_ip": context.client_address(scope),
                },
            )
