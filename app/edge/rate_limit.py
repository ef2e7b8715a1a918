"""Rate limiting: per-tenant budgets, a per-address budget for failed authentication.

Engine: slowapi's :class:`~slowapi.Limiter` builds the ``limits`` storage from
``AUTH_RATE_LIMIT_STORAGE_URI`` (``memory://`` per process, ``redis://...`` shared by
every worker and replica) and the fixed-window strategy. The gate
(:mod:`app.security.gate`) calls :meth:`RateLimits.check` once per request, after it
has authenticated the credential, so every refusal is problem+json and comes before
any route runs. Storage calls to a networked store run in a worker thread, so a slow
store never blocks the event loop.

Who is counted (the *identity*), never the raw credential:

* a credential whose tenant the store knows (client key or verified access token):
  the tenant, ``tenant:<id>``, so rotating the client key never buys a fresh budget;
* anything else (no, bad or retired credential, a key that opens a new tenant, public
  routes): the client address, ``ip:<address>`` (after trusted proxy headers).

Budgets, each a ``limits`` string such as ``600/minute``:

* ``AUTH_RATE_LIMIT_DECISIONS``: ``has_permission``, ``can_run`` and
  ``POST /api/check``; unset by default (not limited), so one tenant may use the
  service's whole decision capacity;
* ``AUTH_RATE_LIMIT_DEFAULT``: every other read of an identity (listings, settings,
  public routes, anything without a credential);
* ``AUTH_RATE_LIMIT_WRITE``: POST/PUT/PATCH/DELETE on ``/api`` (decisions aside);
* ``AUTH_RATE_LIMIT_ROLE_CREATE``: additionally, ``POST /api/role/{role}``;
* ``AUTH_RATE_LIMIT_AUTH_FAILURES``: per client address, every 401 answer consumes
  one; once spent, requests from that address whose credential the store does not
  know are refused until the window ends (valid credentials are never refused by it);
* ``AUTH_RATE_LIMIT_REGISTRATION``: new tenants opened per client address.

Refusals are 429 problem+json with ``Retry-After`` (seconds) and ``X-RateLimit-Limit``,
``X-RateLimit-Remaining`` (0) and ``X-RateLimit-Reset`` (Unix time of the window's
end). ``/ping``, ``/health``, ``/metrics`` and the documentation are never limited.

Storage failure (Redis down): the limiter fails *open*, for rate limiting only.
Requests pass unchecked, the outage is logged once when it starts and once when it
ends, and counted (:meth:`RateLimits.snapshot`). While down, the store is retried at
most every :data:`STORAGE_RETRY_SECONDS`. Authorization itself never depends on it.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from limits import RateLimitItem, parse
from limits.errors import StorageError
from slowapi import Limiter
from slowapi.util import get_remote_address
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.types import Scope

from app.config import Settings
from app.edge.context import rate_limit_address
from app.errors import AppError, problem_response

logger = logging.getLogger("app.edge.rate_limit")

T = TypeVar("T")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DECISION_METHODS = frozenset({"GET", "HEAD", "POST"})
EXEMPT_PATHS = frozenset(
    {"/ping", "/health", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)
EXEMPT_PREFIXES = ("/docs-static/",)
_ROLE_PATH = re.compile(r"/api/role/[^/]+")
_DECISION_PATH = re.compile(
    r"/api/(has_permission/[^/]+/[^/]+|workflow/user/[^/]+/can_run/[^/]+|check)"
)
STORAGE_RETRY_SECONDS = 5.0
STORAGE_TIMEOUT_SECONDS = 0.5
_REDIS_SCHEMES = ("redis://", "rediss://", "redis+unix://", "redis+sentinel://", "redis+cluster://")


class LimitName(StrEnum):
    DEFAULT = "default"
    DECISIONS = "decisions"
    WRITE = "write"
    ROLE_CREATE = "role_create"
    FAILED_AUTHENTICATIONS = "auth_failures"
    REGISTRATION = "registration"


@dataclass(frozen=True, slots=True)
class Refusal:
    name: LimitName
    limit: RateLimitItem
    reset_at: float


def is_decision_request(method: str, path: str) -> bool:
    """``has_permission``, ``can_run`` or ``POST /api/check``."""
    return method in DECISION_METHODS and _DECISION_PATH.fullmatch(path) is not None


def is_exempt(path: str) -> bool:
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)


def _storage_options(uri: str, key_prefix: str) -> dict[str, Any]:
    options: dict[str, Any] = {"wrap_exceptions": True}
    if uri.startswith(_REDIS_SCHEMES):
        options.update(
            key_prefix=key_prefix,
            socket_connect_timeout=STORAGE_TIMEOUT_SECONDS,
            socket_timeout=STORAGE_TIMEOUT_SECONDS,
        )
    return options


class RateLimits:
    """The configured budgets, the shared counters and the storage's health."""

    def __init__(self, settings: Settings) -> None:
        uri = settings.rate_limit_storage_uri.get_secret_value()
        # slowapi's Limiter only builds the storage and the strategy here. Its readers of
        # ``app.state.limiter`` (SlowAPIMiddleware, the ``@limiter.limit`` decorators, the
        # RateLimitExceeded handler) are not used, so nothing sets ``app.state.limiter``.
        self.limiter = Limiter(
            key_func=get_remote_address,
            storage_uri=uri,
            storage_options=_storage_options(uri, settings.rate_limit_key_prefix),
            strategy="fixed-window",
        )
        self.default = parse(settings.rate_limit_default)
        self.decisions = (
            None if settings.rate_limit_decisions is None else parse(settings.rate_limit_decisions)
        )
        self.write = parse(settings.rate_limit_write)
        self.role_create = parse(settings.rate_limit_role_create)
        self.auth_failures = parse(settings.rate_limit_auth_failures)
        self.registration = parse(settings.rate_limit_registration)
        self._offload = not uri.startswith("memory://")
        self._down_since: float | None = None
        self._retry_at = 0.0
        self.refused: Counter[LimitName] = Counter()
        self.unchecked = 0
        self.storage_errors = 0

    # --- the checks (synchronous: they run inline or in a worker thread) ----------

    def _applicable(self, method: str, path: str) -> list[tuple[LimitName, RateLimitItem]]:
        if is_decision_request(method, path):
            return [] if self.decisions is None else [(LimitName.DECISIONS, self.decisions)]
        if method in WRITE_METHODS and path.startswith("/api/"):
            limits = [(LimitName.WRITE, self.write)]
            if method == "POST" and _ROLE_PATH.fullmatch(path):
                limits.append((LimitName.ROLE_CREATE, self.role_create))
            return limits
        return [(LimitName.DEFAULT, self.default)]

    def _check(
        self, identity: str, address: str, method: str, path: str, known: bool
    ) -> Refusal | None:
        strategy = self.limiter.limiter
        failures = (LimitName.FAILED_AUTHENTICATIONS.value, address)
        if not known and not strategy.test(self.auth_failures, *failures):
            reset_at = strategy.get_window_stats(self.auth_failures, *failures).reset_time
            return Refusal(LimitName.FAILED_AUTHENTICATIONS, self.auth_failures, reset_at)
        for name, item in self._applicable(method, path):
            if not strategy.hit(item, name.value, identity):
                reset_at = strategy.get_window_stats(item, name.value, identity).reset_time
                return Refusal(name, item, reset_at)
        return None

    def _hit_registration(self, address: str) -> Refusal | None:
        strategy = self.limiter.limiter
        key = (LimitName.REGISTRATION.value, address)
        if strategy.hit(self.registration, *key):
            return None
        reset_at = strategy.get_window_stats(self.registration, *key).reset_time
        return Refusal(LimitName.REGISTRATION, self.registration, reset_at)

    def _spend_auth_failure(self, address: str) -> None:
        self.limiter.limiter.hit(
            self.auth_failures, LimitName.FAILED_AUTHENTICATIONS.value, address
        )

    # --- fail-open wrapper ---------------------------------------------------------

    async def _guarded(self, call: Callable[..., T], *args: Any) -> tuple[bool, T | None]:
        """``(True, result)``, or ``(False, None)`` when the store failed or is
        known to be down (the caller then fails open)."""
        now = time.monotonic()
        if self._down_since is not None and now < self._retry_at:
            return False, None
        try:
            result = await run_in_threadpool(call, *args) if self._offload else call(*args)
        except (StorageError, OSError) as exc:
            self.storage_errors += 1
            self._retry_at = time.monotonic() + STORAGE_RETRY_SECONDS
            if self._down_since is None:
                self._down_since = now
                logger.warning(
                    "rate limit storage unreachable: requests pass unchecked until it answers",
                    extra={"event": "rate_limit_storage_down", "error": str(exc)},
                )
            return False, None
        if self._down_since is not None:
            logger.info(
                "rate limit storage answers again: limits apply",
                extra={
                    "event": "rate_limit_storage_recovered",
                    "outage_seconds": round(now - self._down_since, 3),
                },
            )
            self._down_since = None
        return True, result

    async def check(
        self, identity: str, address: str, method: str, path: str, *, known: bool = False
    ) -> Refusal | None:
        """The refusal for this request, or ``None`` (also when the store is down).
        ``known``: the credential names a tenant the store knows; the address's
        failed-authentication budget never refuses it."""
        if known and not self._applicable(method, path):
            return None  # nothing to count: no store round trip
        checked, refusal = await self._guarded(self._check, identity, address, method, path, known)
        if not checked:
            self.unchecked += 1
        elif refusal is not None:
            self.refused[refusal.name] += 1
        return refusal

    async def check_registration(self, address: str) -> Refusal | None:
        """Spend one of ``address``'s new-tenant budget; the refusal when it is spent
        (``None`` also when the store is down: fail open, like every limit)."""
        checked, refusal = await self._guarded(self._hit_registration, address)
        if checked and refusal is not None:
            self.refused[refusal.name] += 1
        return refusal  # an unchecked request was already counted by ``check``

    async def spend_auth_failure(self, address: str) -> None:
        """Spend one of ``address``'s failed-authentication budget (a 401 answer)."""
        await self._guarded(self._spend_auth_failure, address)

    @property
    def storage_available(self) -> bool:
        return self._down_since is None

    def snapshot(self) -> dict[str, Any]:
        return {
            "refused": {name.value: self.refused[name] for name in LimitName},
            "unchecked": self.unchecked,
            "storage_errors": self.storage_errors,
            "storage_available": self.storage_available,
        }


