"""Turning operator-facing database URLs into async SQLAlchemy targets.

Operators write libpq-style URLs (``postgresql://u:p@host/db?sslmode=require``) as the
security guide shows. asyncpg does not understand libpq's ``ssl*`` query parameters as
keyword arguments, so they are lifted out of the URL here and turned into asyncpg's
``ssl`` connect argument:

* ``disable | allow | prefer | require`` are passed through as asyncpg modes
  (``require`` encrypts without verifying the server certificate, as in libpq);
* ``verify-ca | verify-full`` build an :class:`ssl.SSLContext` from ``sslrootcert``
  (system CAs when absent), with host-name checking only for ``verify-full``;
  ``sslcert``/``sslkey`` add a client certificate.

SQLite URLs get the aiosqlite driver. Any other scheme is refused.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import URL, make_url

_PASSTHROUGH_SSLMODES = {"disable", "allow", "prefer", "require"}
_VERIFYING_SSLMODES = {"verify-ca", "verify-full"}
_LIBPQ_SSL_PARAMS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "ssl")


@dataclass(frozen=True)
class DatabaseTarget:
    """An async SQLAlchemy URL plus the driver's connect arguments."""

    url: URL
    connect_args: dict[str, Any] = field(default_factory=dict)

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def is_postgresql(self) -> bool:
        return self.url.get_backend_name() == "postgresql"

    def redacted(self) -> str:
        """The URL with its password hidden, safe for logs."""
        return self.url.render_as_string(hide_password=True)


def _ssl_argument(params: dict[str, str]) -> str | ssl.SSLContext | None:
    mode = params.get("sslmode") or params.get("ssl")
    if mode is None:
        return None
    mode = mode.lower()
    if mode in _PASSTHROUGH_SSLMODES:
        return mode
    if mode in _VERIFYING_SSLMODES:
        context = ssl.create_default_context(cafile=params.get("sslrootcert"))
        context.check_hostname = mode == "verify-full"
        if "sslcert" in params:
            context.load_cert_chain(params["sslcert"], params.get("sslkey"))
        return context
    raise ValueError(
        f"unsupported sslmode {mode!r}: use one of disable, allow, prefer, require, "
        "verify-ca, verify-full"
    )


def resolve_database_target(raw_url: str) -> DatabaseTarget:
    """Map ``raw_url`` to its async driver; raise ``ValueError`` for anything else."""
    url = make_url(raw_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return DatabaseTarget(url=url.set(drivername="sqlite+aiosqlite"))
    if backend in {"postgresql", "postgres"}:
        query = {key: value for key, value in url.query.items() if isinstance(value, str)}
        ssl_arg = _ssl_argument(query)
        remaining = {k: v for k, v in url.query.items() if k not in _LIBPQ_SSL_PARAMS}
        async_url = url.set(drivername="postgresql+asyncpg", query=remaining)
        connect_args: dict[str, Any] = {}
        if ssl_arg is not None:
            connect_args["ssl"] = ssl_arg
        return DatabaseTarget(url=async_url, connect_args=connect_args)
    raise ValueError(
        f"unsupported database URL scheme {url.drivername!r}: use sqlite or postgresql"
    )
