"""Auditing refusals: failed authentication and refused writes.

A refused request rolls its transaction back, so its audit row cannot ride in it.
The error handler calls :func:`audit_refusal` after the request session is gone; it
appends one ``success=false`` row in a transaction of its own:

* 401 after the gate (rotated key, disabled tenant, bad/expired/revoked token,
  replayed refresh token, bad rotate key): ``AUTHENTICATION_FAILED`` with the reason, in the
  tenant's chain when the tenant is known, otherwise in the system chain (0). Gate
  errors (missing or malformed header) are never audited, as the contract says.
* any other refusal (403, 404, 409, domain 400) of a route that declares how its
  refusals are audited (``dependencies=[refusals_audited_as(action, entity_type)]``
  where the route is declared), once the caller is authenticated: that action, e.g.
  ``ADD_MEMBERSHIP`` refused by strict identity. The declaration is read from
  ``scope["route"]``, never derived from the handler's name. A tenant's first
  request registers it only if it succeeds (:mod:`app.tenants.service`), so a refusal
  of a tenant that does not exist is written in the system chain, marked
  ``"tenant": "unregistered"``, never in a chain without its tenant.

The transaction's session is bound to the chain's tenant (the system chain binds
like one). Auditing must never turn a refusal into a 500: a failure to write is logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi import Request, params
from sqlalchemy import select

from app.audit.trail import SYSTEM_CHAIN, AuditTrail
from app.db.tenant_guard import bind_tenant
from app.deps import audit_origin
from app.edge.context import current_request
from app.edge.route_templates import route_template
from app.errors import AppError, Unauthorized
from app.models import Tenant
from app.state import app_state

logger = logging.getLogger("app.audit")


@dataclass(frozen=True, slots=True)
class RefusalAudit:
    """How a route's refusals are audited: ``action`` on ``entity_type``, e.g.
    ``ADD_MEMBERSHIP`` on ``membership``. Declared with the route
    (:func:`refusals_audited_as`) and read back from ``scope["route"]`` when a request
    of that route is refused (:func:`declared_refusal_audit`)."""

    action: str
    entity_type: str

    async def __call__(self) -> None:
        """Nothing to do per request: the declaration is only read at refusal time."""


def refusals_audited_as(action: str, entity_type: str) -> params.Depends:
    """A route's declaration that its refusals of an authenticated caller (403, 404,
    409, domain 400) are audited as ``action`` on ``entity_type``. Pass it in the
    route's ``dependencies=[...]``; it adds nothing to ``/openapi.json``.

    Only routes that authenticate a principal can audit this way (the chain is the
    principal's tenant); failed authentication is audited on every route regardless."""
    return params.Depends(RefusalAudit(action, entity_type))


def declared_refusal_audit(route: object) -> RefusalAudit | None:
    """The :class:`RefusalAudit` declared with ``route`` (``scope["route"]``), if any."""
    for dependency in getattr(route, "dependencies", None) or ():
        declared = getattr(dependency, "dependency", None)
        if isinstance(declared, RefusalAudit):
            return declared
    return None


def _resource(request: Request) -> tuple[str | None, str | None]:
    """(resource, user) from the path: the role, role:permission, or the key id."""
    path_params = request.path_params
    user = path_params.get("user")
    if "name" in path_params and "role" in path_params:
        return f"{path_params['role']}:{path_params['name']}", user
    for name in ("role", "key_id"):
        if name in path_params:
            return str(path_params[name]), user
    return None, user


async def audit_refusal(request: Request, exc: AppError) -> None:
    state = app_state(request.app)
    if not state.settings.enable_audit_logging:
        return
    declared = declared_refusal_audit(request.scope.get("route"))
    principal = current_request().principal
    if isinstance(exc, Unauthorized) and exc.reason is not None:
        action, entity_type = "AUTHENTICATION_FAILED", "credential"
        chain = exc.tenant_id if exc.tenant_id is not None else SYSTEM_CHAIN
        details = {"reason": exc.reason.value, "status": exc.status}
    elif declared is not None and principal is not None:
        action, entity_type = declared.action, declared.entity_type
        chain = principal.tenant_id
        details = {"status": exc.status, "refused": exc.slug}
    else:
        return
    details["route"] = route_template(request.scope)
    try:
        async with state.database.transaction(write=True) as session:
            if (
                chain != SYSTEM_CHAIN
                and await session.scalar(select(Tenant.id).where(Tenant.id == chain)) is None
            ):
                chain, details["tenant"] = SYSTEM_CHAIN, "unregistered"
            bind_tenant(session, chain)
            trail = AuditTrail.for_state(state, session, chain, audit_origin(request))
            resource, user = _resource(request)
            await trail.record(
                action, entity_type, resource, user=user, success=False, details=details
            )
    except Exception as error:  # auditing a refusal must not turn it into a 500
        logger.error("could not audit a refused request: %s", type(error).__name__)
