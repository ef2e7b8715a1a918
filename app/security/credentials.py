"""Parsing the ``Authorization`` header into a credential (no I/O).

Rules (contract, section 1):

* ``Authorization: Bearer <token>``; scheme case-insensitive, any run of spaces or
  tabs between scheme and token, nothing after the token.
* A client key is a UUID4 in its canonical hyphenated form, any case; the version
  and variant bits are checked. Keys are normalised to lower case.
* A JWT is three base64url segments separated by dots.
* Anything else is malformed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum

_BEARER = re.compile(r"^[Bb][Ee][Aa][Rr][Ee][Rr][ \t]+([^\s]+)[ \t]*$")
_UUID_SHAPE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


class CredentialKind(StrEnum):
    CLIENT_KEY = "client_key"
    JWT = "jwt"


@dataclass(frozen=True, slots=True)
class Credential:
    kind: CredentialKind
    value: str

    def __repr__(self) -> str:  # never print the secret
        return f"Credential(kind={self.kind.value!r}, value=<redacted>)"


class MissingCredential(Exception):
    """No ``Authorization`` header, or not ``Bearer <one token>``."""


class MalformedCredential(Exception):
    """A bearer token that is neither a UUID4 nor a JWT."""


def is_uuid4(value: str) -> bool:
    if not _UUID_SHAPE.fullmatch(value):
        return False
    parsed = uuid.UUID(value)
    return parsed.version == 4 and parsed.variant == uuid.RFC_4122


def parse_authorization(header: str | None) -> Credential:
    """Classify an ``Authorization`` header value; raise on missing or malformed."""
    if header is None:
        raise MissingCredential("missing Authorization header")
    match = _BEARER.fullmatch(header.strip(" \t"))
    if match is None:
        raise MissingCredential("Authorization header must be 'Bearer <credential>'")
    token = match.group(1)
    if is_uuid4(token):
        return Credential(CredentialKind.CLIENT_KEY, token.lower())
    if _JWT_SHAPE.fullmatch(token):
        return Credential(CredentialKind.JWT, token)
    raise MalformedCredential("credential is neither a UUID4 client key nor a JWT")


def hash_client_key(client_key: str, secret: bytes) -> str:
    """HMAC-SHA256 of the normalised client key, hex encoded (64 characters)."""
    return hmac.new(secret, client_key.lower().encode("ascii"), hashlib.sha256).hexdigest()


BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SECRET_BODY_LENGTH = 43  # 43 base62 characters: 256 bits from the CSPRNG


def mint_secret(prefix: str) -> str:
    """``prefix`` + 43 base62 characters from :mod:`secrets` (e.g. ``rak_...``)."""
    return prefix + "".join(secrets.choice(BASE62) for _ in range(SECRET_BODY_LENGTH))


def secret_shape(prefix: str) -> re.Pattern[str]:
    return re.compile(re.escape(prefix) + r"[0-9A-Za-z]{" + str(SECRET_BODY_LENGTH) + "}")


def hash_secret(value: str, secret: bytes, purpose: str) -> str:
    """HMAC-SHA256 of a minted secret, domain-separated by ``purpose``; hex encoded."""
    message = f"{purpose}:{value}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()
