"""The contract's two success shapes, built here and nowhere else.

* **bare**: ``{"result": <value>}``
* **wrapped**: ``{"success": true, "code": 200, "message", "data", "timestamp"}``

Routers declare ``response_model=Bare[X]`` or ``Wrapped[X]`` and return
:func:`bare` / :func:`wrapped`, so ``/openapi.json`` describes every body exactly.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field
from starlette.responses import Response

from app.utc import utcnow

T = TypeVar("T")


class Bare(BaseModel, Generic[T]):
    """``{"result": value}``"""

    result: T


class Wrapped(BaseModel, Generic[T]):
    """The wrapped envelope of the reference API."""

    success: Literal[True] = True
    code: int = Field(default=200, examples=[200])
    message: str = Field(examples=["Permission check completed"])
    data: T
    timestamp: datetime = Field(description="ISO-8601 UTC time of the answer.")


NEXT_CURSOR: Any = Field(
    default=None,
    exclude_if=lambda value: value is None,
    description="Present only when more entries follow: pass it as `cursor` to get them "
    "(the same link is in the `Link` header).",
    examples=[None],
)
"""The ``next_cursor`` member of every wrapped listing: omitted on the last page."""


def bare(value: T) -> Bare[T]:
    return Bare[T](result=value)


def wrapped(data: T, message: str, *, code: int = 200) -> Wrapped[T]:
    return Wrapped[T](code=code, message=message, data=data, timestamp=utcnow())


def wrapped_json(data: dict[str, Any], message: str, *, code: int = 200) -> Response:
    """The wrapped envelope serialized once, straight to bytes, for the hot path's
    plain JSON data (the same body :func:`wrapped` gives through ``response_model``)."""
    timestamp = utcnow().isoformat().replace("+00:00", "Z")
    body = {"success": True, "code": code, "message": message, "data": data, "timestamp": timestamp}
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(content, status_code=code, media_type="application/json")


def problem_examples(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting problem+json errors."""
    from app.errors import PROBLEM_JSON  # local: errors imports names, not responses

    descriptions = {
        400: "Invalid name, body or query parameter",
        401: "Missing, malformed or refused credential",
        403: "The credential's scope does not allow this call",
        404: "Not found",
        409: "Conflict",
        503: "Database unreachable",
    }
    return {
        status: {
            "description": descriptions.get(status, "Error"),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


class Problem(BaseModel):
    """RFC 9457 problem details, plus the legacy envelope members."""

    type: str = Field(examples=["urn:auth:problem:invalid-name"])
    title: str = Field(examples=["Bad Request"])
    status: int = Field(examples=[400])
    detail: str = Field(examples=["Invalid role name: must be 1-64 letters, digits, _ or -."])
    success: Literal[False] = False
    code: int = Field(examples=[400])
    message: str
