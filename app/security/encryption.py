"""Encryption at rest, operationally: building the cipher, the start-up canary, and
the batch jobs behind ``auth-server encryption status|rotate|enable``.

Start-up (:func:`check_canary`) fails loudly instead of serving wrong answers:

* encryption enabled without ``AUTH_ENCRYPTION_KEY``, or with a malformed key;
* a canary that the configured keys cannot decrypt (wrong or missing key);
* encryption disabled while the database holds encrypted data.

Batch jobs walk every encrypted column by primary key in batches of ``batch_size``
rows, each batch in its own short transaction, so they run online next to the
service, can be interrupted, and resume by running again (rows already under the
newest key are skipped). Lookups use the blind index, which these jobs never touch,
so answers stay correct throughout. They read every tenant's rows, on the
:data:`~app.db.tenant_guard.ENCRYPTION_JOBS` operator path.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.config import Settings
from app.db.engine import Database
from app.db.statements import insert_ignore
from app.db.tenant_guard import ENCRYPTION_JOBS
from app.models import ApiKey, AuditLog, EncryptionState, Grant, Membership, Role
from app.security.cipher import (
    CANARY_PLAINTEXT,
    EncryptionConfigError,
    FieldCipher,
    StoredDataCorrupt,
    parse_fernet_keys,
)
from app.security.secrets import ServerSecrets
from app.utc import utcnow

CANARY_ID = 1
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class EncryptedColumn:
    name: str
    id_column: InstrumentedAttribute[int]
    column: InstrumentedAttribute[str] | InstrumentedAttribute[str | None]
    descriptions: bool = False


ENCRYPTED_COLUMNS = (
    EncryptedColumn("memberships.user_name", Membership.id, Membership.user_name),
    EncryptedColumn("grants.permission", Grant.id, Grant.permission),
    EncryptedColumn("api_keys.user_name", ApiKey.id, ApiKey.user_name),
    EncryptedColumn("api_keys.label", ApiKey.id, ApiKey.label),
    EncryptedColumn("roles.description", Role.id, Role.description, descriptions=True),
    # Audit rows hash the plaintext resource, so re-encrypting them keeps the chain.
    EncryptedColumn("audit_log.resource", AuditLog.id, AuditLog.resource),
)


def key_fingerprints(settings: Settings) -> list[str]:
    """A short public name for each configured Fernet key, newest first (empty when
    encryption is off): 8 hex digits of a domain-separated SHA-256 of the key. It tells
    keys apart in ``encryption status`` (a rotation shows) and reveals nothing usable."""
    if not settings.enable_encryption or settings.encryption_key is None:
        return []
    raw = settings.encryption_key.get_secret_value()
    keys = [part.strip() for part in raw.split(",") if part.strip()]
    return [
        hashlib.sha256(b"auth fernet key fingerprint v1:" + key.encode()).hexdigest()[:8]
        for key in keys
    ]


def build_cipher(settings: Settings, secrets: ServerSecrets) -> FieldCipher:
    if not settings.enable_encryption:
        return FieldCipher(secrets.blind_index, encrypt_descriptions=False)
    if settings.encryption_key is None or not settings.encryption_key.get_secret_value():
        raise EncryptionConfigError(
            "AUTH_ENABLE_ENCRYPTION=true needs AUTH_ENCRYPTION_KEY: generate one with "
            '`python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"`'
        )
    return FieldCipher(
        secrets.blind_index,
        parse_fernet_keys(settings.encryption_key.get_secret_value()),
        encrypt_descriptions=settings.encrypt_role_descriptions,
    )


async def check_canary(database: Database, cipher: FieldCipher) -> None:
    """Refuse to serve with keys that cannot open the stored data (see module doc)."""
    async with database.transaction(write=cipher.enabled) as session:
        state = await session.get(EncryptionState, CANARY_ID)
        if not cipher.enabled:
            if state is not None:
                raise EncryptionConfigError(
                    "the database holds encrypted data but AUTH_ENABLE_ENCRYPTION is off: "
                    "set AUTH_ENABLE_ENCRYPTION=true and AUTH_ENCRYPTION_KEY"
                )
            return
        if state is None:
            # Replicas starting together on a new database race to write it: the first
            # wins (no error for the others), and every one checks the winner's canary.
            await _store_canary(session, cipher, replace=False)
            state = await session.get(EncryptionState, CANARY_ID, populate_existing=True)
            assert state is not None
        try:
            opened = cipher.open(state.canary)
        except StoredDataCorrupt as exc:
            raise EncryptionConfigError(
                "AUTH_ENCRYPTION_KEY cannot decrypt the stored data (the canary did not "
                "open): configure the key the data was encrypted with, newest key first"
            ) from exc
        if opened != CANARY_PLAINTEXT:
            raise EncryptionConfigError("the encryption canary holds an unexpected value")


def _key_label(cipher: FieldCipher, stored: str) -> str:
    """``plaintext``, ``key N`` (1 = newest), or why no configured key opens it."""
    if not cipher.enabled:
        return "encrypted (no key configured)" if stored.startswith("enc:") else "plaintext"
    try:
        position = cipher.key_position(stored)
    except StoredDataCorrupt:
        return "unreadable (altered, or under a key not configured)"
    return "plaintext" if position is None else f"key {position + 1}"


async def key_usage(database: Database, cipher: FieldCipher) -> dict[str, Counter[str]]:
    """Rows per key for every encrypted column: ``key 1`` (newest) ..., ``plaintext``,
    or ``unreadable`` (counted, never fatal: status is how an operator finds them)."""
    usage: dict[str, Counter[str]] = {}
    for target in ENCRYPTED_COLUMNS:
        counter: Counter[str] = Counter()
        async with database.transaction(write=False, every_tenant=ENCRYPTION_JOBS) as session:
            stream = await session.stream_scalars(
                select(target.column).where(target.column.is_not(None))
            )
            async for stored in stream:
                if stored is None:
                    continue
                counter[_key_label(cipher, stored)] += 1
        usage[target.name] = counter
    return usage


async def reencrypt(
    database: Database,
    cipher: FieldCipher,
    *,
    batch_size: int = 500,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Encrypt every value under the newest key (plaintext ones included).

    Returns rows rewritten per column. Role descriptions follow
    ``AUTH_ENCRYPT_ROLE_DESCRIPTIONS``.
    """
    if not cipher.enabled:
        raise EncryptionConfigError("set AUTH_ENABLE_ENCRYPTION=true and AUTH_ENCRYPTION_KEY first")
    rewritten: dict[str, int] = {}
    for target in ENCRYPTED_COLUMNS:
        if target.descriptions and not cipher.encrypt_descriptions:
            continue
        rewritten[target.name] = await _reencrypt_column(
            database, cipher, target, batch_size, progress
        )
    async with database.transaction(every_tenant=ENCRYPTION_JOBS) as session:
        await _store_canary(session, cipher, replace=True)
    return rewritten


