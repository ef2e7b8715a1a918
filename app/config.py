"""Service configuration: one ``Settings`` object, read from the environment.

Contract:

* Every variable carries the ``AUTH_`` prefix (``AUTH_DATABASE_URL``, ``AUTH_PORT``...).
* Sources, highest priority first: keyword arguments, environment, ``.env`` in the
  working directory, files in the secrets directory (``AUTH_SECRETS_DIR``, default
  ``/run/secrets`` when it exists; one file per variable, named like the variable).
* Secrets are ``SecretStr``: they never appear in ``repr``, logs or error bodies.
* Settings are built once, by :func:`load_settings` (CLI) or by the caller of
  ``create_app(settings)`` (tests); nothing reads the environment at import time.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:  # imported when used: ``auth-server --help`` stays fast
    from app.db.url import DatabaseTarget

DEFAULT_SECRETS_DIR = Path("/run/secrets")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class DatabaseType(StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


class Registration(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Settings(BaseSettings):
    """Every knob of the service. The README's configuration table mirrors this class."""

    model_config = SettingsConfigDict(
        env_prefix="AUTH_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    # --- runtime -------------------------------------------------------------------
    env: Environment = Environment.DEVELOPMENT
    host: str = "127.0.0.1"
    port: int = Field(default=5000, ge=1, le=65535)
    log_level: str = "info"
    workers: int = Field(default=1, ge=1, le=64)
    migrate_on_start: bool = True
    """``auth-server serve`` upgrades the schema before serving (turn off when a
    separate migration step owns the schema, as in docker-compose)."""

    # --- database ------------------------------------------------------------------
    database_url: SecretStr | None = None
    """Full URL; wins over the type/path/url triple below. ``postgresql://`` and
    ``sqlite://`` URLs are mapped to their async drivers."""
    database_type: DatabaseType = DatabaseType.SQLITE
    sqlite_path: Path = Path("~/.auth.sqlite3")
    postgresql_url: SecretStr | None = None
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    db_pool_timeout: float = Field(default=10.0, gt=0)
    """Seconds a request waits for a pooled connection before answering 503."""
    db_pool_recycle: int = Field(default=1800, ge=-1)
    sqlite_busy_timeout_ms: int = Field(default=10_000, ge=0)
    """Milliseconds a SQLite statement waits for a lock before answering 503."""
    db_connect_timeout: float = Field(default=5.0, ge=0, le=300)
    """Seconds to open a PostgreSQL connection (TCP, TLS, authentication); 0: unbounded."""
    db_statement_timeout: float = Field(default=5.0, ge=0, le=3600)
    """Seconds one PostgreSQL statement may run (client-side ``command_timeout`` and
    server-side ``statement_timeout``); 0: unbounded (long operator commands)."""
    db_retry_after_seconds: int = Field(default=2, ge=1, le=3600)
    """``Retry-After`` of the 503 answered while the database is unavailable."""

    # --- tenants -------------------------------------------------------------------
    tenant_registration: Registration = Registration.OPEN
    key_hash_secret: SecretStr | None = None
    """HMAC key under which client keys are hashed. Changing it orphans every tenant,
    so in development a generated one is kept in ``state_dir``; production requires
    it to be set explicitly."""
    state_dir: Path | None = None
    """Where generated development secrets live (default: beside the SQLite file)."""
    strict_users_default: bool = True
    """``strict_users`` of every tenant that has not chosen (``PUT /api/settings``)."""

    # --- tokens --------------------------------------------------------------------
    jwt_secret_key: SecretStr | None = None
    """Signs new tokens (HMAC). 32+ characters; required in production."""
    jwt_previous_secret_keys: SecretStr | None = None
    """Comma-separated former signing secrets: tokens they signed still verify, so the
    signing secret can rotate without logging everyone out."""
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_access_token_expire_minutes: int = Field(default=15, ge=1, le=24 * 60)
    jwt_refresh_token_expire_days: int = Field(default=7, ge=1, le=90)
    jwt_issuer: str = "auth"
    jwt_audience: str = "auth-api"
    jwt_leeway_seconds: int = Field(default=0, ge=0, le=300)

    # --- data protection -----------------------------------------------------------
    enable_encryption: bool = False
    """Encrypt user ids, permission names, API-key users/labels (and role descriptions)
    at rest with Fernet."""
    encryption_key: SecretStr | None = None
    """Comma-separated Fernet keys, newest first: the first encrypts, all decrypt."""
    encrypt_role_descriptions: bool = True
    blind_index_key: SecretStr | None = None
    """HMAC key of the blind index (lookups on encrypted fields). Default: derived from
    AUTH_KEY_HASH_SECRET. Independent of AUTH_ENCRYPTION_KEY; must never change."""

    # --- audit ---------------------------------------------------------------------
    enable_audit_logging: bool = True
    audit_permission_checks: bool = False
    """Also audit decisions (has_permission, membership checks, key validation): a
    database write per check."""
    audit_key: SecretStr | None = None
    """HMAC key of the audit hash chain and of user fingerprints. Default: derived from
    AUTH_KEY_HASH_SECRET; must never change (old rows would stop verifying)."""

    # --- decisions (app/decisions) --------------------------------------------------
    decision_consistency: Literal["strict", "minimize_latency"] = "strict"
    """``strict``: every decision checks the tenant's stored revision (one point read)
    before answering from memory. ``minimize_latency`` (PostgreSQL): revisions are
    pushed with LISTEN/NOTIFY and no read is made per check; send ``Auth-Min-Revision``
    to read your own writes. Falls back to strict while the listener is down."""
    decision_cache_entries: int = Field(default=2_000_000, ge=0)
    """Memory budget of the per-tenant decision snapshots, in rows (memberships +
    grants + API keys) over all cached tenants; least recently used tenants are
    evicted beyond it. 0 turns the snapshots off (every decision reads the database)."""

    @field_validator("sqlite_path", mode="after")
    @classmethod
    def _expand_sqlite_path(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("log_level", mode="after")
    @classmethod
    def _normalise_log_level(cls, value: str) -> str:
        level = value.lower()
        if level not in {"critical", "error", "warning", "info", "debug", "trace"}:
            raise ValueError("AUTH_LOG_LEVEL must be one of critical, error, warning, info, debug")
        return level

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def database(self) -> DatabaseTarget:
        """The resolved async database target (URL + driver connect arguments)."""
        from app.db.url import resolve_database_target

        if self.database_url is not None:
            return resolve_database_target(self.database_url.get_secret_value())
        if self.database_type is DatabaseType.POSTGRESQL:
            if self.postgresql_url is None:
                raise ValueError(
                    "AUTH_DATABASE_TYPE=postgresql needs AUTH_POSTGRESQL_URL "
                    "(for example postgresql://user:pass@host:5432/authdb?sslmode=require)"
                )
            return resolve_database_target(self.postgresql_url.get_secret_value())
        return resolve_database_target(f"sqlite:///{self.sqlite_path}")

    @property
    def previous_jwt_secrets(self) -> list[str]:
        if self.jwt_previous_secret_keys is None:
            return []
        raw = self.jwt_previous_secret_keys.get_secret_value()
        return [part.strip() for part in raw.split(",") if part.strip()]

    @property
    def secrets_state_dir(self) -> Path:
        """Directory holding generated development secrets (created 0700 on demand)."""
        if self.state_dir is not None:
            return self.state_dir.expanduser()
        return self.sqlite_path.parent

    # === edge: rate limiting, CORS, proxies, body size, docs, observability ==========
    # Used by app/edge and app/security/production.py; the README's "Edge and observability".
    debug: bool = False
    """Development aid: the service's loggers at DEBUG and SQL statements logged
    (never their parameters). Refused in production."""
    enable_docs: bool = True
    """Serve /docs, /redoc and /openapi.json (in production too, unless false)."""
    log_format: Literal["json", "text"] = "json"
    metrics_token: SecretStr | None = None
    """When set, ``GET /metrics`` requires ``Authorization: Bearer <token>``."""

    rate_limit_enabled: bool = True
    rate_limit_default: str = "6000/minute"
    """Every request but decisions and writes, per tenant (or per client address when
    unauthenticated): listings and other reads."""
    rate_limit_decisions: str | None = None
    """Decisions (``has_permission``, ``can_run``, ``POST /api/check``), per tenant.
    Unset (the default): not limited, so one tenant can use the service's whole
    decision capacity; set e.g. ``100000/minute`` to share it between tenants."""
    rate_limit_write: str = "30000/minute"
    """POST/PUT/PATCH/DELETE on /api (decisions aside), per tenant."""
    rate_limit_role_create: str = "600/minute"
    """Additionally, POST /api/role/{role}, per tenant."""
    rate_limit_auth_failures: str = "60/minute"
    """401 answers per client address; once spent, that address gets 429."""
    rate_limit_registration: str = "30/minute"
    """New tenants opened per client address (open registration): a fresh client key
    has a fresh per-tenant budget, so opening tenants is limited by address."""
    rate_limit_storage_uri: SecretStr = SecretStr("memory://")
    """``memory://`` (per process) or ``redis://[:password@]host:port/db`` (shared)."""
    rate_limit_key_prefix: str = "auth-rate-limit"
    """Prefix of the rate-limit keys in a shared store."""

    allow_cors: bool = False
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Comma-separated origins allowed when ``AUTH_ALLOW_CORS=true``."""
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1"]
    )
    """Comma-separated proxy addresses/networks whose X-Forwarded-For/-Proto count."""
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    """Comma-separated Host names answered (``*.example.com`` wildcards); ``*``: any."""
    max_body_bytes: int = Field(default=64 * 1024, ge=1)
    """Largest request body of every route but ``POST /api/bulk`` (413 beyond)."""
    bulk_max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    """Largest body of ``POST /api/bulk`` (JSON lines of a bulk import; 413 beyond)."""

    @field_validator("cors_origins", "forwarded_allow_ips", "allowed_hosts", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("allowed_hosts", mode="after")
    @classmethod
    def _check_host_patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            wildcard = pattern.startswith("*") and not pattern.startswith("*.")
            if pattern != "*" and ("*" in pattern[1:] or wildcard):
                raise ValueError(
                    f"AUTH_ALLOWED_HOSTS: {pattern!r} is not a host name, '*' or '*.domain'"
                )
        return value

    @field_validator(
        "rate_limit_default",
        "rate_limit_decisions",
        "rate_limit_write",
        "rate_limit_role_create",
        "rate_limit_auth_failures",
        "rate_limit_registration",
        mode="after",
    )
    @classmethod
    def _check_rate_limit(cls, value: str | None, info: ValidationInfo) -> str | None:
        from limits import parse as parse_limit

        if value is None:
            return None
        try:
            parse_limit(value)
        except ValueError as exc:
            raise ValueError(
                f"AUTH_{str(info.field_name).upper()}: {value!r} is not a rate limit "
                "such as '600/minute' or '5 per minute'"
            ) from exc
        return value

    # === end of edge settings ========================================================


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the process environment (the CLI's and the server's entry).

    ``AUTH_SECRETS_DIR`` names a directory of secret files (Docker and Kubernetes
    secrets); ``/run/secrets`` is used when it exists.
    """
    secrets_dir = os.environ.get("AUTH_SECRETS_DIR")
    if secrets_dir is None and DEFAULT_SECRETS_DIR.is_dir():
        secrets_dir = str(DEFAULT_SECRETS_DIR)
    return Settings(_secrets_dir=secrets_dir, **overrides)
