"""The service's edge: what happens to a request before a route sees it, and the
observability around it. :func:`install_edge` wires it all, the gate included;
``create_app`` calls it.

Order, outermost first (every refusal below is problem+json):

1. :mod:`~app.edge.envelope`, one layer: accepts or mints ``X-Request-ID`` (echoed,
   and in every log line of the request), sets the security headers
   (:mod:`~app.edge.headers`), and writes the access log line and the request
   metrics (:mod:`~app.edge.telemetry`). It wraps Starlette's
   ``ServerErrorMiddleware``, so an unexpected 500 still carries the request id and
   the security headers, and is logged and counted. Everything below runs inside it,
   as ordinary middleware:

2. uvicorn's ``ProxyHeadersMiddleware``: ``X-Forwarded-For``/``-Proto`` from
   ``AUTH_FORWARDED_ALLOW_IPS`` only.
3. :mod:`~app.edge.hosts`: ``AUTH_ALLOWED_HOSTS`` (400).
4. :mod:`~app.edge.body_limit`: ``AUTH_MAX_BODY_BYTES`` (413), and
   ``AUTH_BULK_MAX_BODY_BYTES`` for ``POST /api/bulk`` alone.
5. :mod:`~app.edge.cors`: when ``AUTH_ALLOW_CORS`` (answers preflights itself).
6. the gate (:mod:`app.security.gate`): authenticates the credential once (401/400)
   and applies :mod:`~app.edge.rate_limit` when ``AUTH_RATE_LIMIT_ENABLED`` (429);
   then the routes.

``GET /metrics`` (:mod:`~app.edge.metrics`) is added here too.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.bulk.records import BULK_PATH
from app.config import Settings
from app.edge.body_limit import BodySizeLimitMiddleware
from app.edge.cors import ServiceCORSMiddleware
from app.edge.envelope import EdgeEnvelope
from app.edge.headers import docs_policies
from app.edge.hosts import AllowedHostsMiddleware
from app.edge.metrics import Metrics, install_metrics_route
from app.edge.rate_limit import RateLimits
from app.security.gate import ClientKeyGate

__all__ = ["install_edge"]


def install_edge(app: FastAPI, settings: Settings) -> None:
    rate_limits = RateLimits(settings) if settings.rate_limit_enabled else None
    metrics = Metrics(app, rate_limits)
    app.state.rate_limits = rate_limits
    app.state.limiter = None if rate_limits is None else rate_limits.limiter
    app.state.metrics = metrics

    # add_middleware puts each new layer outside the previous ones: innermost first.
    app.add_middleware(ClientKeyGate, limits=rate_limits)
    if settings.allow_cors:
        app.add_middleware(ServiceCORSMiddleware, origins=settings.cors_origins)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        larger={BULK_PATH: settings.bulk_max_body_bytes},
    )
    app.add_middleware(AllowedHostsMiddleware, allowed_hosts=settings.allowed_hosts)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)

    token = None if settings.metrics_token is None else settings.metrics_token.get_secret_value()
    install_metrics_route(app, metrics, token)

    page_policies = docs_policies()
    build_inner_stack = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        return EdgeEnvelope(build_inner_stack(), metrics=metrics, page_policies=page_policies)

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
