"""One observation per request: the access log line and the request metrics.

:class:`~app.edge.envelope.EdgeEnvelope` (outside Starlette's
``ServerErrorMiddleware``, so it sees every answer, 500s and edge refusals included)
calls this when the response is complete (or the application raised); it

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
from typing import Any

from starlette.types import Scope

from app.edge import context
from app.edge.route_templates import candidate_routes, route_template

access_logger = logging.getLogger("app.access")


class RouteTemplates:
    """The route template of a request: the one the router matched
    (``scope["route"]``), else the one it would match (an edge refusal before routing),
    else :data:`UNMATCHED`."""

    def __init__(self) -> None:
        self._routes: list[Any] | None = None

    def of(self, scope: Scope) -> str:
        if self._routes is None and scope.get("route") is None:
            self._routes = candidate_routes(scope.get("app"))
        return route_template(scope, self._routes)


def log_access(scope: Scope, method: str, route: str, status: int, seconds: float) -> None:
    """The request's one ``app.access`` line (never the raw path or query string)."""
    if not access_logger.isEnabledFor(logging.INFO):
        return
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
