"""Finishing ``/openapi.json`` so it documents what the service really answers.

FastAPI documents what the routes declare. What the edge and the database add is
written in here, once, for every operation (:func:`finish_schema`):

* ``429`` (problem+json, ``Retry-After``) on every rate-limited ``/api`` operation,
  when rate limiting is on (:func:`app.edge.rate_limit.is_exempt` says which are not);
* ``413`` (problem+json) on every operation that accepts a request body
  (``AUTH_MAX_BODY_BYTES``);
* ``503`` (problem+json, ``Retry-After``) on every ``/api`` operation: each one reads
  or writes the database, and one that cannot be reached answers 503;
* ``Auth-Revision`` on the 200 answer of every tenant write (:data:`WRITE_METHODS` on
  ``/api`` but the token routes and the POSTs that only read, :data:`READ_ONLY_POSTS`)
  and of every decision (:data:`DECISION_OPERATIONS`), and the ``Auth-Min-Revision``
  request header of the decisions (see :mod:`app.decisions.consistency`);
* no 422 (validation failures are 400 problem+json here);
* request and response schemas written by hand keep no local ``$defs``: each
  definition moves to ``components/schemas`` and its references follow, so every
  ``$ref`` in the document resolves;
* a schema whose class was renamed keeps its published name (:data:`PUBLISHED_NAMES`),
  so a client generated from the document keeps its types.
"""

from __future__ import annotations

from typing import Any

from app.edge.rate_limit import WRITE_METHODS as HTTP_WRITE_METHODS
from app.edge.rate_limit import is_exempt
from app.errors import PROBLEM_JSON

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    }
}
WRITE_METHODS = frozenset(method.lower() for method in HTTP_WRITE_METHODS)
PUBLISHED_NAMES = {"TokenScope": "Scope"}
"""Class name -> the name (and title) ``components/schemas`` has always published."""
READ_ONLY_POSTS = frozenset(
    {"/api/apikeys/validate", "/api/apikeys/check_permission", "/api/check"}
)
DECISION_OPERATIONS = frozenset(
    {
        ("get", "/api/has_permission/{user}/{name}"),
        ("get", "/api/workflow/user/{user}/can_run/{workflow}"),
        ("post", "/api/check"),
    }
)
WRITE_REVISION = {
    "Auth-Revision": {
        "description": "The tenant's revision after this write (unchanged when the write "
        "changed nothing). Send it as `Auth-Min-Revision` to read your own write.",
        "schema": {"type": "integer", "minimum": 0},
    }
}
DECISION_REVISION = {
    "Auth-Revision": {
        "description": "The tenant revision the answer was computed at, when it was "
        "answered from the in-memory snapshot (absent when answered from the database).",
        "schema": {"type": "integer", "minimum": 0},
    }
}
MIN_REVISION_PARAMETER = {
    "name": "Auth-Min-Revision",
    "in": "header",
    "required": False,
    "description": "Answer from a state at least this new: an `Auth-Revision` a write "
    "answered (read your own writes in `minimize_latency`; `strict` always answers from "
    "the newest state). A decimal integer 0..2^63-1; anything else answers 400.",
    "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
}
_DEFS_PREFIX = "#/$defs/"
_COMPONENTS_PREFIX = "#/components/schemas/"


def _problem(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": dict(PROBLEM_REF)}},
    }
    if retry_after:
        response["headers"] = dict(RETRY_AFTER)
    return response


TOO_LARGE = _problem("Request body larger than AUTH_MAX_BODY_BYTES")
RATE_LIMITED = _problem("Rate limit spent (the body's `limit` names the budget)", retry_after=True)
UNAVAILABLE = _problem("The database is unreachable, hung or full", retry_after=True)


def _hoist_defs(node: Any, components: dict[str, Any]) -> Any:
    """``node`` without local ``$defs``: they move to ``components`` and every
    ``#/$defs/X`` reference (``$ref``, discriminator mapping) becomes
    ``#/components/schemas/X``."""
    if isinstance(node, list):
        return [_hoist_defs(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    local = node.get("$defs")
    if isinstance(local, dict):
        for name, definition in local.items():
            components.setdefault(name, _hoist_defs(definition, components))
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$defs":
            continue
        if isinstance(value, str) and value.startswith(_DEFS_PREFIX):  # $ref, mapping
            result[key] = _COMPONENTS_PREFIX + value.removeprefix(_DEFS_PREFIX)
        else:
            result[key] = _hoist_defs(value, components)
    return result


def form_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (an object's JSON Schema) as a form body's: every property's ``null``
    alternative dropped (a form field is a string or absent, never null), and unknown
    fields allowed (a form's unrecognised parameters are ignored, RFC 6749 section 3.2)."""
    properties: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf")
        if isinstance(options, list) and {"type": "null"} in options:
            kept = [option for option in options if option != {"type": "null"}]
            rest = {key: value for key, value in prop.items() if key != "anyOf"}
            prop = {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}
        properties[name] = prop
    finished = {**schema, "properties": properties}
    finished.pop("additionalProperties", None)
    return finished


def finish_schema(schema: dict[str, Any], *, rate_limited: bool) -> dict[str, Any]:
    """Apply the rules of the module docstring to a generated schema, in place."""
    components: dict[str, Any] = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for path, operations in schema.get("paths", {}).items():
        for method in HTTP_METHODS:
            operation = operations.get(method)
            if operation is None:
                continue
            responses: dict[str, Any] = _hoist_defs(operation.get("responses", {}), components)
            operation["responses"] = responses
            responses.pop("422", None)
            if "requestBody" in operation:
                operation["requestBody"] = _hoist_defs(operation["requestBody"], components)
                responses.setdefault("413", TOO_LARGE)
            if not path.startswith("/api/"):
                continue
            if rate_limited and not is_exempt(path):
                responses.setdefault("429", RATE_LIMITED)
            responses.setdefault("503", UNAVAILABLE)
            _document_revisions(operation, method, path)
    _publish_names(schema, components)
    return schema


def _publish_names(schema: dict[str, Any], components: dict[str, Any]) -> None:
    renamed = {
        _COMPONENTS_PREFIX + name: _COMPONENTS_PREFIX + published
        for name, published in PUBLISHED_NAMES.items()
        if name in components
    }
    if not renamed:
        return
    for name, published in PUBLISHED_NAMES.items():
        if name in components:
            components[published] = {**components.pop(name), "title": published}
    _rename_refs(schema, renamed)


def _rename_refs(node: Any, renamed: dict[str, str]) -> None:
    if isinstance(node, list):
        for item in node:
            _rename_refs(item, renamed)
    elif isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref in renamed:
            node["$ref"] = renamed[ref]
        for value in node.values():
            _rename_refs(value, renamed)


def _document_revisions(operation: dict[str, Any], method: str, path: str) -> None:
    ok = operation.get("responses", {}).get("200")
    if ok is None:
        return
    if (method, path) in DECISION_OPERATIONS:
        ok.setdefault("headers", {}).update(DECISION_REVISION)
        operation.setdefault("parameters", []).append(dict(MIN_REVISION_PARAMETER))
    elif (
        method in WRITE_METHODS
        and not path.startswith("/api/token")
        and path not in READ_ONLY_POSTS
    ):
        ok.setdefault("headers", {}).update(WRITE_REVISION)
