"""Bodies of the per-user API-key routes. Unknown fields and wrong types are 400."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.names import RULES, NameKind
from app.responses import NEXT_CURSOR
from app.utc import RequestUtcDateTime, as_utc

# Naive datetimes in requests and from SQLite are UTC; answers always carry the offset.
UtcDateTime = Annotated[datetime, AfterValidator(as_utc)]
Label = Annotated[str, StringConstraints(pattern=RULES[NameKind.LABEL].pattern)]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class CreateKeyRequest(_Body):
    label: Label | None = Field(default=None, examples=["ci deploy"])
    expires_at: RequestUtcDateTime | None = Field(
        default=None,
        description="Future, at most 365 days away.",
        examples=["2027-01-31T00:00:00Z"],
    )


class UpdateKeyRequest(_Body):
    expires_at: RequestUtcDateTime = Field(
        description=(
            "In the future, at most 365 days away, and earlier than the key's current "
            "expiry (shorten only); otherwise 400. A revoked key answers 409."
        ),
        examples=["2027-01-31T00:00:00Z"],
    )


class ValidateKeyRequest(_Body):
    api_key: Secret


class CheckKeyPermissionRequest(_Body):
    api_key: Secret
    permission: Annotated[str, StringConstraints(pattern=RULES[NameKind.PERMISSION].pattern)]


class KeyInfo(BaseModel):
    key_id: str
    key_prefix: str = Field(examples=["rak_AbCdEfGh"])
    label: str | None
    is_active: bool
    created: UtcDateTime
    revoked_at: UtcDateTime | None
    expires_at: UtcDateTime | None
    last_used_at: UtcDateTime | None


class CreatedKey(BaseModel):
    api_key: str = Field(description="The secret. Shown once; only a hash is stored.")
    key_id: str
    user: str
    label: str | None
    key_prefix: str
    created: UtcDateTime
    expires_at: UtcDateTime | None


class KeyList(BaseModel):
    count: int
    keys: list[KeyInfo]
    next_cursor: str | None = NEXT_CURSOR


class RevokeResult(BaseModel):
    revoked: bool = True
    already_revoked: bool


class ValidKey(BaseModel):
    valid: Literal[True] = True
    user: str
    key_id: str
    label: str | None
    expires_at: UtcDateTime | None


class ValidKeyPermission(ValidKey):
    has_permission: bool


class InvalidKey(BaseModel):
    valid: Literal[False] = False
    reason: Literal["unknown_key", "revoked", "expired"]
