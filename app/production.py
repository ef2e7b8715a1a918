"""Production readiness: the one place that decides whether ``AUTH_ENV=production``
may start.

:func:`check_production_readiness` runs in ``auth-server serve`` before the port is
bound and again in the application's lifespan (so a server started any other way is
held to the same rules). Outside production it does nothing. In production it
collects every problem and raises one :class:`ProductionReadinessError` listing them
all, each naming the setting and the fix:

* server secrets missing, weak or placeholders (:mod:`app.security.secrets`);
* ``AUTH_DEBUG=true``;
* ``AUTH_ALLOW_CORS=true`` with ``*`` in ``AUTH_CORS_ORIGINS``;
* a SQLite database file (or its ``-wal``/``-shm`` companion) that group or others
  may read or write;
* a weak ``AUTH_METRICS_TOKEN``.

Advisories that do not stop the start (any host accepted, per-process rate limits with
several workers, unauthenticated ``/metrics``) are logged as warnings.
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path

from app.config import Settings
from app.security.secrets import SecretsError, load_server_secrets, weakness

logger = logging.getLogger("app.production")

_REFUSAL_PREFIX = "refusing to start in production: "


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


def production_problems(settings: Settings) -> list[str]:
    """Every reason ``settings`` may not run in production (empty: ready)."""
    problems: list[str] = []
    try:
        load_server_secrets(settings)
    except SecretsError as exc:
        problems.append(str(exc).removeprefix(_REFUSAL_PREFIX))
    if settings.debug:
        problems.append(
            "AUTH_DEBUG=true logs SQL statements and internal detail: set AUTH_DEBUG=false"
        )
    if settings.allow_cors and "*" in settings.cors_origins:
        problems.append(
            "AUTH_CORS_ORIGINS contains '*', which lets any web page call the API: list "
            "the exact origins, e.g. AUTH_CORS_ORIGINS=https://app.example.com"
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
