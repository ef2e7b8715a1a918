"""Opening a page of stored values without stalling other requests.

Fernet decryption is CPU work done while holding the GIL for most of its time. A
page is at most :data:`~app.paging.request.MAX_LIMIT` rows; when it holds more than
:data:`OFF_LOOP_THRESHOLD` ciphertexts, the batch runs in a worker thread
(:func:`asyncio.to_thread`), so the event loop keeps serving other tenants' requests
between the interpreter's thread switches (every 5 ms) instead of waiting for the
whole batch. Small batches are opened inline: a thread hop costs more than they do.
Plaintext values (encryption off) are returned as they are, without a thread.

At most :data:`OFF_LOOP_BATCHES` such batches run at once per event loop, first come
first served: every thread holding the GIL delays the loop by up to one switch
interval per await, so four concurrent listings in four threads would slow every
other request four times as much as one. Listings queue behind each other instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TypeVar
from weakref import WeakKeyDictionary

from app.security.cipher import ENCRYPTED_PREFIX, FieldCipher

OFF_LOOP_THRESHOLD = 32
OFF_LOOP_BATCHES = 1

T = TypeVar("T")
_turns: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = WeakKeyDictionary()


async def _off_loop(work: Callable[[], T]) -> T:
    loop = asyncio.get_running_loop()
    turn = _turns.get(loop)
    if turn is None:
        turn = _turns[loop] = asyncio.Semaphore(OFF_LOOP_BATCHES)
    async with turn:
        return await asyncio.to_thread(work)


def _encrypted_count(values: Sequence[str | None]) -> int:
    return sum(1 for value in values if value is not None and value.startswith(ENCRYPTED_PREFIX))


async def open_all_optional(cipher: FieldCipher, values: Sequence[str | None]) -> list[str | None]:
    """``cipher.open_optional`` of each value, in order."""

    def work() -> list[str | None]:
        return [cipher.open_optional(value) for value in values]

    if _encrypted_count(values) > OFF_LOOP_THRESHOLD:
        return await _off_loop(work)
    return work()


async def open_all(cipher: FieldCipher, values: Sequence[str]) -> list[str]:
    """``cipher.open`` of each value, in order."""

    def work() -> list[str]:
        return [cipher.open(value) for value in values]

    if _encrypted_count(values) > OFF_LOOP_THRESHOLD:
        return await _off_loop(work)
    return work()
