"""Decisions from memory: who is asking and may user U do P, never from a stale state.

:class:`Decisions` is built once by the lifespan. For each request with a credential
the edge asks it for a :class:`Passport` (:meth:`Decisions.for_client_key`,
:meth:`Decisions.for_token`): one freshness probe (:mod:`app.decisions.probe`) names
the tenant and its stored revision. When the cached snapshot of that tenant carries
exactly that revision, the passport holds the principal and the snapshot, and the
request is served without a database session. Otherwise the passport names the tenant
(for rate limiting) and, for a client key or a token the database path would accept
(tenant not disabled, token's key generation current), the principal the probe's row
makes (so the routes need no second read of the tenant); a rebuild of
the snapshot starts in the background (one at a time per tenant), and the request
takes the ordinary database path, which is exact by construction. A probe that fails
also sends the request down that path, which answers 503 if the database is down:
nothing is ever answered from memory without a successful probe (in
``minimize_latency``, without a live listener instead).

``minimize_latency`` (PostgreSQL, :mod:`app.decisions.listener`): a client key whose
tenant snapshot is cached, at least ``Auth-Min-Revision`` when the request sends one,
and vouched for by the connected listener is answered without a probe; every other
request (unknown keys, tokens, an older snapshot, a listener that is down) takes the
probe path above, whose successful probes confirm snapshots for the listener.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.config import Settings
from app.db.engine import Database
from app.decisions.cache import SnapshotCache
from app.decisions.probe import RevisionProbe
from app.decisions.snapshot import TenantSnapshot, load_snapshot
from app.security.cipher import FieldCipher
from app.security.principal import Principal, TokenScope
from app.tokens.codec import TokenClaims

if TYPE_CHECKING:
    from app.decisions.listener import RevisionListener

logger = logging.getLogger("app.decisions")


@dataclass(frozen=True, slots=True)
class Passport:
    """The edge's answer to "who is asking": the tenant behind a credential that the
    store knows; the principal when its snapshot is current or when the probe's row
    makes it (a tenant not disabled, a token of its current key generation); the
    snapshot only when current."""

    tenant_id: int
    revision: int
    principal: Principal | None = None
    snapshot: TenantSnapshot | None = None


@dataclass(slots=True)
class DecisionStats:
    fresh: int = 0
    stale: int = 0
    probe_errors: int = 0
    rebuilds: int = 0
    rebuild_errors: int = 0
    unprobed: int = 0
    """Answered from a snapshot the listener vouched for, without a probe."""


class Decisions:
    def __init__(
        self,
        database: Database,
        probe: RevisionProbe,
        cipher: FieldCipher,
        settings: Settings,
    ) -> None:
        self.database = database
        self.probe = probe
        self.cipher = cipher
        self.strict_default = settings.strict_users_default
        self.cache = SnapshotCache(settings.decision_cache_entries)
        self.stats = DecisionStats()
        self._building: dict[int, asyncio.Task[None]] = {}
        self.listener: RevisionListener | None = None
        """Set in ``minimize_latency`` on PostgreSQL (:func:`start_listener`)."""
        self._oversized: dict[int, int] = {}
        """tenant id -> the revision at which its snapshot did not fit the budget"""

    # --- who is asking ---------------------------------------------------------------

    async def for_client_key(
        self, key_hash: str, min_revision: int | None = None, *, warm: bool = True
    ) -> Passport | None:
        """The passport of a client key stored as ``key_hash``; ``None`` when the store
        does not know the key (new, retired or mistyped) or could not be asked.
        ``min_revision`` (``Auth-Min-Revision``) only matters without a probe: a probe
        always reads the newest state. ``warm``: rebuild a stale snapshot (decision
        requests do; a write, which makes it stale again, has no use for it)."""
        unprobed = self._unprobed(key_hash, min_revision)
        if unprobed is not None:
            return unprobed
        token = None if self.listener is None else self.listener.token()
        try:
            found = await self.probe.by_key_hash(key_hash)
        except Exception:  # any driver error: the database path decides (and may 503)
            self.stats.probe_errors += 1
            logger.debug("revision probe failed", exc_info=True)
            return None
        if found is None:
            return None
        passport = self._passport(
            found.tenant_id, found.revision, TokenScope.ADMIN, key_hash, None, warm=warm
        )
        if passport.principal is None and not found.disabled:
            # Stale snapshot: the principal from the row the probe just read, as the
            # database path makes it (a disabled tenant is refused there, audited).
            principal = self._stored_principal(
                found.tenant_id,
                found.strict_users,
                found.key_generation,
                TokenScope.ADMIN,
                key_hash,
            )
            passport = dataclasses.replace(passport, principal=principal)
        return self._confirmed(passport, token)

    def _stored_principal(
        self,
        tenant_id: int,
        strict_users: bool | None,
        key_generation: int,
        scope: TokenScope,
        key_hash: str | None = None,
    ) -> Principal:
        """A principal from the stored tenant (strict identity: the tenant's own
        setting, else the server default); ``key_hash``: a client key's."""
        strict = self.strict_default if strict_users is None else strict_users
        return Principal(
            tenant_id=tenant_id,
            strict_users=strict,
            key_generation=key_generation,
            scope=scope,
            key_hash=key_hash,
        )

    def _unprobed(self, key_hash: str, min_revision: int | None) -> Passport | None:
        """``minimize_latency``: the passport from the cached snapshot of the tenant
        whose key hashes to ``key_hash``, when the listener vouches that no newer
        revision exists; ``None``: probe as in ``strict``."""
        if self.listener is None:
            return None
        snapshot = self.cache.by_key_hash(key_hash)
        if (
            snapshot is None
            or (min_revision is not None and snapshot.revision < min_revision)
            or not self.listener.vouches(snapshot.tenant_id, snapshot.revision)
        ):
            return None
        passport = self._passport(
            snapshot.tenant_id, snapshot.revision, TokenScope.ADMIN, key_hash, None
        )
        if passport.snapshot is None:
            return None  # disabled: the probe path and the database refuse it
        self.stats.unprobed += 1
        return passport

    def _confirmed(self, passport: Passport, token: int | None) -> Passport:
        """A probe that found the cached snapshot current confirms it to the listener
        (``token``: the listener's epoch taken before the probe)."""
        if self.listener is not None and passport.snapshot is not None:
            self.listener.confirm(passport.tenant_id, passport.revision, token)
        return passport

    async def for_token(self, claims: TokenClaims, *, warm: bool = True) -> Passport | None:
        """The passport of a verified access token whose family is live (always probed:
        revoking a token family bumps no revision)."""
        token = None if self.listener is None else self.listener.token()
        try:
            family = await self.probe.family(claims.family_id, claims.tenant_id)
        except Exception:  # any driver error: the database path decides (and may 503)
            self.stats.probe_errors += 1
            logger.debug("revision probe failed", exc_info=True)
            return None
        if family is None or family.revoked or family.key_generation != claims.key_generation:
            return None
        try:
            scope = TokenScope(claims.scope)
        except ValueError:
            return None
        passport = self._passport(
            claims.tenant_id, family.revision, scope, None, claims.key_generation, warm=warm
        )
        if (
            passport.principal is None
            and not family.disabled
            and family.tenant_key_generation == claims.key_generation
        ):
            # Stale snapshot: the principal the database path makes from the same row
            # (anything else it refuses there, audited).
            passport = dataclasses.replace(
                passport,
                principal=self._stored_principal(
                    claims.tenant_id, family.strict_users, family.tenant_key_generation, scope
                ),
            )
        return self._confirmed(passport, token)

    def _passport(
        self,
        tenant_id: int,
        revision: int,
        scope: TokenScope,
        key_hash: str | None,
        key_generation: int | None,
        *,
        warm: bool = True,
    ) -> Passport:
        snapshot = self.cache.get(tenant_id)
        if snapshot is None or snapshot.revision != revision:
            self.stats.stale += 1
            # A tenant too large for the whole budget at this very revision would be
            # read in full again on every request only to be dropped: rebuild it once
            # its revision moves (it may have shrunk), never per request.
            if warm and self._oversized.get(tenant_id) != revision:
                self._rebuild(tenant_id)
            return Passport(tenant_id, revision)
        if snapshot.disabled or (
            key_generation is not None and key_generation != snapshot.key_generation
        ):
            return Passport(tenant_id, revision)  # the database path refuses it, audited
        self.stats.fresh += 1
        principal = Principal(
            tenant_id=tenant_id,
            strict_users=snapshot.strict_users,
            key_generation=snapshot.key_generation,
            scope=scope,
            key_hash=key_hash,
        )
        return Passport(tenant_id, revision, principal, snapshot)

    # --- may U do P ------------------------------------------------------------------

    def decide(
        self, snapshot: TenantSnapshot, user: str, permission: str
    ) -> tuple[bool, str | None]:
        """``(allowed, reason)`` from a current snapshot, exactly as the database
        path answers (:meth:`app.rbac.service.RbacService.decide`)."""
        tenant_id = snapshot.tenant_id
        return snapshot.decide(
            self.cipher.index(tenant_id, "user", user),
            self.cipher.index(tenant_id, "permission", permission),
            time.time(),
        )

    # --- snapshots -------------------------------------------------------------------

    def _rebuild(self, tenant_id: int) -> None:
        if tenant_id in self._building or self.cache.budget == 0:
            return
        task = asyncio.get_running_loop().create_task(self._build(tenant_id))
        self._building[tenant_id] = task
        task.add_done_callback(lambda _task: self._building.pop(tenant_id, None))

    def tracks(self, tenant_id: int) -> bool:
        """Whether the tenant is cached or being built (the listener records only those)."""
        return tenant_id in self.cache or tenant_id in self._building

    async def _build(self, tenant_id: int) -> None:
        token = None if self.listener is None else self.listener.token()
        try:
            # A plain session, not ``database.transaction()``: when a write commits
            # while the snapshot is read, load_snapshot rolls back and reads again in a
            # new transaction, which a ``session.begin()`` block refuses ("closed
            # transaction inside context manager"): every rebuild that raced a write
            # failed instead of retrying. Closing the session ends the read.
            async with self.database.session(write=False, tenant=tenant_id) as session:
                snapshot = await load_snapshot(session, tenant_id, self.strict_default)
        except Exception:  # the database path keeps answering; the next miss retries
            self.stats.rebuild_errors += 1
            logger.warning("decision snapshot rebuild failed", extra={"tenant": tenant_id})
            return
        if snapshot is not None:
            current = self.cache.get(snapshot.tenant_id)
            if current is None or current.revision < snapshot.revision:
                if self.cache.put(snapshot):
                    self._oversized.pop(tenant_id, None)
                else:
                    self._oversized[tenant_id] = snapshot.revision
            cached = self.cache.get(tenant_id)
            if (
                self.listener is not None
                and cached is not None
                and cached.revision == snapshot.revision
            ):
                # read after ``token`` was taken: confirms the tenant, like a probe
                self.listener.confirm(tenant_id, snapshot.revision, token)
            self.stats.rebuilds += 1

    async def settle(self) -> None:
        """Wait for the rebuilds under way (tests and benchmarks warm the cache)."""
        while self._building:
            await asyncio.gather(*self._building.values(), return_exceptions=True)

    async def close(self) -> None:
        if self.listener is not None:
            await self.listener.close()
        for task in list(self._building.values()):
            task.cancel()
        await asyncio.gather(*self._building.values(), return_exceptions=True)
        await self.probe.close()
