"""Route templates: what logs and metrics name instead of the raw request path.

A raw path holds user ids, role and permission names
(``/api/has_permission/alice@example.com/publish``); its template
(``/api/has_permission/{user}/{name}``) holds none. Everything that logs or labels a
request path goes through :func:`route_template` or :func:`template_of_path`.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Match
from starlette.types import Scope

UNMATCHED = "unmatched"


def candidate_routes(app: Any) -> list[Any]:
    """The application's routes, flattened through included routers."""
    routes = list(getattr(getattr(app, "router", None), "routes", ()))
    try:
        from fastapi.routing import iter_route_contexts  # routers included as nested routes
    except ImportError:  # pragma: no cover - FastAPI versions with flat route lists
        return routes
    return list(iter_route_contexts(routes))


def match_template(routes: list[Any], scope: Scope) -> str:
    """The template of the route the router would pick (a full match, else a
    method mismatch), or :data:`UNMATCHED`."""
    partial: str | None = None
    for route in routes:
        match, _ = route.matches(scope)
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            continue
        if match is Match.FULL:
            return path
        if match is Match.PARTIAL and partial is None:
            partial = path
    return partial or UNMATCHED


def route_template(scope: Scope, routes: list[Any] | None = None) -> str:
    """The template of the route that served ``scope`` (``scope["route"]``), or the
    one the router would pick for it; never the raw path."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    return match_template(candidate_routes(scope.get("app")) if routes is None else routes, scope)


def template_of_path(app: Any, method: str, path: str) -> str:
    """The template ``app`` would route ``method path`` to (for callers that hold
    only the raw path, such as the gate middleware)."""
    scope: Scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    return match_template(candidate_routes(app), scope)
