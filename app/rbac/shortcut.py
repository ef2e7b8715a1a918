"""The decision routes answered by the gate, before routing, from a current snapshot.

``GET /api/has_permission/{user}/{name}`` and
``GET /api/workflow/user/{user}/can_run/{workflow}`` are the service's hot path. When
the gate has authenticated the caller and found its tenant's decision snapshot
current (:class:`~app.decisions.service.Passport` with a snapshot), and both names
obey their rules (:mod:`app.names`), the answer is computed and sent right there:
exactly the body and headers the route would send, without the router, the exception
middleware or the dependency machinery. Anything else (a name the route would refuse
with 400, decisions audited with ``AUTH_AUDIT_PERMISSION_CHECKS``, a cold or stale
snapshot, another method) goes on to the route, which stays the documented and
complete implementation (``/openapi.json`` describes it).

``scope["route"]`` is set to the route's template, so the access log and the metrics
name the request as the routed one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import Receive, Scope, Send

from app.decisions.service import Decisions, Passport
from app.edge.context import DecisionKind, record_decision, record_revision
from app.names import NameKind, is_valid
from app.rbac.answers import can_run_message, decision_response, has_permission_message


@dataclass(frozen=True, slots=True)
class RouteTemplate:
    """What telemetry reads of a matched route: its ``path`` template. It declares no
    refusal audit (:mod:`app.audit.refusals`): a shortcut answer is never a refusal."""

    path: str


@dataclass(frozen=True, slots=True)
class _Shape:
    pattern: re.Pattern[str]
    kind: DecisionKind
    subject: NameKind
    object: NameKind
    message: Callable[[str, str], str]
    route: RouteTemplate


SHAPES = (
    _Shape(
        re.compile(r"/api/has_permission/([^/]+)/([^/]+)"),
        DecisionKind.HAS_PERMISSION,
        NameKind.USER,
        NameKind.PERMISSION,
        has_permission_message,
        RouteTemplate("/api/has_permission/{user}/{name}"),
    ),
    _Shape(
        re.compile(r"/api/workflow/user/([^/]+)/can_run/([^/]+)"),
        DecisionKind.CAN_RUN,
        NameKind.USER,
        NameKind.WORKFLOW,
        can_run_message,
        RouteTemplate("/api/workflow/user/{user}/can_run/{workflow}"),
    ),
)


async def answer_decision(
    scope: Scope, receive: Receive, send: Send, passport: Passport, decisions: Decisions
) -> bool:
    """Send the decision for this request if it can be answered from the passport's
    snapshot; whether it was (``False``: the route answers)."""
    if scope["method"] != "GET" or passport.snapshot is None or passport.principal is None:
        return False
    path: str = scope["path"]
    for shape in SHAPES:
        match = shape.pattern.fullmatch(path)
        if match is None:
            continue
        subject, target = match.groups()
        if not (is_valid(shape.subject, subject) and is_valid(shape.object, target)):
            return False  # the route refuses it with its 400
        allowed, reason = decisions.decide(passport.snapshot, subject, target)
        record_decision(shape.kind, allowed)
        record_revision(passport.snapshot.revision)  # Auth-Revision, as the route sends
        scope["route"] = shape.route
        response = decision_response(allowed, reason, shape.message(subject, target))
        await response(scope, receive, send)
        return True
    return False
