"""Bodies of the tenant routes: settings, rotation, recovery."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool


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
    rotate_key: str = Field(min_length=1, max_length=256)
    new_client_key: str | None = Field(
        default=None, description="A UUID4 of your choosing that no tenant uses."
    )


class Recovered(BaseModel):
    new_key: str = Field(
        description="The tenant's new client key. Shown once. The rotate key that "
        "recovered it is spent: ask for a fresh one with the new key."
    )
