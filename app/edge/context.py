"""The per-request context shared by the edge layers, the routes and the log lines.

One :class:`RequestContext` per HTTP request, created by the outermost middleware
(:mod:`app.edge.envelope`) and published in a :class:`~contextvars.ContextVar`, so
every log line written while the request runs carries its ``request_id`` (see
:mod:`app.edge.logs`), and a route can note the decision it made without taking the
``Request`` as a parameter (:func:`record_decision`); the telemetry middleware counts
it once the response is complete. It also holds the rest of the request's state (the
gate's :class:`~app.security.gate.Visitor`, the authenticated principal, whether a
tenant write route was reached), so nothing is kept in ``request.state``; code that
needs it reads it with :func:`current_request`.

The context object is mutable and shared by reference: a task group or a worker
thread that copies the context still sees (and updates) the same object.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.security.gate import Visitor
    from app.security.principal import Principal

REQUEST_ID_HEADER = "X-Request-ID"
REVISION_HEADER = "Auth-Revision"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


class DecisionKind(StrEnum):
    HAS_PERMISSION = "has_permission"
    CAN_RUN = "can_run"
    CHECK_PERMISSION = "check_permission"


@dataclass(slots=True)
class RequestContext:
    request_id: str
    decision: tuple[DecisionKind, bool] | None = None
    revision: int | None = None
    """The tenant revision the answer reflects, sent as ``Auth-Revision``."""
    visitor: Visitor | None = None
    """What the gate learnt about the request's credential (:mod:`app.security.gate`)."""
    principal: Principal | None = None
    """The authenticated principal, once resolved (:func:`app.deps.resolve_principal`)."""
    tenant_write: bool = False
    """A write route of the tenant was reached: its answer carries ``Auth-Revision``
    even when the write changed nothing (:mod:`app.deps`)."""


class NoRequestContext(RuntimeError):
    """Request state was asked for outside a request the edge envelope wraps."""


_current: ContextVar[RequestContext | None] = ContextVar("auth_request_context", default=None)


def accept_request_id(value: str | None) -> str:
    """The caller's ``X-Request-ID`` when it is 1-128 characters of ``[A-Za-z0-9._-]``;
    otherwise a new UUID4 (an invalid id is replaced, never echoed)."""
    if value is not None and _VALID_REQUEST_ID.fullmatch(value):
        return value
    return str(uuid.uuid4())


def enter(context: RequestContext) -> Token[RequestContext | None]:
    return _current.set(context)


def leave(token: Token[RequestContext | None]) -> None:
    _current.reset(token)


def current_request() -> RequestContext:
    """The running request's context; :class:`NoRequestContext` outside one (fail
    closed: a request that skipped the envelope has no state to invent)."""
    context = _current.get()
    if context is None:
        raise NoRequestContext("no request context: the edge envelope must wrap the app")
    return context


def current_request_id() -> str | None:
    context = _current.get()
    return None if context is None else context.request_id


def client_address(scope: Mapping[str, Any]) -> str:
    """The client's address as the application sees it (after trusted proxy headers)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


IPV6_BUDGET_PREFIX = 64


def address_group(address: str) -> str:
    """The key a per-address budget counts against.

    An IPv4 address stands for itself. An IPv6 address counts as its /64 network
    (``2001:db8:1:2::/64``): one subscriber or host usually holds a whole /64, so
    single addresses would hand it 2**64 budgets. An IPv4-mapped IPv6 address is its
    IPv4 address; anything that is not an address is kept as it is.
    """
    try:
        parsed = ipaddress.ip_address(address.partition("%")[0])
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, IPV6_BUDGET_PREFIX), strict=False))
    return str(parsed)


def rate_limit_address(scope: Mapping[str, Any]) -> str:
    """:func:`client_address` grouped by :func:`address_group`: what per-address
    rate-limit budgets are keyed by."""
    return address_group(client_address(scope))


def record_decision(kind: DecisionKind, allowed: bool) -> None:
    """Note the authorization decision this request answered (counted in /metrics)."""
    context = _current.get()
    if context is not None:
        context.decision = (kind, allowed)


def record_revision(revision: int) -> None:
    """Note the tenant revision this request's answer reflects: the revision a write
    committed, or the revision of the snapshot a decision was answered from. The
    envelope sends it as ``Auth-Revision``."""
    context = _current.get()
    if context is not None:
        context.revision = revision
