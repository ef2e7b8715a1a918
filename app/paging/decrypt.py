"""Opening a page of stored values without stalling other requests.

Fernet decryption is CPU work done while holding the GIL for most of its time. A
page is at most :data:`~app.paging.request.MAX_LIMIT` rows; when it holds more than
:data:`OFF_LOOP_THRESHOLD` ciphertexts, the batch runs in a worker thread
(:func:`asyncio.to_thread`), so the event loop keeps serving other tenants' requests
between the interpreter's thread switches (every 5 ms) instead of waiting for the
whole batch. Small batches are opened inline: a thread hop costs more than they do.
Plaintext values (encryption off) are returned as they are, without a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from app.security.cipher import ENCRYPTED_PREFIX, FieldCipher

OFF_LOOP_THRESHOLD = 32


def _encrypted_count(values: Sequence[str | None]) -> int:
    return sum(1 for value in values if value is not None and value.startswith(ENCRYPTED_PREFIX))


async def open_all_optional(cipher: FieldCipher, values: Sequence[str | None]) -> list[str | None]:
    """``cipher.open_optional`` of each value, in order."""

    def work() -> list[str | None]:
        return [cipher.open_optional(value) for value in values]

    if _encrypted_count(values) > OFF_LOOP_THRESHOLD:
        return await asyncio.to_thread(work)
    return work()


async def open_all(cipher: FieldCipher, values: Sequence[str]) -> list[str]:
    """``cipher.open`` of each value, in order."""

    def work() -> list[str]:
        return [cipher.open(value) for value in values]

    if _encrypted_count(values) > OFF_LOOP_THRESHOLD:
        return await asyncio.to_thread(work)
    return work()
