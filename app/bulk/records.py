"""The bulk format: JSON lines of roles, grants and memberships, parsed into a plan.

One JSON object per line (``application/x-ndjson``; blank lines are skipped)::

    {"type": "role", "role": "editors", "description": "Can publish"}
    {"type": "grant", "role": "editors", "permission": "publish"}
    {"type": "membership", "user": "alice", "role": "editors"}

* Names obey the rules of :mod:`app.names` (the REST routes' path rules); a role's
  ``description`` obeys the rule of ``POST /api/role/{role}``'s body and may be
  omitted or ``null`` (an existing role's description is then kept). Unknown members
  are refused, so a misspelt field never passes silently.
* Order is free: a grant or membership may name a role defined later in the file, or
  one the tenant already has. Duplicates are harmless (the last description wins).
* Any broken line refuses the whole body: :class:`InvalidRecord` names the first one
  (1-based line number) and never echoes its content.

Parsing is pure CPU work (no I/O) meant to run in a worker thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from app.errors import BadRequest
from app.names import RULES, NameKind
from app.rbac.schemas import RoleBody

MEDIA_TYPE = "application/x-ndjson"
BULK_PATH = "/api/bulk"


def _name(kind: NameKind) -> Any:
    rule = RULES[kind]
    return Field(pattern=rule.pattern, min_length=1, max_length=rule.max_length)


class RoleRecord(BaseModel):
    """A role; ``description`` replaces the stored one when given."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["role"]
    role: Annotated[str, _name(NameKind.ROLE)]
    description: Annotated[str | None, RoleBody.model_fields["description"]] = None


class GrantRecord(BaseModel):
    """A permission held by a role."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["grant"]
    role: Annotated[str, _name(NameKind.ROLE)]
    permission: Annotated[str, _name(NameKind.PERMISSION)]


class MembershipRecord(BaseModel):
    """A user's membership of a role."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["membership"]
    user: Annotated[str, _name(NameKind.USER)]
    role: Annotated[str, _name(NameKind.ROLE)]


Record = Annotated[RoleRecord | GrantRecord | MembershipRecord, Field(discriminator="type")]
RECORD = TypeAdapter(Record)
TYPES = "role, grant or membership"
_FIELD_KINDS = {"user": NameKind.USER, "role": NameKind.ROLE, "permission": NameKind.PERMISSION}


class InvalidRecord(BadRequest):
    """A line of a bulk body that cannot be applied: 400 naming the line."""

    slug = "invalid-record"

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}; nothing was imported.")
        self.line = line
        self.extra = {"line": line}


@dataclass(slots=True)
class RecordCounts:
    """Records of each type in a body (each one is applied, idempotently)."""

    roles: int = 0
    grants: int = 0
    memberships: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"roles": self.roles, "grants": self.grants, "memberships": self.memberships}


@dataclass(slots=True)
class ImportPlan:
    """A parsed body: what to write, grouped by role, and where each name first appears.

    ``roles`` maps every role defined in the body to its description (``None``: keep
    the stored one). ``grants`` and ``memberships`` map a role to its permissions and
    users. ``referenced`` holds the first line naming each role a grant or membership
    names (a role the body does not define must exist in the tenant); ``user_lines``
    the first line of each user.
    """

    roles: dict[str, str | None] = field(default_factory=dict)
    grants: dict[str, list[str]] = field(default_factory=dict)
    memberships: dict[str, list[str]] = field(default_factory=dict)
    referenced: dict[str, int] = field(default_factory=dict)
    user_lines: dict[str, int] = field(default_factory=dict)
    counts: RecordCounts = field(default_factory=RecordCounts)

    @property
    def rows(self) -> int:
        """Grant and membership rows to write (the unit of progress)."""
        return self.counts.grants + self.counts.memberships

    def undefined_roles(self) -> dict[str, int]:
        """Roles named by grants or memberships but not defined here: first line of each."""
        return {role: line for role, line in self.referenced.items() if role not in self.roles}

    def add(self, record: RoleRecord | GrantRecord | MembershipRecord, line: int) -> None:
        if isinstance(record, RoleRecord):
            self.counts.roles += 1
            if record.description is not None or record.role not in self.roles:
                self.roles[record.role] = record.description
            return
        role = record.role
        if role not in self.referenced:
            self.referenced[role] = line
        if isinstance(record, GrantRecord):
            self.counts.grants += 1
            self.grants.setdefault(role, []).append(record.permission)
        else:
            self.counts.memberships += 1
            self.memberships.setdefault(role, []).append(record.user)
            self.user_lines.setdefault(record.user, line)


def describe(error: ValidationError) -> str:
    """One readable sentence for the first problem of a record (never its input)."""
    first = error.errors(include_input=False)[0]
    kind = first.get("type")
    location = [str(part) for part in first.get("loc", ())]
    if kind == "json_invalid":
        return "not valid JSON"
    if kind in {"union_tag_invalid", "union_tag_not_found"}:
        return f"type must be {TYPES}"
    if kind in {"model_attributes_type", "model_type", "dict_type"} or not location:
        return f"not a JSON object with a type ({TYPES})"
    where = location[-1]
    if kind == "extra_forbidden":
        return f"unknown member {where!r}"
    if kind == "missing":
        return f"member {where!r} is missing"
    name_kind = _FIELD_KINDS.get(where)
    if name_kind is not None:
        return f"invalid {name_kind.value} name: must be {RULES[name_kind].description}"
    if where == "description":
        return "description must be null or 1-500 characters without control characters"
    return f"{where}: {first.get('msg', 'invalid value')}"


def lines(body: bytes) -> Iterator[tuple[int, bytes]]:
    """``(line number, line)`` of each non-blank line."""
    start = 0
    number = 0
    size = len(body)
    while start < size:
        end = body.find(b"\n", start)
        if end < 0:
            end = size
        number += 1
        line = body[start:end]
        start = end + 1
        if line.strip():
            yield number, line


def parse(body: bytes) -> ImportPlan:
    """The plan of a JSON-lines body; :class:`InvalidRecord` for the first bad line."""
    plan = ImportPlan()
    validate = RECORD.validate_json
    for number, line in lines(body):
        try:
            record = validate(line)
        except ValidationError as exc:
            raise InvalidRecord(number, describe(exc)) from None
        plan.add(record, number)
    return plan


# Characters JSON may leave raw inside a string that line splitters other than "\n"
# (Python's str.splitlines, some log shippers) take for line ends: written as \u escapes,
# the same JSON, so that every reader sees one record per line.
_LINE_BREAKS = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def record_lines(records: list[dict[str, Any]]) -> bytes:
    """JSON lines of export records (compact, UTF-8), each ended by the one line break
    it holds: U+0085, U+2028 and U+2029 in values are written escaped."""
    import json

    return b"".join(
        json.dumps(item, ensure_ascii=False, separators=(",", ":"))
        .translate(_LINE_BREAKS)
        .encode("utf-8")
        + b"\n"
        for item in records
    )
