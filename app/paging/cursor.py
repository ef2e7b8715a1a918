"""Opaque listing cursors.

A cursor is a Fernet token (AES-128-CBC + HMAC-SHA256, from ``cryptography``) over
``{"b": binding, "p": position}``, with its base64 padding stripped so it travels in a
query string unescaped:

* ``position`` is the sort key of the last entry served (a list of strings and
  integers; which ones depends on the listing). It is encrypted, so neither names nor
  blind-index values are readable from a URL or a proxy log.
* ``binding`` is a digest of the tenant, the listing's path and its filters. A cursor
  presented to another tenant or another listing (or the same listing with other
  filters) does not match and is refused, as is any cursor that fails authentication.

The key is derived with HKDF from the key-hash secret (``info = "auth listing cursor
v1"``), so cursors survive restarts and are shared by every worker and replica.
Cursors do not expire: a keyset position stays meaningful, and it grants nothing the
caller could not list anyway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

CURSOR_KEY_INFO = b"auth listing cursor v1"
MAX_CURSOR_LENGTH = 1024

Position = tuple[str | int, ...]


class InvalidCursor(ValueError):
    """The cursor is malformed, forged, or belongs to another tenant or listing."""


def binding(tenant_id: int, path: str, filters: Sequence[tuple[str, str]]) -> str:
    """The digest a cursor is bound to: tenant, listing path and sorted filters."""
    material = json.dumps([tenant_id, path, sorted(filters)], separators=(",", ":"))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


class CursorCodec:
    """Seal and open cursors under one key. Thread-safe, no I/O."""

    def __init__(self, root_secret: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=CURSOR_KEY_INFO).derive(
            root_secret
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, bound_to: str, position: Position) -> str:
        payload = json.dumps({"b": bound_to, "p": list(position)}, separators=(",", ":"))
        token = self._fernet.encrypt(payload.encode("utf-8")).decode("ascii")
        return token.rstrip("=")

    def open(self, bound_to: str, cursor: str, shape: Sequence[type]) -> Position:
        """The position inside ``cursor``; raise :class:`InvalidCursor` unless it was
        sealed for ``bound_to`` and holds one value of each type in ``shape``."""
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise InvalidCursor("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        try:
            payload = json.loads(self._fernet.decrypt(padded.encode("ascii")))
        except (InvalidToken, UnicodeError, binascii.Error, ValueError) as exc:
            raise InvalidCursor("not a cursor of this service") from exc
        if not isinstance(payload, dict) or payload.get("b") != bound_to:
            raise InvalidCursor("issued for another listing")
        position = payload.get("p")
        if not isinstance(position, list) or len(position) != len(shape):
            raise InvalidCursor("unexpected position")
        for value, kind in zip(position, shape, strict=True):
            if type(value) is not kind:
                raise InvalidCursor("unexpected position")
        return tuple(position)


@lru_cache(maxsize=4)
def codec_for(root_secret: bytes) -> CursorCodec:
    """One codec per server secret (the HKDF runs once)."""
    return CursorCodec(root_secret)
