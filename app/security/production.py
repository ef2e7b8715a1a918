"""Production readiness: the one place that decides whether ``AUTH_ENV=production``
may start.

:func:`check_production_readiness` runs in ``auth-server serve`` before the port is
bound and again in the application's lifespan (so a server started any other way is
held to the same rules). Outside production it does nothing. In production it
collects every problem and raises one :class:`ProductionReadinessError` listing them
all, each naming the setting and the fix:

* server secrets missing, weak, placeholders, repeated patterns, low in entropy, or
  the same value in two settings (:mod:`app.security.secrets`);
* ``AUTH_DEBUG=true``;
* ``AUTH_ALLOW_CORS=true`` with ``*``, ``null`` or a pattern such as ``http://*`` in
  ``AUTH_CORS_ORIGINS``;
* a wildcard in ``AUTH_FORWARDED_ALLOW_IPS`` (``*``, ``0.0.0.0/0``, ``::/0``);
* a SQLite database file (or its ``-wal``/``-shm`` companion) that group or others
  may read or write;
* a weak ``AUTH_METRICS_TOKEN``.

Advisories that do not stop the start (any host accepted, per-process rate limits with
several workers, unauthenticated ``/metrics``, rate limiting off, encryption off, CORS
origins over plain HTTP) are logged as warnings, one line each, every start.
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path

from app.config import Settings
from app.security.secrets import secret_problems, weakness

logger = logging.getLogger("app.security.production")

WILDCARD_NETWORKS = frozenset({"*", "0.0.0.0/0", "::/0"})


class ProductionReadinessError(RuntimeError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"refusing to start in production (AUTH_ENV=production):\n{lines}")


def _sqlite_problems(settings: Settings) -> list[str]:
    try:
        target = settings.database
    except ValueError:
        return []  # an incomplete database configuration fails on its own, with its message
    if not target.is_sqlite or not target.url.database or target.url.database == ":memory:":
        return []
    variable = "AUTH_DATABASE_URL" if settings.database_url is not None else "AUTH_SQLITE_PATH"
    database = Path(target.url.database)
    problems = []
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            problems.append(
                f"{variable}: {path} has mode {mode:04o}, so group or others can read the "
                f"database; restrict it with `chmod 600 {path}`"
            )
    return problems


def _cors_origin_problems(origins: list[str]) -> list[str]:
    problems = []
    if "null" in (origin.lower() for origin in origins):
        problems.append(
            "AUTH_CORS_ORIGINS contains 'null', the origin of sandboxed frames and local "
            "files, which any page can take on: remove it"
        )
    patterns = [origin for origin in origins if "*" in origin and origin != "*"]
    if patterns:
        problems.append(
            f"AUTH_CORS_ORIGINS contains {patterns[0]!r}: origins are matched exactly, "
            "never as patterns; list each origin, e.g. https://app.example.com"
        )
    return problems


def production_problems(settings: Settings) -> list[str]:
    """Every reason ``settings`` may not run in production (empty: ready)."""
    problems = secret_problems(settings)
    if settings.debug:
        problems.append(
            "AUTH_DEBUG=true logs SQL statements and internal detail: set AUTH_DEBUG=false"
        )
    if settings.allow_cors and "*" in settings.cors_origins:
        problems.append(
            "AUTH_CORS_ORIGINS contains '*', which lets any web page call the API: list "
            "the exact origins, e.g. AUTH_CORS_ORIGINS=https://app.example.com"
        )
    if settings.allow_cors:
        problems.extend(_cors_origin_problems(settings.cors_origins))
    wildcard = WILDCARD_NETWORKS.intersection(settings.forwarded_allow_ips)
    if wildcard:
        problems.append(
            f"AUTH_FORWARDED_ALLOW_IPS contains {sorted(wildcard)[0]!r}, so any client can "
            "forge X-Forwarded-For and choose the address its budgets and audit rows "
            "name: list the proxy's addresses, e.g. AUTH_FORWARDED_ALLOW_IPS=10.0.0.5"
        )
    problems.extend(_sqlite_problems(settings))
    if settings.metrics_token is not None:
        reason = weakness(settings.metrics_token.get_secret_value())
        if reason is not None:
            problems.append(
                f"AUTH_METRICS_TOKEN {reason}: generate one with `openssl rand -base64 32`"
            )
    return problems


def production_advisories(settings: Settings) -> list[str]:
    advisories = []
    if "*" in settings.allowed_hosts:
        advisories.append(
            "AUTH_ALLOWED_HOSTS is '*': set the host names clients use "
            "(e.g. AUTH_ALLOWED_HOSTS=auth.example.com) unless a proxy already checks them"
        )
    storage = settings.rate_limit_storage_uri.get_secret_value()
    if settings.rate_limit_enabled and settings.workers > 1 and storage.startswith("memory://"):
        advisories.append(
            f"AUTH_RATE_LIMIT_STORAGE_URI is memory:// with AUTH_WORKERS={settings.workers}: "
            "each worker counts on its own; use redis://... to share the budgets"
        )
    if settings.metrics_token is None:
        advisories.append("AUTH_METRICS_TOKEN is not set: /metrics answers anyone who can reach it")
    if not settings.rate_limit_enabled:
        advisories.append(
            "AUTH_RATE_LIMIT_ENABLED=false: nothing limits failed authentications or "
            "runaway clients here; keep it on unless the proxy limits every address"
        )
    if not settings.enable_encryption:
        advisories.append(
            "AUTH_ENABLE_ENCRYPTION=false: user ids, permission names and API-key labels "
            "are stored in plain text; set AUTH_ENABLE_ENCRYPTION=true with AUTH_ENCRYPTION_KEY"
        )
    insecure = [
        origin
        for origin in settings.cors_origins
        if origin.startswith("http://") and settings.allow_cors
    ]
    if insecure:
        advisories.append(
            f"AUTH_CORS_ORIGINS allows {insecure[0]!r} over plain HTTP: serve the "
            "frontend over HTTPS"
        )
    return advisories


def check_production_readiness(settings: Settings) -> None:
    """Raise :class:`ProductionReadinessError` unless ``settings`` may run in production."""
    if not settings.is_production:
        return
    problems = production_problems(settings)
    if problems:
        raise ProductionReadinessError(problems)
    for advisory in production_advisories(settings):
        logger.warning(advisory, extra={"event": "production_advisory"})
