"""Listing cursors (sealed, bound, shape-checked) and off-loop decryption of pages."""

from __future__ import annotations

import threading

import pytest
from cryptography.fernet import Fernet

from app.paging.cursor import CursorCodec, InvalidCursor, binding
from app.paging.decrypt import OFF_LOOP_THRESHOLD, open_all, open_all_optional
from app.paging.request import Page, Window
from app.security.cipher import FieldCipher

SECRET = b"unit-test-key-hash-secret-0123456789"


def test_a_cursor_opens_where_it_was_sealed() -> None:
    codec = CursorCodec(SECRET)
    bound = binding(7, "/api/members/editors", [])
    cursor = codec.seal(bound, ("alice", 42))
    assert "=" not in cursor
    assert "alice" not in cursor
    assert codec.open(bound, cursor, (str, int)) == ("alice", 42)


@pytest.mark.parametrize(
    ("tenant", "path", "filters"),
    [
        (8, "/api/members/editors", []),
        (7, "/api/members/viewers", []),
        (7, "/api/members/editors", [("action", "x")]),
    ],
)
def test_a_cursor_is_refused_elsewhere(
    tenant: int, path: str, filters: list[tuple[str, str]]
) -> None:
    codec = CursorCodec(SECRET)
    cursor = codec.seal(binding(7, "/api/members/editors", []), ("alice",))
    with pytest.raises(InvalidCursor):
        codec.open(binding(tenant, path, filters), cursor, (str,))


def test_filters_bind_in_any_order() -> None:
    assert binding(1, "/api/audit", [("a", "1"), ("b", "2")]) == binding(
        1, "/api/audit", [("b", "2"), ("a", "1")]
    )


def test_forged_altered_and_misshapen_cursors_are_refused() -> None:
    codec = CursorCodec(SECRET)
    bound = binding(1, "/api/roles", [])
    cursor = codec.seal(bound, ("editors",))
    altered = cursor[:30] + ("B" if cursor[30] != "B" else "C") + cursor[31:]
    foreign = CursorCodec(b"another-secret-of-another-server-xx").seal(bound, ("editors",))
    unsealed = Fernet(Fernet.generate_key()).encrypt(b'{"b":"x","p":["a"]}').decode()
    for bad in (altered, cursor[:-3], foreign, unsealed, "", "A" * 2000, "%%%"):
        with pytest.raises(InvalidCursor):
            codec.open(bound, bad, (str,))
    for shape in ((int,), (str, str), ()):
        with pytest.raises(InvalidCursor):
            codec.open(bound, cursor, shape)


def test_window_cut_reports_the_continuation() -> None:
    window = Window(limit=2)
    assert window.fetch == 3
    assert window.cut(["a", "b", "c"], lambda row: (row,)) == Page(["a", "b"], ("b",))
    assert window.cut(["a", "b"], lambda row: (row,)) == Page(["a", "b"], None)


class ThreadRecordingCipher(FieldCipher):
    def __init__(self) -> None:
        super().__init__(b"index-key", [Fernet(Fernet.generate_key())])
        self.threads: set[int] = set()

    def open(self, stored: str) -> str:
        self.threads.add(threading.get_ident())
        return super().open(stored)


async def test_large_pages_are_opened_off_the_event_loop() -> None:
    cipher = ThreadRecordingCipher()
    loop_thread = threading.get_ident()
    sealed = [cipher.seal(f"user-{n}") for n in range(OFF_LOOP_THRESHOLD + 1)]
    assert await open_all(cipher, sealed) == [f"user-{n}" for n in range(len(sealed))]
    assert cipher.threads
    assert loop_thread not in cipher.threads

    cipher.threads.clear()
    small = sealed[:OFF_LOOP_THRESHOLD]
    assert await open_all_optional(cipher, [*small, None]) == [
        *(f"user-{n}" for n in range(len(small))),
        None,
    ]
    assert cipher.threads == {loop_thread}


async def test_plaintext_pages_stay_on_the_loop() -> None:
    cipher = ThreadRecordingCipher()
    values = [f"user-{n}" for n in range(OFF_LOOP_THRESHOLD * 4)]
    assert await open_all(cipher, values) == values
    assert cipher.threads == {threading.get_ident()}
