"""The service refuses to start rather than serve with unusable encryption settings.

On a database of its own: encryption on without a key or with a malformed one, a
key that cannot open the stored canary, and encryption off over encrypted data each
stop the lifespan with :class:`EncryptionConfigError`, whose message names the
setting to fix and never the key.
"""

from __future__ import annotations

import pytest

from app.config import Settings
from app.security.cipher import EncryptionConfigError
from tests.api.helpers import assert_bare
from tests.protection.helpers import KEY_A, KEY_B, PrivateDatabase, http_client, running

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
