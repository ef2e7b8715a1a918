"""The decision routes' answers, built in one place for the routes and the shortcut.

A decision is the wrapped envelope with ``data={"has_permission", "reason"?}``,
serialized once (:func:`app.responses.wrapped_json`); the message names the question
as the reference API does.
"""

from __future__ import annotations

from starlette.responses import Response

from app.responses import wrapped_json


def has_permission_message(user: str, permission: str) -> str:
    return f"Permission check for user '{user}' and permission '{permission}' completed"


def can_run_message(user: str, workflow: str) -> str:
    return f"Workflow permission check for user '{user}' and workflow '{workflow}' completed"


def decision_response(allowed: bool, reason: str | None, message: str) -> Response:
    data: dict[str, object] = {"has_permission": allowed}
    if reason is not None:
        data["reason"] = reason
    return wrapped_json(data, message)
