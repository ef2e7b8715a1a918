"""Server secrets: configured, or generated once and kept for development.

Secrets: the client-key hashing secret (``AUTH_KEY_HASH_SECRET``) and the JWT signing
secrets (``AUTH_JWT_SECRET_KEY`` + ``AUTH_JWT_PREVIOUS_SECRET_KEYS``).

* Production: each must be configured, 32+ characters, not a known placeholder, not
  a repeated pattern (``"a" * 36``, ``"changeme" * 4``), carry enough estimated
  entropy, and differ from every other configured secret; otherwise start-up fails
  with one message naming every variable at fault and the fix
  (:func:`secret_problems`).
* Development: a missing secret is generated with :func:`secrets.token_urlsafe` and
  kept in ``<state dir>/.auth-secrets.json`` (mode 0600), so restarts keep the same
  tenants and sessions. The file is read once, at start. A secrets file that cannot
  be read or written (a read-only directory) raises :class:`SecretsError` naming the
  file, ``AUTH_STATE_DIR`` and the variables that avoid it. Generating secrets beside a
  database that already has tenants is refused by :mod:`app.security.fresh_secrets`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from app.config import Settings

logger = logging.getLogger("app.security.secrets")

SECRETS_FILE_NAME = ".auth-secrets.json"
_VARIABLES = {"key_hash": "AUTH_KEY_HASH_SECRET", "jwt_secret": "AUTH_JWT_SECRET_KEY"}
MIN_SECRET_LENGTH = 32
MIN_SECRET_BITS = 80
"""Entropy estimated from character frequencies (Shannon, times the length). Random
values of the documented generators score far above it: 32 hex characters from
``openssl rand -hex 16`` score at least ~94, ``openssl rand -base64 32`` ~200."""
_REPEAT_SHARE = 0.9
PLACEHOLDER_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "changethis",
        "secret",
        "secret-key",
        "dev-secret-key",
        "dev-encryption-key",
        "<generated-key>",
        "your-secret-key",
        "supersecret",
        "password",
    }
)


class SecretsError(RuntimeError):
    """A required secret is missing or unusable; the message says which and how to fix."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class ServerSecrets:
    key_hash: bytes = field(repr=False)
    jwt_signing: SigningKey
    jwt_verification: dict[str, SigningKey] = field(repr=False)
    blind_index: bytes = field(repr=False)
    audit: bytes = field(repr=False)

    def __repr__(self) -> str:
        return "ServerSecrets(<redacted>)"


def key_id(secret: str) -> str:
    """A public, stable identifier of a signing secret (the JWT ``kid`` header)."""
    return hashlib.sha256(b"auth-jwt-kid:" + secret.encode("utf-8")).hexdigest()[:16]


def _estimated_bits(value: str) -> float:
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values()) * total


