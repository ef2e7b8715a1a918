"""Signing and verifying JWTs with python-jose. No I/O.

python-jose is imported when a token is first signed or verified: every operator
command builds a codec (it is part of :class:`~app.state.AppState`), none uses it.

Verification contract (:meth:`TokenCodec.verify`):

* the algorithm is pinned (``AUTH_JWT_ALGORITHM``); the token's ``alg`` header is never
  trusted: ``none``, RS*/ES* (HS/RS confusion) and any other HS variant are refused;
* the ``kid`` header selects the secret (current or a previous one); unknown: refused;
* ``exp``, ``iat``, ``nbf``, ``iss``, ``aud``, ``sub``, ``jti`` are required and
  checked, with ``AUTH_JWT_LEEWAY_SECONDS`` of clock skew;
* ``typ`` must be the expected token type, so a refresh token is never an access token;
* times a datetime cannot hold (an ``exp`` of 1e20 or 1e999) are refused like any
  other bad claim, never raised as an unexpected error.

Failures raise :class:`TokenRejected` whose ``expired`` flag separates expiry from
every other failure (they are counted apart).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from app.config import Settings
from app.security.secrets import ServerSecrets
from app.utc import utcnow

REQUIRED_CLAIMS = ("exp", "iat", "nbf", "iss", "aud", "sub", "jti")


class TokenType(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


class TokenRejected(Exception):
    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True, slots=True)
class TokenClaims:
    jti: str
    token_type: TokenType
    tenant_id: int
    family_id: str
    key_generation: int
    scope: str
    expires_at: datetime


class TokenCodec:
    def __init__(self, settings: Settings, secrets: ServerSecrets) -> None:
        self._algorithm = settings.jwt_algorithm
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._leeway = settings.jwt_leeway_seconds
        self._signing = secrets.jwt_signing
        self._verification = secrets.jwt_verification

    def encode(
        self,
        *,
        token_type: TokenType,
        tenant_id: int,
        family_id: str,
        key_generation: int,
        scope: str,
        lifetime: timedelta,
        now: datetime | None = None,
    ) -> tuple[str, TokenClaims]:
        issued = (now or utcnow()).replace(microsecond=0)
        claims = TokenClaims(
            jti=str(uuid.uuid4()),
            token_type=token_type,
            tenant_id=tenant_id,
            family_id=family_id,
            key_generation=key_generation,
            scope=scope,
            expires_at=issued + lifetime,
        )
        payload: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": f"tenant:{tenant_id}",
            "jti": claims.jti,
            "iat": int(issued.timestamp()),
            "nbf": int(issued.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
            "typ": token_type.value,
            "scope": scope,
            "tid": tenant_id,
            "fam": family_id,
            "gen": key_generation,
        }
        from jose import jwt

        token = jwt.encode(
            payload,
            self._signing.secret,
            algorithm=self._algorithm,
            headers={"kid": self._signing.kid},
        )
        return token, claims

    def verify(self, token: str, expected: TokenType) -> TokenClaims:
        from jose import ExpiredSignatureError, JWTError, jwt

        try:
            header = jwt.get_unverified_header(token)
        except JWTError as exc:
            raise TokenRejected("malformed token") from exc
        if header.get("alg") != self._algorithm:
            raise TokenRejected("unexpected signing algorithm")
        key = self._verification.get(str(header.get("kid")))
        if key is None:
            raise TokenRejected("unknown signing key")
        try:
            payload = jwt.decode(
                token,
                key.secret,
                algorithms=[self._algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={f"require_{claim}": True for claim in REQUIRED_CLAIMS}
                | {"leeway": self._leeway},
            )
        except ExpiredSignatureError as exc:
            raise TokenRejected("token expired", expired=True) from exc
        except (JWTError, OverflowError) as exc:
            # OverflowError: python-jose's int() of an infinite exp/nbf/iat (1e999)
            raise TokenRejected("token failed verification") from exc
        return _claims(payload, expected)


def _claims(payload: dict[str, Any], expected: TokenType) -> TokenClaims:
    if payload.get("typ") != expected.value:
        raise TokenRejected(f"not an {expected.value} token")
    try:
        return TokenClaims(
            jti=str(payload["jti"]),
            token_type=expected,
            tenant_id=int(payload["tid"]),
            family_id=str(payload["fam"]),
            key_generation=int(payload["gen"]),
            scope=str(payload["scope"]),
            expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
        )
    except (KeyError, TypeError, ValueError, OverflowError, OSError) as exc:
        # OverflowError/OSError: an exp beyond what a datetime can hold
        raise TokenRejected("token claims incomplete") from exc
