"""The decision routes' answers, built in one place for the routes and the shortcut.

A decision is the wrapped envelope with ``data={"has_permission", "reason"?}``,
serialized once (:func:`app.responses.wrapped_json`); the message names the question
as the reference API does.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def check_results_response(
    questions: Sequence[tuple[str, str]], answers: Sequence[tuple[bool, str | None]]
) -> Response:
    """``POST /api/check``'s answer: each ``(user, permission)`` question with its
    ``(allowed, reason)`` answer, in order, as ``GET /api/has_permission`` answers it."""
    results: list[dict[str, object]] = []
    for (user, permission), (allowed, reason) in zip(questions, answers, strict=True):
        result: dict[str, object] = {
            "user": user,
            "permission": permission,
            "has_permission": allowed,
        }
        if reason is not None:
            result["reason"] = reason
        results.append(result)
    return wrapped_json(
        {"count": len(results), "results": results}, f"{len(results)} permission checks completed"
    )
