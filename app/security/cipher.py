"""Field-level encryption (Fernet) and the keyed blind index beside each field.

Two independent mechanisms:

* **Blind index** (always on): every looked-up value (user ids, permission names)
  is stored as ``HMAC-SHA256(index key, "<tenant>:<field>:<value>")`` in a ``*_key``
  column, and every query filters on that column. The index is scoped per tenant (the
  same user id has unrelated index values in two tenants) and does not depend on the
  Fernet keys, so rotating ``AUTH_ENCRYPTION_KEY`` never touches it and a wrong
  encryption key can never change an authorization decision. The index key is
  ``AUTH_BLIND_INDEX_KEY`` when set, otherwise derived with HKDF from
  ``AUTH_KEY_HASH_SECRET``; like that secret it must never change.
* **Encryption** (``AUTH_ENABLE_ENCRYPTION``): the displayed value columns hold
  ``enc:v1:<Fernet token>``. ``AUTH_ENCRYPTION_KEY`` lists Fernet keys newest first
  (MultiFernet: encrypt with the first, decrypt with any). Values without the prefix
  are plaintext (written while encryption was off) and are read as they are, which
  lets ``auth-server encryption enable`` convert a live database row by row.

A ciphertext that fails authentication raises :class:`StoredDataCorrupt`: the
request fails (500), it never yields a value.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

ENCRYPTED_PREFIX = "enc:v1:"
CANARY_PLAINTEXT = "auth-encryption-canary-v1"


class EncryptionConfigError(RuntimeError):
    """Encryption is misconfigured; the message names the setting and the fix."""


class StoredDataCorrupt(RuntimeError):
    """A stored ciphertext failed authentication or no configured key opens it."""


def parse_fernet_keys(raw: str) -> list[Fernet]:
    """Comma-separated Fernet keys, newest first; raise with a clear message if any is bad."""
    keys = [part.strip() for part in raw.split(",") if part.strip()]
    if not keys:
        raise EncryptionConfigError(
            "AUTH_ENCRYPTION_KEY is empty: generate one with "
            '`python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"`'
        )
    fernets: list[Fernet] = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode("ascii")))
        except (ValueError, UnicodeEncodeError) as exc:
            raise EncryptionConfigError(
                f"AUTH_ENCRYPTION_KEY entry {position} is not a Fernet key (32 url-safe "
                "base64-encoded bytes); generate one with Fernet.generate_key()"
            ) from exc
    return fernets


class FieldCipher:
    """Seal/open field values and compute blind-index values. Thread-safe, no I/O."""

    def __init__(
        self,
        index_key: bytes,
        fernets: list[Fernet] | None = None,
        *,
        encrypt_descriptions: bool = True,
    ) -> None:
        self._index_key = index_key
        self._fernets = fernets or []
        self._multi = MultiFernet(self._fernets) if self._fernets else None
        self.encrypt_descriptions = encrypt_descriptions

    @property
    def enabled(self) -> bool:
        return self._multi is not None

    def index(self, tenant_id: int, field: str, value: str) -> str:
        message = f"{tenant_id}:{field}:{value}".encode()
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()

    def indexer(self, tenant_id: int, field: str) -> Callable[[str], str]:
        """``index`` for one tenant and field, keyed once: the same values, cheaper
        per call (bulk work)."""
        keyed = hmac.new(self._index_key, f"{tenant_id}:{field}:".encode(), hashlib.sha256)

        def index(value: str) -> str:
            digest = keyed.copy()
            digest.update(value.encode())
            return digest.hexdigest()

        return index

    def seal(self, value: str) -> str:
        if self._multi is None:
            return value
        return ENCRYPTED_PREFIX + self._multi.encrypt(value.encode("utf-8")).decode("ascii")

    def seal_description(self, value: str | None) -> str | None:
        if value is None or not self.encrypt_descriptions:
            return value
        return self.seal(value)

    def open(self, stored: str) -> str:
        if not stored.startswith(ENCRYPTED_PREFIX):
            return stored
        if self._multi is None:
            raise StoredDataCorrupt(
                "encrypted data found but encryption is disabled (AUTH_ENABLE_ENCRYPTION)"
            )
        try:
            return self._multi.decrypt(stored[len(ENCRYPTED_PREFIX) :].encode("ascii")).decode(
                "utf-8"
            )
        except (InvalidToken, UnicodeError) as exc:
            raise StoredDataCorrupt("a stored value failed its integrity check") from exc

    def open_optional(self, stored: str | None) -> str | None:
        return None if stored is None else self.open(stored)

    def key_position(self, stored: str) -> int | None:
        """Which configured key (0 = newest) opens ``stored``; ``None`` for plaintext.

        Raises :class:`StoredDataCorrupt` when no configured key opens it.
        """
        if not stored.startswith(ENCRYPTED_PREFIX):
            return None
        token = stored[len(ENCRYPTED_PREFIX) :].encode("ascii")
        for position, fernet in enumerate(self._fernets):
            try:
                fernet.decrypt(token)
            except InvalidToken:
                continue
            return position
        raise StoredDataCorrupt("no configured encryption key opens a stored value")

    def reseal(self, stored: str) -> str:
        """Re-encrypt under the newest key (plaintext values get encrypted)."""
        if self._multi is None:
            raise EncryptionConfigError("encryption is disabled: set AUTH_ENABLE_ENCRYPTION=true")
        return self.seal(self.open(stored))
