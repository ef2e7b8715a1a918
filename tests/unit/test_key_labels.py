"""``encryption status`` labels: which key opens a stored value, counted not fatal."""

from __future__ import annotations

from cryptography.fernet import Fernet

from app.security.cipher import FieldCipher
from app.security.encryption import _key_label

INDEX_KEY = b"i" * 32


def test_labels_name_the_key_and_count_unreadable_values() -> None:
    old, new = Fernet(Fernet.generate_key()), Fernet(Fernet.generate_key())
    under_old = FieldCipher(INDEX_KEY, [old]).seal("alice")
    under_new = FieldCipher(INDEX_KEY, [new]).seal("alice")
    stranger = FieldCipher(INDEX_KEY, [Fernet(Fernet.generate_key())]).seal("alice")
    cipher = FieldCipher(INDEX_KEY, [new, old])
    altered = under_new[:-6] + ("AAAAAA" if not under_new.endswith("AAAAAA") else "BBBBBB")

    assert _key_label(cipher, under_new) == "key 1"
    assert _key_label(cipher, under_old) == "key 2"
    assert _key_label(cipher, "alice") == "plaintext"
    unreadable = "unreadable (altered, or under a key not configured)"
    assert _key_label(cipher, stranger) == unreadable
    assert _key_label(cipher, altered) == unreadable
    disabled = FieldCipher(INDEX_KEY)
    assert _key_label(disabled, under_new) == "encrypted (no key configured)"
    assert _key_label(disabled, "alice") == "plaintext"
