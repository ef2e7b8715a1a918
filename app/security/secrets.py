"""Server secrets: configured, or generated once and kept for development.

In production every server secret must be configured (see :mod:`app.config`). In
development a missing secret is generated with :func:`secrets.token_urlsafe` and
stored in ``<state dir>/.auth-secrets.json`` (mode 0600, directory 0700 when created),
so restarts keep the same tenants and sessions. The file is read once at start.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from app.config import Settings

SECRETS_FILE_NAME = ".auth-secrets.json"


class SecretsError(RuntimeError):
    """A required secret is missing or unusable; the message says which and how to fix."""


@dataclass(frozen=True)
class ServerSecrets:
    key_hash: bytes

    def __repr__(self) -> str:
        return "ServerSecrets(<redacted>)"


def _load_or_create(path: Path, names: list[str]) -> dict[str, str]:
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
    missing = [name for name in names if name not in stored]
    if missing:
        for name in missing:
            stored[name] = secrets.token_urlsafe(48)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(stored, handle)
        os.replace(tmp, path)
    return stored


def _value(configured: SecretStr | None) -> str | None:
    if configured is None:
        return None
    value = configured.get_secret_value()
    return value or None


def load_server_secrets(settings: Settings) -> ServerSecrets:
    """Resolve every server secret, generating development ones when needed."""
    key_hash = _value(settings.key_hash_secret)
    if key_hash is None:
        if settings.is_production:
            raise SecretsError(
                "AUTH_KEY_HASH_SECRET is required in production: set it to a random value "
                "of 32+ characters (openssl rand -base64 32) and never change it, because "
                "client keys are looked up by their hash under it."
            )
        stored = _load_or_create(settings.secrets_state_dir / SECRETS_FILE_NAME, ["key_hash"])
        key_hash = stored["key_hash"]
    return ServerSecrets(key_hash=key_hash.encode("utf-8"))