def _is_repeated(value: str) -> bool:
    """True when ``value`` is (at least 90%) one shorter unit over and over."""
    text = value[:256]
    size = len(text)
    for period in range(1, size // 2 + 1):
        same = sum(text[i] == text[i + period] for i in range(size - period))
        if same >= _REPEAT_SHARE * (size - period):
            return True
    return False


def _repeats_a_placeholder(value: str) -> bool:
    lowered = value.lower()
    return any(lowered.count(word) > 1 for word in PLACEHOLDER_SECRETS if len(word) >= 6)


def weakness(value: str) -> str | None:
    """Why ``value`` is unfit as a secret, or ``None``."""
    if (
        value.strip().lower() in PLACEHOLDER_SECRETS
        or value.strip("<>").lower() in PLACEHOLDER_SECRETS
    ):
        return "is a known placeholder"
    if len(value) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    if _is_repeated(value) or _repeats_a_placeholder(value):
        return "is a repeated pattern, not a random value"
    if _estimated_bits(value) < MIN_SECRET_BITS:
        return f"has too little entropy (under {MIN_SECRET_BITS} bits estimated)"
    return None


_SECRET_FIELDS = (
    ("AUTH_KEY_HASH_SECRET", "key_hash_secret"),
    ("AUTH_JWT_SECRET_KEY", "jwt_secret_key"),
    ("AUTH_BLIND_INDEX_KEY", "blind_index_key"),
    ("AUTH_AUDIT_KEY", "audit_key"),
    ("AUTH_METRICS_TOKEN", "metrics_token"),
)
_REQUIRED_IN_PRODUCTION = ("AUTH_KEY_HASH_SECRET", "AUTH_JWT_SECRET_KEY")
_FIX = "generate one with `openssl rand -base64 32`"


def secret_problems(settings: Settings) -> list[str]:
    """Every problem of the configured server secrets, as production judges them:
    missing, weak (:func:`weakness`) or shared between two settings. The metrics token
    is judged by :mod:`app.security.production`; it is compared with the others here."""
    configured = {
        variable: _configured(getattr(settings, field)) for variable, field in _SECRET_FIELDS
    }
    problems: list[str] = []
    missing = [name for name in _REQUIRED_IN_PRODUCTION if configured[name] is None]
    if missing:
        problems.append(
            f"{', '.join(missing)} must be set (32+ random characters, "
            "e.g. `openssl rand -base64 32`)"
        )
    values = [(name, value) for name, value in configured.items() if value is not None]
    for name, value in values:
        reason = weakness(value)
        if reason is not None and name != "AUTH_METRICS_TOKEN":
            problems.append(f"{name} {reason}: {_FIX}")
    for previous in settings.previous_jwt_secrets:
        reason = weakness(previous)
        if reason is not None:
            problems.append(f"AUTH_JWT_PREVIOUS_SECRET_KEYS {reason}: {_FIX}")
    values += [("AUTH_JWT_PREVIOUS_SECRET_KEYS", value) for value in settings.previous_jwt_secrets]
    holders: dict[str, list[str]] = {}
    for name, value in values:
        holders.setdefault(value, []).append(name)
    for names in holders.values():
        if len(set(names)) > 1:
            problems.append(
                f"{' and '.join(dict.fromkeys(names))} have the same value: "
                f"each secret must be generated on its own ({_FIX})"
            )
    return problems


def _check(settings: Settings, variable: str, value: str) -> None:
    reason = weakness(value)
    if reason is None:
        return
    message = f"{variable} {reason}: generate one with `openssl rand -base64 32`"
    if settings.is_production:
        raise SecretsError(f"refusing to start in production: {message}")
    logger.warning("weak secret (allowed outside production): %s", message)


def _read_stored(path: Path) -> dict[str, str]:
    """The generated secrets kept at ``path`` (``{}`` when there is no file yet)."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError as exc:
        raise SecretsError(
            f"cannot read the development secrets file {path}: {exc.strerror}; "
            "fix its permissions or set AUTH_STATE_DIR"
        ) from None
    except ValueError:
        raise SecretsError(
            f"the development secrets file {path} is not valid JSON: restore it from a "
            "backup (or set AUTH_KEY_HASH_SECRET and AUTH_JWT_SECRET_KEY)"
        ) from None
    if not isinstance(stored, dict) or not all(isinstance(v, str) for v in stored.values()):
        raise SecretsError(f"the development secrets file {path} is not a JSON object of strings")
    return stored


def _load_or_create(path: Path, names: list[str]) -> dict[str, str]:
    stored = _read_stored(path)
    missing = [name for name in names if name not in stored]
    if missing:
        for name in missing:
            stored[name] = secrets.token_urlsafe(48)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(stored, handle)
            os.replace(tmp, path)
        except OSError as exc:
            variables = ", ".join(_VARIABLES[name] for name in missing)
            raise SecretsError(
                f"cannot write the development secrets file {path} ({exc.strerror}): "
                f"set AUTH_STATE_DIR to a writable directory, or set {variables}"
            ) from None
    return stored


def _configured(value: SecretStr | None) -> str | None:
    if value is None:
        return None
    return value.get_secret_value() or None


def _configured_secrets(settings: Settings) -> dict[str, tuple[str, str | None]]:
    """Each generatable secret: its variable and its configured value (or ``None``)."""
    return {
        "key_hash": (_VARIABLES["key_hash"], _configured(settings.key_hash_secret)),
        "jwt_secret": (_VARIABLES["jwt_secret"], _configured(settings.jwt_secret_key)),
    }


def secrets_file(settings: Settings) -> Path:
    """Where generated development secrets are kept."""
    return settings.secrets_state_dir / SECRETS_FILE_NAME


def secrets_to_generate(settings: Settings) -> list[str]:
    """The variables :func:`load_server_secrets` would generate now: neither configured
    nor kept in the secrets file (always empty in production, which never generates)."""
    if settings.is_production:
        return []
    missing = [name for name, (_, value) in _configured_secrets(settings).items() if not value]
    if not missing:
        return []
    stored = _read_stored(secrets_file(settings))
    return [_VARIABLES[name] for name in missing if name not in stored]


def load_server_secrets(settings: Settings) -> ServerSecrets:
    """Resolve every server secret, generating development ones when needed."""
    configured = _configured_secrets(settings)
    if settings.is_production:
        problems = secret_problems(settings)
        if problems:
            raise SecretsError("refusing to start in production: " + "; ".join(problems))
    missing = [name for name, (_, value) in configured.items() if value is None]
    generated = _load_or_create(secrets_file(settings), missing) if missing else {}
    values: dict[str, str] = {}
    for name, (variable, value) in configured.items():
        if value is None:
            values[name] = generated[name]
        else:
            _check(settings, variable, value)
            values[name] = value
    for previous in settings.previous_jwt_secrets:
        _check(settings, "AUTH_JWT_PREVIOUS_SECRET_KEYS", previous)

    signing = SigningKey(kid=key_id(values["jwt_secret"]), secret=values["jwt_secret"])
    verification = {signing.kid: signing}
    for previous in settings.previous_jwt_secrets:
        verification.setdefault(key_id(previous), SigningKey(kid=key_id(previous), secret=previous))
    key_hash = values["key_hash"].encode("utf-8")
    return ServerSecrets(
        key_hash=key_hash,
        jwt_signing=signing,
        jwt_verification=verification,
        blind_index=_derived(
            settings,
            settings.blind_index_key,
            "AUTH_BLIND_INDEX_KEY",
            key_hash,
            b"auth blind index v1",
        ),
        audit=_derived(
            settings, settings.audit_key, "AUTH_AUDIT_KEY", key_hash, b"auth audit chain v1"
        ),
    )


def _derived(
    settings: Settings, configured: SecretStr | None, variable: str, root: bytes, info: bytes
) -> bytes:
    """A configured secret, or one derived from the key-hash secret with HKDF."""
    value = _configured(configured)
    if value is not None:
        _check(settings, variable, value)
        return value.encode("utf-8")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(root)


def restorable_secrets(settings: Settings) -> dict[str, tuple[str, str]]:
    """Every secret the stored data depends on: variable -> (value, where it came from).

    The client-key hash secret (tenants are found by it; the blind index and audit keys
    derive from it unless set), the JWT secrets (issued tokens), and when configured the
    blind index key, the audit key and the encryption keys. Generated development
    secrets come from the secrets file; nothing is generated here."""
    stored = _read_stored(secrets_file(settings)) if not settings.is_production else {}
    found: dict[str, tuple[str, str]] = {}
    for name, (variable, value) in _configured_secrets(settings).items():
        if value is not None:
            found[variable] = (value, "configured")
        elif name in stored:
            found[variable] = (stored[name], str(secrets_file(settings)))
    optional = {
        "AUTH_JWT_PREVIOUS_SECRET_KEYS": settings.jwt_previous_secret_keys,
        "AUTH_BLIND_INDEX_KEY": settings.blind_index_key,
        "AUTH_AUDIT_KEY": settings.audit_key,
        "AUTH_ENCRYPTION_KEY": settings.encryption_key if settings.enable_encryption else None,
    }
    for variable, secret in optional.items():
        value = _configured(secret)
        if value is not None:
            found[variable] = (value, "configured")
    return found
