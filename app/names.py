"""The naming rules of the contract (section 3), in one place.

Each kind of name has one pattern. Path parameters use the Annotated aliases of
:mod:`app.name_params` (``UserName``, ``RoleName``...), so
FastAPI validates them before a handler runs (a bad name is a 400 and nothing is read
or written) and ``/openapi.json`` documents the same pattern; JSON bodies use the
``...Field`` aliases below. :func:`sanitize_input` applies the same rules to names
that arrive any other way (CLI, Python API). This module does not import FastAPI, so
that operator commands load without the web stack.

Names are case-sensitive and ASCII-only. There is no "SQL keyword" filter: every
query is parameterised, and ``delete`` or ``select`` are legitimate permission names.
Markup cannot pass any pattern (``<``, ``>``, quotes and ``/`` are never allowed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field


class NameKind(StrEnum):
    USER = "user"
    ROLE = "role"
    PERMISSION = "permission"
    WORKFLOW = "workflow"
    LABEL = "label"


@dataclass(frozen=True)
class NameRule:
    pattern: str
    max_length: int
    description: str

    @property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern)


RULES: dict[NameKind, NameRule] = {
    NameKind.USER: NameRule(
        r"^[A-Za-z0-9_.@+|:\-]{1,64}$", 64, "1-64 letters, digits or _ - . @ + | :"
    ),
    NameKind.ROLE: NameRule(r"^[A-Za-z0-9_\-]{1,64}$", 64, "1-64 letters, digits, _ or -"),
    NameKind.PERMISSION: NameRule(r"^[A-Za-z0-9_\-]{1,128}$", 128, "1-128 letters, digits, _ or -"),
    NameKind.WORKFLOW: NameRule(r"^[A-Za-z0-9_\-]{1,128}$", 128, "1-128 letters, digits, _ or -"),
    NameKind.LABEL: NameRule(
        r"^[A-Za-z0-9 _.\-]{1,64}$", 64, "1-64 letters, digits, spaces or _ . -"
    ),
}

# Path parameter name -> the kind of name it carries.
PATH_PARAMETERS: dict[str, NameKind] = {
    "user": NameKind.USER,
    "role": NameKind.ROLE,
    "name": NameKind.PERMISSION,
    "workflow": NameKind.WORKFLOW,
}


class InvalidNameError(ValueError):
    """Raised by :func:`sanitize_input` for a name that breaks its rule."""


def is_valid(kind: NameKind, value: str) -> bool:
    return RULES[kind].regex.fullmatch(value) is not None


def sanitize_input(value: str, kind: NameKind | str = NameKind.ROLE) -> str:
    """Return ``value`` unchanged when it obeys the rule for ``kind``; raise otherwise.

    Validation, not rewriting: a name is accepted exactly as given or refused, so two
    different inputs can never collapse into the same stored name.
    """
    kind = NameKind(kind)
    if not isinstance(value, str) or not is_valid(kind, value):
        raise InvalidNameError(f"invalid {kind.value} name: must be {RULES[kind].description}")
    return value


def describe_invalid_parameter(parameter: str) -> str | None:
    """The 400 message for a path parameter that failed its rule, if it is a name."""
    if parameter == "key_id":
        return "Invalid key id: must be a UUID4."
    kind = PATH_PARAMETERS.get(parameter)
    if kind is None:
        return None
    return f"Invalid {kind.value} name: must be {RULES[kind].description}."


def constraints(kind: NameKind, description: str) -> dict[str, Any]:
    """The pattern, lengths, description and example of a name of ``kind``, as keyword
    arguments of a pydantic ``Field`` or a FastAPI ``Path``."""
    rule = RULES[kind]
    return {
        "pattern": rule.pattern,
        "min_length": 1,
        "max_length": rule.max_length,
        "description": f"{description} ({rule.description}).",
        "examples": [_EXAMPLES[kind]],
    }


def _field(kind: NameKind, description: str) -> object:
    """The rule for a name inside a JSON body."""
    return Field(**constraints(kind, description))


_EXAMPLES = {
    NameKind.USER: "alice@example.com",
    NameKind.ROLE: "editors",
    NameKind.PERMISSION: "publish",
    NameKind.WORKFLOW: "publish",
    NameKind.LABEL: "ci deploy",
}

UserNameField = Annotated[str, _field(NameKind.USER, "User identifier")]
PermissionNameField = Annotated[str, _field(NameKind.PERMISSION, "Permission name")]

UUID4_PATTERN = (
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$"
)
