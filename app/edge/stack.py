"""Wiring the edge onto the application, in the order :mod:`app.edge` describes."""

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
from app.security.failures import AuthFailures
from app.security.gate import ClientKeyGate


def install_edge(
    app: FastAPI, settings: Settings, failures: AuthFailures, rate_limits: RateLimits | None
) -> None:
    """The edge layers, ``GET /metrics`` and the metrics they feed. ``failures`` and
    ``rate_limits`` are the ones the lifespan publishes in the application's state."""
    metrics = Metrics(app, failures, rate_limits)

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
