"""Never generate new development secrets for a database that already has tenants.

A database restored elsewhere (``AUTH_SQLITE_PATH`` pointing at a copy) without the
secrets it was written with would otherwise get fresh ones: every client key would stop
matching its tenant (keys are found by their HMAC under ``AUTH_KEY_HASH_SECRET``) and
every audit row would fail verification (the chain key derives from it).
:func:`refuse_fresh_secrets_over_tenants` runs before secrets are loaded, wherever they
are loaded for a database (``serve``, the lifespan, operator commands), and raises
:class:`SecretsError` naming the variables and the secrets file to restore.
"""

from __future__ import annotations

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.security.secrets import SecretsError, secrets_file, secrets_to_generate


def _has_tenants(connection: Connection) -> bool:
    if not inspect(connection).has_table("tenants"):
        return False  # a database not migrated yet holds no tenants
    return connection.execute(text("SELECT 1 FROM tenants LIMIT 1")).first() is not None


async def refuse_fresh_secrets_over_tenants(settings: Settings, engine: AsyncEngine) -> None:
    """Raise :class:`SecretsError` when secrets would be generated for a database that
    already has tenants; do nothing otherwise (nothing to generate, or no tenants)."""
    variables = secrets_to_generate(settings)
    if not variables:
        return
    async with engine.connect() as connection:
        if not await connection.run_sync(_has_tenants):
            return
    names = " and ".join(variables)
    raise SecretsError(
        f"refusing to generate new {names} for a database that already has tenants "
        "(their client keys would stop matching and the audit trail would fail "
        f"verification): set {names} to the values this database was written with "
        f"(a backup's .secrets.env), or put its secrets file at {secrets_file(settings)}"
    )
