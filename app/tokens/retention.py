"""Pruning the token state that can no longer matter (``auth-server tokens prune``).

* ``refresh_tokens`` whose ``expires_at`` (plus ``AUTH_JWT_LEEWAY_SECONDS``) has
  passed: such a token fails verification before its row is ever read, spent or not,
  so replay detection loses nothing.
* ``token_families`` left without any refresh token by that: every token of the
  family has expired (an access token never outlives the refresh token issued with
  it, since the access lifetime is at most one day and the refresh lifetime at least
  one).
* ``retired_client_keys`` retired before a cutoff the operator chooses, only when
  asked: a pruned retired key is no longer refused with 401 but, under open
  registration, opens a new, empty tenant (it never reaches its old tenant's data).

Each table is pruned in one short write transaction, on the
:data:`~app.db.tenant_guard.TOKEN_RETENTION` operator path (every tenant's rows);
running it while the service serves is safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select

from app.db.engine import Database
from app.db.tenant_guard import TOKEN_RETENTION
from app.models import RefreshToken, RetiredClientKey, TokenFamily


@dataclass(frozen=True, slots=True)
class PrunedTokens:
    refresh_tokens: int
    token_families: int
    retired_client_keys: int


async def prune_token_state(
    database: Database,
    now: datetime,
    *,
    leeway: timedelta = timedelta(0),
    retired_before: datetime | None = None,
) -> PrunedTokens:
    """Delete what the module docstring lists; rows removed per table."""
    expired = now - leeway
    async with database.transaction(every_tenant=TOKEN_RETENTION) as session:
        tokens = await session.execute(
            delete(RefreshToken).where(RefreshToken.expires_at < expired)
        )
    async with database.transaction(every_tenant=TOKEN_RETENTION) as session:
        has_token = exists(select(RefreshToken.jti).where(RefreshToken.family_id == TokenFamily.id))
        families = await session.execute(
            delete(TokenFamily).where(TokenFamily.created_at < expired, ~has_token)
        )
    retired = 0
    if retired_before is not None:
        async with database.transaction(every_tenant=TOKEN_RETENTION) as session:
            result = await session.execute(
                delete(RetiredClientKey).where(RetiredClientKey.created_at < retired_before)
            )
            retired = int(getattr(result, "rowcount", 0))
    return PrunedTokens(
        refresh_tokens=int(getattr(tokens, "rowcount", 0)),
        token_families=int(getattr(families, "rowcount", 0)),
        retired_client_keys=retired,
    )
