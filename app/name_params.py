"""The naming rules of :mod:`app.names` as path parameters of the routes.

``Annotated`` aliases carrying a FastAPI ``Path``: FastAPI validates the parameter
against the name's rule before a handler runs (a bad name is a 400 and nothing is
read or written), and ``/openapi.json`` documents the same pattern, lengths and
example. Kept apart from :mod:`app.names` because they need FastAPI, which operator
commands do not import.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from app.names import UUID4_PATTERN, NameKind, constraints


def _path(kind: NameKind, description: str) -> object:
    """A name in a path parameter."""
    return Path(**constraints(kind, description))


UserName = Annotated[str, _path(NameKind.USER, "User identifier")]
RoleName = Annotated[str, _path(NameKind.ROLE, "Role name")]
PermissionName = Annotated[str, _path(NameKind.PERMISSION, "Permission name")]
WorkflowName = Annotated[str, _path(NameKind.WORKFLOW, "Workflow name (a permission name)")]
KeyId = Annotated[
    str,
    Path(
        pattern=UUID4_PATTERN,
        description="The key's public id (a UUID4).",
        examples=["0f8fad5b-d9cb-469f-a165-70867728950e"],
    ),
]
