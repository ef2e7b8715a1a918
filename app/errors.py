"""Domain errors and the one renderer of RFC 9457 problem details.

Every error the service emits, from a handler, a dependency, the gate middleware,
Starlette's router (404/405) or request validation, leaves through
:func:`problem_response`, so all of them share one body::

    {"type", "title", "status", "detail", "success": false, "code", "message"}

``code`` and ``message`` repeat ``status`` and ``detail`` for clients of the older
JSON error envelope. Bodies never carry stack traces, SQL, secrets or client keys:
unexpected exceptions become a generic 500 and are logged server-side only.

Database faults (:mod:`app.db.faults` decides which errors are faults) become
:class:`DatabaseUnavailable`: 503 problem+json with ``Retry-After``, no traceback
(the outage is logged once, when it starts and when it ends), and the keep-alive
connection stays open. Driver and SQLAlchemy errors are handled inside the
application, never left to the server, which would log them and drop the connection.

The domain errors are raised by operator commands too, which never import FastAPI:
this module imports it only where the handlers are installed or run.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

from app.db.faults import DatabaseFault, classify_database_error
from app.edge.route_templates import route_template, template_of_path
from app.names import describe_invalid_parameter
from app.security.failures import FailureReason
from app.state import app_state

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.applications import Starlette

logger = logging.getLogger("app.errors")

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:auth:problem:"
BEARER_CHALLENGE = "Bearer"


class AppError(Exception):
    """Base of every error the domain raises. Rendered as problem+json."""

    status: int = 400
    slug: str = "bad-request"

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra: dict[str, Any] = {}


class RefusedWithResult(AppError):
    """A refusal the contract answers with a bare ``{"result": false, "reason", "hint"}``
    body instead of problem details (strict-user 409, rotate key already issued)."""

    status = 409
    slug = "conflict"

    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(hint)
        self.reason = reason
        self.hint = hint


class BadRequest(AppError):
    status = 400
    slug = "bad-request"


class Unauthorized(AppError):
    """401 with an RFC 6750 challenge; ``reason`` feeds the failed-authentication
    counters (see :mod:`app.security.failures`)."""

    status = 401
    slug = "unauthorized"

    def __init__(
        self,
        detail: str,
        *,
        reason: FailureReason | None = None,
        challenge: str = BEARER_CHALLENGE,
        tenant_id: int | None = None,
    ) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": challenge})
        self.reason = reason
        self.tenant_id = tenant_id


INVALID_TOKEN_CHALLENGE = 'Bearer error="invalid_token"'


class Forbidden(AppError):
    status = 403
    slug = "forbidden"


class NotFound(AppError):
    status = 404
    slug = "not-found"


class Conflict(AppError):
    status = 409
    slug = "conflict"


_FAULT_DETAILS = {
    DatabaseFault.UNREACHABLE: "The database is unreachable; retry later.",
    DatabaseFault.TIMEOUT: "The database did not answer in time; retry later.",
    DatabaseFault.FULL: "The database cannot take writes (out of space or read-only); "
    "nothing was changed; retry later.",
}


class DatabaseUnavailable(AppError):
    """503: the database is unreachable, hung past its timeout, or out of space.

    Never a decision: a check that could not read its data fails closed with this.
    ``fault`` says which (``unreachable``, ``timeout``, ``full``).
    """

    status = 503
    slug = "database-unavailable"

    def __init__(self, fault: DatabaseFault, *, retry_after: int) -> None:
        super().__init__(_FAULT_DETAILS[fault], headers={"Retry-After": str(retry_after)})
        self.fault = fault
        self.extra = {"fault": fault.value}


def problem_body(status: int, detail: str, *, slug: str | None = None) -> dict[str, Any]:
    title = HTTPStatus(status).phrase
    return {
        "type": f"{PROBLEM_TYPE_PREFIX}{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "success": False,
        "code": status,
        "message": detail,
    }


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body = problem_body(status, detail, slug=slug)
    if extra:
        body.update(extra)
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON
    )


def _validation_errors(errors: Sequence[Any]) -> tuple[str, list[dict[str, Any]]]:
    """A readable summary plus a list of ``{"location", "message"}`` (inputs omitted:
    a body may carry a secret)."""
    items: list[dict[str, Any]] = []
    summaries: list[str] = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        where = loc[0] if loc else "request"
        name = loc[-1] if len(loc) > 1 else where
        message = describe_invalid_parameter(name) if where == "path" else None
        if message is None:
            message = str(error.get("msg", "invalid value"))
            if where == "body" and error.get("type") == "json_invalid":
                message = "request body is not valid JSON"
        items.append({"location": ".".join(loc), "message": message})
        summaries.append(message if where == "path" else f"{'.'.join(loc)}: {message}")
    return "; ".join(dict.fromkeys(summaries)) or "invalid request", items


RefusalHook = Callable[[Request, AppError], Awaitable[None]]


async def _app_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    hook = app_state(request.app).on_refusal
    if hook is not None:
        await hook(request, exc)
    if isinstance(exc, RefusedWithResult):
        body = {"result": False, "reason": exc.reason, "hint": exc.hint}
        return JSONResponse(body, status_code=exc.status)
    if isinstance(exc, Unauthorized) and exc.reason is not None:
        record_auth_failure(
            request.app, exc.reason, request.method, request.url.path, request.client
        )
    return problem_response(
        exc.status, exc.detail, slug=exc.slug, headers=exc.headers, extra=exc.extra
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str | None:
    """Every method some route accepts on this path.

    Starlette's 405 names only the methods of the first route that matched the path,
    but several routes share a path (``POST`` and ``DELETE /api/role/{role}``), so the
    router is asked about each method. ``None`` when the refused method itself
    matches (a mounted app refused it; its own ``Allow``, if any, stands).
    """
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]
    if not allowed or request.method in allowed:
        return None
    return ", ".join(allowed)


async def _http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    headers = dict(exc.headers or {})
    if status == 404 and detail == "Not Found":
        detail = "No route matches this path."
    elif status == 405:
        if detail == "Method Not Allowed":
            detail = "This path does not accept this method; see the Allow header."
        allow = _allowed_methods(request)
        if allow is not None:
            headers["Allow"] = allow
    return problem_response(status, detail, headers=headers)


async def _validation_error_handler(_request: Request, exc: Exception) -> Response:
    from fastapi.exceptions import RequestValidationError

    assert isinstance(exc, RequestValidationError)
    detail, items = _validation_errors(exc.errors())
    return problem_response(400, detail, slug="invalid-request", extra={"errors": items})


async def _database_unavailable_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DatabaseUnavailable)
    return problem_response(
        exc.status, exc.detail, slug=exc.slug, headers=exc.headers, extra=exc.extra
    )


def database_unavailable(app: Starlette, exc: BaseException) -> DatabaseUnavailable | None:
    """The 503 for ``exc`` when it is a database fault (recorded in the database's
    health, which logs the outage once), else ``None``."""
    fault = classify_database_error(exc)
    if fault is None:
        return None
    state = app_state(app)
    state.database.health.record_fault(fault, exc)
    return DatabaseUnavailable(fault, retry_after=state.settings.db_retry_after_seconds)


async def _driver_error_handler(request: Request, exc: Exception) -> Response:
    """SQLAlchemy, driver and socket errors: 503 when they are a database fault,
    otherwise the generic 500. Either way handled here, so the connection stays."""
    unavailable = database_unavailable(request.app, exc)
    if unavailable is not None:
        return await _database_unavailable_handler(request, unavailable)
    return await _unexpected_error_handler(request, exc)


async def _unexpected_error_handler(request: Request, exc: Exception) -> Response:
    logger.error(
        "unhandled error",
        extra={"route": route_template(request.scope), "error_type": type(exc).__name__},
        exc_info=exc,
    )
    return problem_response(500, "The service failed to handle this request.", slug="internal")


def record_auth_failure(
    app: Starlette, reason: FailureReason, method: str, path: str, client: Any
) -> None:
    """Count and log a failed authentication. ``path`` is the raw request path; only
    its route template is logged (a raw path holds user ids and names)."""
    app_state(app).failures.record(
        reason,
        method=method,
        route=template_of_path(app, method, path),
        client=client[0] if client else None,
    )


def driver_errors() -> tuple[type[Exception], ...]:
    """The errors :func:`_driver_error_handler` answers: SQLAlchemy's, the drivers', and
    refused/reset sockets and timeouts (``OSError``). asyncpg is imported here, when
    the handlers are installed, not by the operator commands that raise domain errors."""
    import asyncpg

    return (SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError, sqlite3.Error, OSError)


def install_error_handlers(app: FastAPI) -> None:
    from fastapi.exceptions import RequestValidationError

    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable_handler)
    for driver_error in driver_errors():
        app.add_exception_handler(driver_error, _driver_error_handler)
    app.add_exception_handler(Exception, _unexpected_error_handler)
