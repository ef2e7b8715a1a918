"""Reading request bodies that may be JSON or an HTML form (OAuth endpoints).

FastAPI binds one body type per route; the token routes accept both, so they read
the body here and validate it with a Pydantic model. Malformed JSON, a non-object
JSON value, and validation failures all become 400 problem+json (never 422), and
the offending input is never echoed (it may hold a secret). A body nested so deeply
that the JSON parser runs out of stack is a 400 as well, never a 500.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from app.errors import BadRequest

M = TypeVar("M", bound=BaseModel)

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() in FORM_TYPES


async def read_json_object(request: Request) -> dict[str, Any] | None:
    """The JSON object in the body, ``None`` for an empty body; 400 otherwise."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except RecursionError as exc:  # a few KB of brackets exhaust the parser's stack
        raise BadRequest("Request body is nested too deeply.") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("Request body is not valid JSON.") from exc
    if not isinstance(value, dict):
        raise BadRequest("Request body must be a JSON object.")
    return value


async def read_form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def validate(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['msg']}"
            for error in exc.errors()
        )
        raise BadRequest(f"Invalid request body: {problems}.") from exc