async def _store_canary(session: AsyncSession, cipher: FieldCipher, *, replace: bool) -> None:
    """Write the canary under the newest key: insert it if missing (a concurrent insert
    wins without an error), and overwrite an existing one only when ``replace``."""
    values = {"canary": cipher.seal(CANARY_PLAINTEXT), "updated_at": utcnow()}
    created = await insert_ignore(session, EncryptionState, {"id": CANARY_ID, **values}, ["id"])
    if replace and not created:
        await session.execute(
            update(EncryptionState).where(EncryptionState.id == CANARY_ID).values(**values)
        )


async def _reencrypt_column(
    database: Database,
    cipher: FieldCipher,
    target: EncryptedColumn,
    batch_size: int,
    progress: Progress | None,
) -> int:
    async with database.transaction(write=False, every_tenant=ENCRYPTION_JOBS) as session:
        total = int(
            await session.scalar(select(func.count()).where(target.column.is_not(None))) or 0
        )
    done = changed = 0
    last_id = 0
    while True:
        async with database.transaction(every_tenant=ENCRYPTION_JOBS) as session:
            rows = (
                await session.execute(
                    select(target.id_column, target.column)
                    .where(target.id_column > last_id, target.column.is_not(None))
                    .order_by(target.id_column)
                    .limit(batch_size)
                )
            ).all()
            if not rows:
                break
            for row_id, stored in rows:
                if stored is not None and cipher.key_position(stored) != 0:
                    await session.execute(
                        update(target.id_column.class_)
                        .where(target.id_column == row_id, target.column == stored)
                        .values({target.column.key: cipher.reseal(stored)})
                    )
                    changed += 1
            last_id = rows[-1][0]
            done += len(rows)
        if progress is not None:
            progress(target.name, done, total)
    return changed
