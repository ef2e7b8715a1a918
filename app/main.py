"""Application factory. Wiring only: no business logic lives here.

``create_app(settings)`` builds the FastAPI app, the failed-authentication counters
and the rate limits (the edge layers get them through their constructors); its
lifespan builds the engine, checks that the schema is at the code's head revision,
loads the server secrets and publishes all of it as one
:class:`~app.state.AppState` (:func:`~app.state.app_state` reads it). Nothing
connects or reads configuration at import time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace

from fastapi import FastAPI

from app import __version__
from app.apidocs.schema import finish_schema
from app.apidocs.ui import mount_docs
from app.apikeys.router import router as apikeys_router
from app.audit.refusals import audit_refusal
from app.audit.router import router as audit_router
from app.bulk.router import router as bulk_router
from app.config import Settings, load_settings
from app.edge.rate_limit import RateLimits
from app.edge.stack import install_edge
from app.errors import install_error_handlers
from app.health.router import router as health_router
from app.rbac.access_router import router as access_router
from app.rbac.router import router as rbac_router
from app.responses import Problem
from app.security.failures import AuthFailures
from app.security.production import check_production_readiness
from app.state import open_decisions, open_state, publish_state
from app.tenants.router import router as tenants_router
from app.tokens.router import router as tokens_router

TITLE = "auth"
DESCRIPTION = """
RBAC authorization service: *may user U do P?*

Every `/api` call carries `Authorization: Bearer <client key>`; the client key (a UUID4)
selects an isolated tenant. Use **Authorize** above with your client key to try the API.
Errors are RFC 9457 `application/problem+json`.
"""

OPENAPI_TAGS = [
    {"name": "access", "description": "Effective access: the decision routes."},
    {"name": "roles", "description": "Create, list and delete roles."},
    {"name": "memberships", "description": "Which users belong to which roles."},
    {"name": "permissions", "description": "Which permissions a role holds."},
    {"name": "workflows", "description": "Workflow checks (a workflow is a permission)."},
    {"name": "api keys", "description": "Per-user API keys, validated inside the tenant."},
    {"name": "tenant", "description": "Settings, client-key rotation and recovery."},
    {"name": "tokens", "description": "Short-lived access tokens and refresh tokens."},
    {"name": "audit", "description": "This tenant's tamper-evident audit trail."},
    {"name": "bulk", "description": "Import and export a tenant's RBAC as JSON lines."},
    {"name": "service", "description": "Liveness and readiness (no authentication)."},
]


def _lifespan(
    settings: Settings, failures: AuthFailures, rate_limits: RateLimits | None
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The lifespan publishing one :class:`~app.state.AppState`: the resources it opens,
    and what :func:`create_app` built before it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        check_production_readiness(settings)
        async with open_state(settings) as state, open_decisions(state) as decisions:
            publish_state(
                app,
                replace(
                    state,
                    decisions=decisions,
                    failures=failures,
                    rate_limits=rate_limits,
                    on_refusal=audit_refusal,
                ),
            )
            yield

    return lifespan


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    failures = AuthFailures()
    rate_limits = RateLimits(settings) if settings.rate_limit_enabled else None
    app = FastAPI(
        title=TITLE,
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=OPENAPI_TAGS,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.enable_docs else None,
        lifespan=_lifespan(settings, failures, rate_limits),
        redirect_slashes=False,
    )
    install_error_handlers(app)
    install_edge(app, settings, failures, rate_limits)
    app.include_router(health_router)
    app.include_router(access_router)
    app.include_router(rbac_router)
    app.include_router(apikeys_router)
    app.include_router(tenants_router)
    app.include_router(tokens_router)
    app.include_router(audit_router)
    app.include_router(bulk_router)
    if settings.enable_docs:
        mount_docs(app, title=TITLE)
    _register_problem_schema(app, rate_limited=settings.rate_limit_enabled)
    return app


def _register_problem_schema(app: FastAPI, *, rate_limited: bool) -> None:
    """Add the ``Problem`` schema that every documented error response refers to, and
    the statuses the edge and the database add (:mod:`app.apidocs.schema`)."""
    original = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema is None:
            schema = original()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Problem"] = Problem.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            # Validation failures are 400 problem+json here, never FastAPI's 422.
            app.openapi_schema = finish_schema(schema, rate_limited=rate_limited)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
