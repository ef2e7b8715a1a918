"""``app.security.credentials``: the Authorization header table and key hashing."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from app.security.credentials import (
    Credential,
    CredentialKind,
    MalformedCredential,
    MissingCredential,
    hash_client_key,
    is_uuid4,
    parse_authorization,
)

KEY = "3f6b2a1c-9d4e-4c8b-a2f1-0e5d7c9b1a23"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0In0.c2lnbmF0dXJlLV9f"


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {KEY}",
        f"bearer {KEY}",
        f"BEARER {KEY}",
        f"bEaReR {KEY}",
        f"Bearer    {KEY}",
        f"Bearer\t{KEY}",
        f"Bearer \t {KEY}",
        f"  Bearer {KEY}  ",
        f"Bearer {KEY.upper()}",
    ],
)
def test_client_keys(header: str) -> None:
    assert parse_authorization(header) == Credential(CredentialKind.CLIENT_KEY, KEY)


@pytest.mark.parametrize("token", [JWT, "a.b.c", "a-_.b_-.c"])
def test_jwt_shapes(token: str) -> None:
    assert parse_authorization(f"Bearer {token}") == Credential(CredentialKind.JWT, token)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "Bearer",
        "Bearer ",
        f"Bearer{KEY}",
        f"Basic {KEY}",
        f"Token {KEY}",
        f"Bearer {KEY} extra",
        f"Bearer {KEY} {KEY}",
        f"Bearer {KEY}\n",
        f"Bearer\n{KEY}",
        f"{KEY}",
    ],
)
def test_missing(header: str | None) -> None:
    with pytest.raises(MissingCredential):
        parse_authorization(header)


@pytest.mark.parametrize(
    "token",
    [
        "not-a-key",
        "3f6b2a1c-9d4e-1c8b-a2f1-0e5d7c9b1a23",  # version 1
        "3f6b2a1c-9d4e-5c8b-a2f1-0e5d7c9b1a23",  # version 5
        "3f6b2a1c-9d4e-4c8b-c2f1-0e5d7c9b1a23",  # Microsoft variant
        "3f6b2a1c-9d4e-4c8b-72f1-0e5d7c9b1a23",  # NCS variant
        "3f6b2a1c9d4e4c8ba2f10e5d7c9b1a23",  # no hyphens
        "{3f6b2a1c-9d4e-4c8b-a2f1-0e5d7c9b1a23}",
        "urn:uuid:3f6b2a1c-9d4e-4c8b-a2f1-0e5d7c9b1a23",
        "3f6b2a1c-9d4e-4c8b-a2f1-0e5d7c9b1a2",  # one digit short
        "a.b",
        "a.b.c.d",
        "a+b.c.d",
        "a.b/c.d",
    ],
)
def test_malformed(token: str) -> None:
    with pytest.raises(MalformedCredential):
        parse_authorization(f"Bearer {token}")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (KEY, True),
        (KEY.upper(), True),
        ("00000000-0000-4000-8000-000000000000", True),
        ("00000000-0000-4000-0000-000000000000", False),
        ("", False),
    ],
)
def test_is_uuid4(value: str, expected: bool) -> None:
    assert is_uuid4(value) is expected


def test_credential_repr_redacts_the_value() -> None:
    assert repr(Credential(CredentialKind.CLIENT_KEY, KEY)) == (
        "Credential(kind='client_key', value=<redacted>)"
    )


def test_hash_is_keyed_hmac_sha256_of_the_lower_case_key() -> None:
    secret = b"server-secret"
    expected = hmac.new(secret, KEY.encode("ascii"), hashlib.sha256).hexdigest()
    assert hash_client_key(KEY, secret) == expected
    assert hash_client_key(KEY.upper(), secret) == expected
    assert len(expected) == 64


def test_hash_depends_on_the_secret() -> None:
    assert hash_client_key(KEY, b"one") != hash_client_key(KEY, b"two")