_REFUSAL_TEXT = {
    LimitName.FAILED_AUTHENTICATIONS: "Too many failed authentications from this address",
    LimitName.REGISTRATION: "Too many new tenants opened from this address",
}


def _refusal_parts(refusal: Refusal, now: float | None) -> tuple[str, dict[str, str]]:
    now = time.time() if now is None else now
    retry_after = max(1, math.ceil(refusal.reset_at - now))
    what = _REFUSAL_TEXT.get(refusal.name, "Rate limit exceeded")
    headers = {
        "Retry-After": str(retry_after),
        "X-RateLimit-Limit": str(refusal.limit.amount),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(math.ceil(refusal.reset_at)),
    }
    return f"{what} ({refusal.limit}); retry after {retry_after} seconds.", headers


def too_many_requests(refusal: Refusal, now: float | None = None) -> JSONResponse:
    detail, headers = _refusal_parts(refusal, now)
    return problem_response(
        429, detail, slug="rate-limited", headers=headers, extra={"limit": refusal.name.value}
    )


class RateLimited(AppError):
    """A refusal raised from inside a request (the new-tenant budget)."""

    status = 429
    slug = "rate-limited"

    def __init__(self, refusal: Refusal) -> None:
        detail, headers = _refusal_parts(refusal, None)
        super().__init__(detail, headers=headers)
        self.extra = {"limit": refusal.name.value}


async def guard_registration(limits: RateLimits | None, scope: Scope) -> None:
    """Raise :class:`RateLimited` when this address has opened too many tenants
    (``limits`` ``None``: rate limiting is off)."""
    if limits is None:
        return
    refusal = await limits.check_registration(rate_limit_address(scope))
    if refusal is not None:
        raise RateLimited(refusal)
