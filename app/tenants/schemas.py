"""Bodies of the tenant routes: settings, rotation, recovery."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from app.names import UUID4_PATTERN

ROTATE_KEY_PATTERN = r"^rrk_[0-9A-Za-z]{43}$"


class TenantSettings(BaseModel):
    strict_users: bool = Field(examples=[True])


class UpdateSettingsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    strict_users: StrictBool


class MigratedCounts(BaseModel):
    """What the tenant owns under its new key (nothing was copied: the key moved)."""

    roles: int
    memberships: int
    permissions: int
    api_keys: int
    settings: int


class RotatedKey(BaseModel):
    new_key: str = Field(description="The new client key. Shown once.")
    migrated: MigratedCounts


class RotateKey(BaseModel):
    rotate_key: str = Field(description="Recovery secret (rrk_...). Store it offline.")


class RecoverRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # The patterns are documented, not enforced here: the service answers a rotate key
    # of another shape 401 (like any refused secret) and another new_client_key 400.
    rotate_key: str = Field(
        min_length=1,
        max_length=256,
        description="The rotate key issued by /api/keys/get_rotate_key (rrk_ + 43 base62).",
        json_schema_extra={"pattern": ROTATE_KEY_PATTERN},
    )
    new_client_key: str | None = Field(
        default=None,
        description="A UUID4 of your choosing that no tenant uses.",
        json_schema_extra={"pattern": UUID4_PATTERN},
    )


class Recovered(BaseModel):
    new_key: str = Field(
        description="The tenant's new client key. Shown once. The rotate key that "
        "recovered it is spent: ask for a fresh one with the new key."
    )
