"""The service refuses to start rather than serve with unusable encryption settings.

On a database of its own: encryption on without a key or with a malformed one, a
key that cannot open the stored canary, and encryption off over encrypted data each
stop the lifespan with :class:`EncryptionConfigError`, whose message names the
setting to fix and never the key. Replicas starting together on a new database agree
on one canary.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.config import Settings
from app.security.cipher import EncryptionConfigError
from tests.api.helpers import assert_bare
from tests.protection.helpers import (
    KEY_A,
    KEY_B,
    PrivateDatabase,
    fresh_database,
    http_client,
    running,
)

GENERATE = (
    'generate one with `python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"`'
)
NO_KEY = f"AUTH_ENABLE_ENCRYPTION=true needs AUTH_ENCRYPTION_KEY: {GENERATE}"
WRONG_KEY = (
    "AUTH_ENCRYPTION_KEY cannot decrypt the stored data (the canary did not open): "
    "configure the key the data was encrypted with, newest key first"
)
ENCRYPTED_BUT_OFF = (
    "the database holds encrypted data but AUTH_ENABLE_ENCRYPTION is off: "
    "set AUTH_ENABLE_ENCRYPTION=true and AUTH_ENCRYPTION_KEY"
)


def malformed(position: int) -> str:
    return (
        f"AUTH_ENCRYPTION_KEY entry {position} is not a Fernet key (32 url-safe "
        "base64-encoded bytes); generate one with Fernet.generate_key()"
    )


async def refusal(settings: Settings) -> str:
    with pytest.raises(EncryptionConfigError) as caught:
        async with running(settings):
            pytest.fail("the service started")
    message = str(caught.value)
    for key in (KEY_A, KEY_B):
        assert key not in message
    return message


async def test_start_up_refusals(private_database: PrivateDatabase) -> None:
    database = private_database
    on = {"enable_encryption": True}
    assert await refusal(database.settings(**on)) == NO_KEY
    assert await refusal(database.settings(**on, encryption_key="")) == NO_KEY
    assert await refusal(database.settings(**on, encryption_key=" , ")) == (
        f"AUTH_ENCRYPTION_KEY is empty: {GENERATE}"
    )
    assert await refusal(database.settings(**on, encryption_key="not-a-key")) == malformed(1)
    assert await refusal(database.settings(**on, encryption_key=f"{KEY_A},{KEY_A[:-2]}")) == (
        malformed(2)
    )

    client_key = "5f0c7a52-3a43-4d2c-9c1a-6c8b8e0d7e11"
    settings = database.settings(**on, encryption_key=KEY_A)
    async with running(settings) as app, http_client(app, client_key) as api:
        assert_bare(await api.post("/api/role/ops"), True)
        assert_bare(await api.post("/api/membership/ann/ops"), True)

    assert await refusal(database.settings(**on, encryption_key=KEY_B)) == WRONG_KEY
    assert await refusal(database.settings()) == ENCRYPTED_BUT_OFF
    assert await refusal(database.settings(enable_encryption=False, encryption_key=KEY_A)) == (
        ENCRYPTED_BUT_OFF
    )

    settings = database.settings(**on, encryption_key=f"{KEY_B},{KEY_A}")
    async with running(settings) as app, http_client(app, client_key) as api:
        assert_bare(await api.get("/api/members/ops"), [{"user": "ann", "role": "ops"}])


async def race(database: PrivateDatabase, keys: list[str]) -> list[str]:
    """Start one replica per key at once; each answers ``"started"`` or its refusal.
    A replica that started stays up until every start has been decided, so that each
    start races the others' running apps."""
    decided = asyncio.Barrier(len(keys))

    async def start(key: str) -> str:
        settings = database.settings(enable_encryption=True, encryption_key=key)
        try:
            async with running(settings):
                await asyncio.wait_for(decided.wait(), 60)
        except EncryptionConfigError as exc:
            await asyncio.wait_for(decided.wait(), 60)
            return str(exc)
        return "started"

    return list(await asyncio.gather(*(start(key) for key in keys)))


async def test_replicas_starting_together(backend: str, tmp_path: Path) -> None:
    """On a new database the first start writes the canary; replicas racing it start
    too with the same key or are refused with another key, and none crashes."""
    async with fresh_database(backend, tmp_path / "same") as database:
        assert await race(database, [KEY_A] * 3) == ["started"] * 3
    async with fresh_database(backend, tmp_path / "different") as database:
        different = await race(database, [KEY_A, KEY_B])
        assert sorted(different) == sorted(["started", WRONG_KEY])
