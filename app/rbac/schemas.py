"""Response bodies of the RBAC routes (the ``data`` or ``result`` members)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.names import PermissionNameField, UserNameField
from app.responses import NEXT_CURSOR


class RoleBody(BaseModel):
    """Optional body of ``POST /api/role/{role}``."""

    model_config = ConfigDict(extra="forbid")
    description: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        pattern=r"^[^\x00-\x1f\x7f]*$",
        examples=["Can publish articles"],
    )


class RoleOut(BaseModel):
    role: str = Field(examples=["editors"])
    description: str | None = Field(default=None, examples=[None])


class RoleRef(BaseModel):
    role: str = Field(examples=["editors"])


class MembershipOut(BaseModel):
    user: str = Field(examples=["alice@example.com"])
    role: str = Field(examples=["editors"])


class PermissionRef(BaseModel):
    name: str = Field(examples=["publish"])


class DeleteResult(BaseModel):
    result: bool = Field(description="False when the role did not exist.")


BLOCK_REASON = Field(
    default=None,
    description="Present only when strict user identity blocked the answer.",
    examples=["user_not_key_backed"],
)


class Decision(BaseModel):
    has_permission: bool = Field(examples=[True])
    reason: str | None = BLOCK_REASON


class CheckQuestion(BaseModel):
    """One question of a batch: may ``user`` do ``permission``?"""

    model_config = ConfigDict(extra="forbid")
    user: UserNameField
    permission: PermissionNameField


MAX_BATCH_CHECKS = 1000


class CheckRequest(BaseModel):
    """``POST /api/check``: 1 to 1,000 questions, answered in order."""

    model_config = ConfigDict(extra="forbid")
    checks: list[CheckQuestion] = Field(min_length=1, max_length=MAX_BATCH_CHECKS)


class CheckAnswer(BaseModel):
    user: str
    permission: str
    has_permission: bool
    reason: str | None = BLOCK_REASON


class CheckResults(BaseModel):
    count: int = Field(examples=[1])
    results: list[CheckAnswer]


class UserPermissions(BaseModel):
    count: int = Field(examples=[1])
    permissions: list[PermissionRef]
    reason: str | None = BLOCK_REASON
    next_cursor: str | None = NEXT_CURSOR


class WorkflowMembers(BaseModel):
    count: int = Field(examples=[1])
    members: list[MembershipOut]
    next_cursor: str | None = NEXT_CURSOR
