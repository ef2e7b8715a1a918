"""Auditing refusals: failed authentication and refused writes.

A refused request rolls its transaction back, so its audit row cannot ride in it.
The error handler calls :func:`audit_refusal` after the request session is gone; it
appends one ``success=false`` row in a transaction of its own:

* 401 after the gate (rotated key, disabled tenant, bad/expired/revoked token,
  replayed refresh token, bad rotate key): ``AUTHENTICATION_FAILED`` with the reason, in the
  tenant's chain when the tenant is known, otherwise in the system chain (0). Gate
  errors (missing or malformed header) are never audited, as the contract says.
* any other refusal (403, 404, 409, domain 400) of a write route: that route's
  action, e.g. ``ADD_MEMBERSHIP`` refused by strict identity. A tenant's first
  request registers it only if it succeeds (:mod:`app.tenants.service`), so a refusal
  of a tenant that does not exist is written in the system chain, marked
  ``"tenant": "unregistered"``, never in a chain without its tenant.

The transaction's session is bound to the chain's tenant (the system chain binds
like one). Auditing must never turn a refusal into a 500: a failure to write is logged.
"""

from __future__ import annotations

import logging

from fastapi import Request
from sqlalchemy import select

from app.audit.trail import SYSTEM_CHAIN, AuditTrail
from app.db.tenant_guard import bind_tenant
from app.deps import request_context
from app.edge.route_templates import route_template
from app.errors import AppError, Unauthorized
from app.models import Tenant
from app.security.principal import Principal
from app.state import AppState

logger = logging.getLogger("app.audit")

WRITE_ROUTE_ACTIONS: dict[str, tuple[str, str]] = {
    "create_role": ("CREATE_ROLE", "role"),
    "delete_role": ("DELETE_ROLE", "role"),
    "add_membership": ("ADD_MEMBERSHIP", "membership"),
    "remove_membership": ("REMOVE_MEMBERSHIP", "membership"),
    "grant_permission": ("ADD_PERMISSION", "permission"),
    "revoke_permission": ("REMOVE_PERMISSION", "permission"),
    "create_key": ("CREATE_API_KEY", "api_key"),
    "update_key": ("UPDATE_API_KEY", "api_key"),
    "revoke_key": ("REVOKE_API_KEY", "api_key"),
    "put_settings": ("UPDATE_SETTINGS", "settings"),
    "rotate_key": ("ROTATE_KEY", "client_key"),
    "get_rotate_key": ("GET_ROTATE_KEY", "rotate_key"),
    "recover": ("RECOVER_KEY", "client_key"),
    "issue_token": ("TOKEN_ISSUE", "token"),
    "refresh_token": ("TOKEN_REFRESH", "token"),
    "revoke_token": ("TOKEN_REVOKE", "token"),
}


def _resource(request: Request) -> tuple[str | None, str | None]:
    """(resource, user) from the path: the role, role:permission, or the key id."""
    params = request.path_params
    user = params.get("user")
    if "name" in params and "role" in params:
        return f"{params['role']}:{params['name']}", user
    for name in ("role", "key_id"):
        if name in params:
            return str(params[name]), user
    return None, user


async def audit_refusal(request: Request, exc: AppError) -> None:
    state: AppState | None = getattr(request.app.state, "auth", None)
    if state is None or not state.settings.enable_audit_logging:
        return
    route = request.scope.get("route")
    route_name = getattr(route, "name", None)
    principal: Principal | None = getattr(request.state, "principal", None)
    if isinstance(exc, Unauthorized) and exc.reason is not None:
        action, entity_type = "AUTHENTICATION_FAILED", "credential"
        chain = exc.tenant_id if exc.tenant_id is not None else SYSTEM_CHAIN
        details = {"reason": exc.reason.value, "status": exc.status}
    elif route_name in WRITE_ROUTE_ACTIONS and principal is not None:
        action, entity_type = WRITE_ROUTE_ACTIONS[route_name]
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
            trail = AuditTrail.for_state(state, session, chain, request_context(request))
            resource, user = _resource(request)
            await trail.record(
                action, entity_type, resource, user=user, success=False, details=details
            )
    except Exception as error:  # auditing a refusal must not turn it into a 500
        logger.error("could not audit a refused request: %s", type(error).__name__)
