"""Bodies of the token routes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.principal import Scope


class TokenRequest(BaseModel):
    """JSON body of ``POST /api/token`` (the client key travels in the header)."""

    model_config = ConfigDict(extra="forbid")
    scope: Scope | None = Field(
        default=None,
        examples=["check"],
        description="`check` (the default: decision and read routes) or `admin` (every "
        "route but key management, which needs the client key itself).",
    )


class ClientCredentialsForm(BaseModel):
    """RFC 6749 section 4.4 form (what Swagger UI's Authorize dialog sends)."""

    model_config = ConfigDict(extra="ignore")
    grant_type: Literal["client_credentials"]
    client_secret: str | None = None
    client_id: str | None = None
    scope: str | None = None


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=1, max_length=4096)


class RefreshForm(BaseModel):
    model_config = ConfigDict(extra="ignore")
    grant_type: Literal["refresh_token"]
    refresh_token: str = Field(min_length=1, max_length=4096)


class RevokeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=4096)
    token_type_hint: Literal["access_token", "refresh_token"] | None = None


class TokenResponse(BaseModel):
    """RFC 6749 section 5.1 token response."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(examples=[900])
    refresh_token: str
    scope: Scope = Field(examples=["admin"])
