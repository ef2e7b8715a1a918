"""Bodies of the token routes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.names import UUID4_PATTERN
from app.security.principal import TokenScope

JWT_PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"
# Empty is allowed: an empty ``scope`` (as a form may send) means the default, ``check``.
SCOPE_LIST_PATTERN = r"^((admin|check)( (admin|check))*)?$"
# Patterns passed as json_schema_extra are documented, not enforced by the model: a
# token or key of another shape is refused by the service as a bad credential (401).


class TokenRequest(BaseModel):
    """JSON body of ``POST /api/token`` (the client key travels in the header)."""

    model_config = ConfigDict(extra="forbid")
    scope: TokenScope | None = Field(
        default=None,
        examples=["check"],
        description="`check` (the default: decision and read routes) or `admin` (every "
        "route but key management, which needs the client key itself).",
    )


class ClientCredentialsForm(BaseModel):
    """RFC 6749 section 4.4 form (what Swagger UI's Authorize dialog sends)."""

    model_config = ConfigDict(extra="ignore")
    grant_type: Literal["client_credentials"]
    client_secret: str | None = Field(
        default=None,
        description="The client key (a UUID4); or send it as the Bearer header.",
        json_schema_extra={"pattern": UUID4_PATTERN},
    )
    client_id: str | None = Field(default=None, description="Ignored.")
    scope: str | None = Field(
        default=None,
        description="Space-separated: admin, check.",
        json_schema_extra={"pattern": SCOPE_LIST_PATTERN},
    )


def _refresh_token_field() -> Any:
    return Field(
        min_length=1,
        max_length=4096,
        description="A refresh token from /api/token (a JWT).",
        json_schema_extra={"pattern": JWT_PATTERN},
    )


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = _refresh_token_field()


class RefreshForm(BaseModel):
    model_config = ConfigDict(extra="ignore")
    grant_type: Literal["refresh_token"]
    refresh_token: str = _refresh_token_field()


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
    scope: TokenScope = Field(examples=["admin"])
