"""Issuing, refreshing, revoking and resolving tokens.

* ``issue``: a new family (one login) plus an access and a refresh token.
* ``refresh``: spends a refresh token exactly once (``UPDATE ... WHERE used_at IS
  NULL``: of two concurrent refreshes one wins); a spent token presented again
  revokes its whole family (replay detection) and is refused.
* ``revoke``: revokes the family of any of our tokens (access or refresh); unknown or
  invalid tokens are ignored (RFC 7009).
* ``resolve_access``: the principal behind an access token: signature and claims,
  then one query for the family, the tenant and its key generation. Rotating the
  client key bumps the generation, so every earlier token dies.

The tenant of every use case is known before its first query (the client key's
tenant, or the verified claims' ``tenant_id``): the session is bound to it
(:func:`app.db.tenant_guard.bind_tenant`), so a token family of another tenant is
never read, updated or revoked, and no query names the tenant by hand.

Refusals raise :class:`~app.errors.Unauthorized` with
``WWW-Authenticate: Bearer error="invalid_token"`` and a failure reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.trail import AuditTrail
from app.config import Settings
from app.db.tenant_guard import bind_tenant
from app.errors import INVALID_TOKEN_CHALLENGE, Unauthorized
from app.models import RefreshToken, Tenant, TokenFamily
from app.security.failures import FailureReason
from app.security.principal import Principal, TokenScope
from app.tokens.codec import TokenClaims, TokenCodec, TokenRejected, TokenType
from app.utc import utcnow


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    scope: TokenScope


def _refused(detail: str, reason: FailureReason, tenant_id: int | None = None) -> Unauthorized:
    """A 401 for a token; ``tenant_id`` (from a verified signature) files the
    refusal's audit row in that tenant's chain."""
    return Unauthorized(
        detail, reason=reason, challenge=INVALID_TOKEN_CHALLENGE, tenant_id=tenant_id
    )


def _rejected(exc: TokenRejected) -> Unauthorized:
    if exc.expired:
        return _refused("The token has expired.", FailureReason.EXPIRED_TOKEN)
    return _refused("The token is not valid.", FailureReason.INVALID_TOKEN)


class TokenService:
    """Token use cases. Issue, refresh, replay and revocation are audited (``TOKEN_*``)
    when an audit factory is given (resolving a presented token is not)."""

    def __init__(
        self,
        session: AsyncSession,
        codec: TokenCodec,
        settings: Settings,
        audit: Callable[[int], AuditTrail] | None = None,
    ) -> None:
        self.session = session
        self.codec = codec
        self.audit = audit
        self.access_lifetime = timedelta(minutes=settings.jwt_access_token_expire_minutes)
        self.refresh_lifetime = timedelta(days=settings.jwt_refresh_token_expire_days)
        self.strict_default = settings.strict_users_default

    async def _mint(self, family: TokenFamily) -> TokenPair:
        def encode(token_type: TokenType, lifetime: timedelta) -> tuple[str, TokenClaims]:
            return self.codec.encode(
                token_type=token_type,
                tenant_id=family.tenant_id,
                family_id=family.id,
                key_generation=family.key_generation,
                scope=family.scope,
                lifetime=lifetime,
            )

        access, _ = encode(TokenType.ACCESS, self.access_lifetime)
        refresh, claims = encode(TokenType.REFRESH, self.refresh_lifetime)
        self.session.add(
            RefreshToken(jti=claims.jti, family_id=family.id, expires_at=claims.expires_at)
        )
        await self.session.flush()
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            expires_in=int(self.access_lifetime.total_seconds()),
            scope=TokenScope(family.scope),
        )

    async def issue(self, tenant_id: int, key_generation: int, scope: TokenScope) -> TokenPair:
        bind_tenant(self.session, tenant_id)
        family = TokenFamily(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            scope=scope.value,
            key_generation=key_generation,
        )
        self.session.add(family)
        await self.session.flush()
        pair = await self._mint(family)
        await self._audit(tenant_id, "TOKEN_ISSUE", family.id, {"scope": scope.value})
        return pair

    async def _audit(
        self,
        tenant_id: int,
        action: str,
        family_id: str,
        details: dict[str, str],
        *,
        success: bool = True,
    ) -> None:
        if self.audit is not None:
            await self.audit(tenant_id).record(
                action, "token", f"family:{family_id[:8]}", success=success, details=details
            )

    async def _live_family(self, claims: TokenClaims) -> TokenFamily:
        bind_tenant(self.session, claims.tenant_id)
        family = await self.session.get(TokenFamily, claims.family_id)
        if family is None:
            raise _refused("The token is not valid.", FailureReason.INVALID_TOKEN, claims.tenant_id)
        if family.revoked_at is not None:
            raise _refused(
                "The token has been revoked.", FailureReason.REVOKED_TOKEN, claims.tenant_id
            )
        tenant = await self.session.get(Tenant, family.tenant_id)
        if (
            tenant is None
            or tenant.disabled_at is not None
            or tenant.key_generation != family.key_generation
        ):
            raise _refused(
                "The token has been revoked.", FailureReason.REVOKED_TOKEN, claims.tenant_id
            )
        return family

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Spend ``refresh_token`` and return a new pair of the same family."""
        try:
            claims = self.codec.verify(refresh_token, TokenType.REFRESH)
        except TokenRejected as exc:
            raise _rejected(exc) from exc
        family = await self._live_family(claims)
        now = utcnow()
        spent = await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.jti == claims.jti, RefreshToken.used_at.is_(None))
            .values(used_at=now)
        )
        if not getattr(spent, "rowcount", 0):
            await self.revoke_family(family.id)
            await self._audit(
                family.tenant_id,
                "TOKEN_REFRESH_REPLAY",
                family.id,
                {"result": "family revoked"},
                success=False,
            )
            raise ReplayedRefreshToken(family.tenant_id)
        pair = await self._mint(family)
        await self._audit(family.tenant_id, "TOKEN_REFRESH", family.id, {"scope": family.scope})
        return pair

    async def revoke_family(self, family_id: str) -> None:
        """Revoke the family, within the tenant the session is bound to."""
        await self.session.execute(
            update(TokenFamily)
            .where(TokenFamily.id == family_id, TokenFamily.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )

    async def revoke(self, token: str) -> None:
        """Revoke the family of an access or refresh token; ignore anything else."""
        for token_type in (TokenType.ACCESS, TokenType.REFRESH):
            try:
                claims = self.codec.verify(token, token_type)
            except TokenRejected:
                continue
            bind_tenant(self.session, claims.tenant_id)
            await self.revoke_family(claims.family_id)
            await self._audit(
                claims.tenant_id, "TOKEN_REVOKE", claims.family_id, {"presented": token_type.value}
            )
            return

    async def resolve_access(self, token: str, verified: TokenClaims | None = None) -> Principal:
        """The principal behind an access token. ``verified``: this token's claims as
        the same codec already verified them in this request (the rate limiter)."""
        if verified is not None and verified.token_type is TokenType.ACCESS:
            claims = verified
        else:
            try:
                claims = self.codec.verify(token, TokenType.ACCESS)
            except TokenRejected as exc:
                raise _rejected(exc) from exc
        bind_tenant(self.session, claims.tenant_id)
        row = (
            await self.session.execute(
                select(
                    TokenFamily.revoked_at,
                    TokenFamily.key_generation,
                    Tenant.key_generation,
                    Tenant.disabled_at,
                    Tenant.strict_users,
                )
                .join(Tenant, Tenant.id == TokenFamily.tenant_id)
                .where(TokenFamily.id == claims.family_id)
            )
        ).first()
        if row is None:
            raise _refused("The token is not valid.", FailureReason.INVALID_TOKEN, claims.tenant_id)
        revoked_at, family_generation, tenant_generation, disabled_at, strict = row
        if (
            revoked_at is not None
            or disabled_at is not None
            or family_generation != tenant_generation
            or claims.key_generation != tenant_generation
        ):
            raise _refused(
                "The token has been revoked.", FailureReason.REVOKED_TOKEN, claims.tenant_id
            )
        try:
            scope = TokenScope(claims.scope)
        except ValueError as exc:
            raise _refused(
                "The token is not valid.", FailureReason.INVALID_TOKEN, claims.tenant_id
            ) from exc
        return Principal(
            tenant_id=claims.tenant_id,
            strict_users=self.strict_default if strict is None else strict,
            key_generation=tenant_generation,
            scope=scope,
        )


class ReplayedRefreshToken(Exception):
    """A spent refresh token was presented again; its family is now revoked.

    Raised *after* the revocation was written: the caller must commit the
    transaction, then answer 401 (:func:`app.tokens.presented.refresh_presented`)."""

    def __init__(self, tenant_id: int) -> None:
        super().__init__("refresh token replayed")
        self.tenant_id = tenant_id
