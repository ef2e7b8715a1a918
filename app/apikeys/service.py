"""Per-user API keys.

* Secrets are ``rak_`` + 43 base62 characters from the CSPRNG, returned once; the
  database keeps their HMAC (unique) and the 12-character display prefix.
* At most :data:`MAX_ACTIVE_KEYS` live keys per user. Creation locks the tenant row
  (PostgreSQL ``FOR UPDATE``; SQLite's write transaction is already exclusive), so
  concurrent creations cannot overshoot the limit.
* Validation looks the hash up inside the caller's tenant only (the session is bound
  to it, :mod:`app.tenants.tenancy`): a key of another tenant is indistinguishable
  from an unknown one.
* ``last_used_at`` is written at most once a minute per key (one conditional UPDATE).
* With decisions audited (``AUTH_AUDIT_PERMISSION_CHECKS``), every validation and
  key permission check writes one row: a refused key (unknown, revoked, expired) is
  ``success: false`` with ``details`` ``{"valid": false, "reason", "key_id"}`` (the key
  id only when the key is known), a live key ``success: true`` with
  ``{"valid": true, "key_id"}`` plus ``allowed`` for a permission check.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from app.audit.trail import AuditTrail
from app.decisions.revision import bump_revision
from app.errors import BadRequest, Conflict, NotFound
from app.models import ApiKey, Tenant
from app.paging import Page, Window, open_all_optional
from app.security.credentials import hash_secret, mint_secret, secret_shape
from app.tenants.tenancy import Tenancy
from app.utc import as_utc, utcnow

KEY_PREFIX = "rak_"
HASH_PURPOSE = "api-key"
MAX_ACTIVE_KEYS = 25
MAX_LIFETIME = timedelta(days=365)
LAST_USED_RESOLUTION = timedelta(minutes=1)
_SHAPE = secret_shape(KEY_PREFIX)


class ValidationFailure:
    UNKNOWN = "unknown_key"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A key as shown to callers: user and label opened, never the hash."""

    key_id: str
    key_prefix: str
    user: str
    label: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def is_active(self) -> bool:
        now = utcnow()
        return self.revoked_at is None and (
            self.expires_at is None or as_utc(self.expires_at) > now
        )


@dataclass(frozen=True, slots=True)
class ValidatedKey:
    key: KeyRecord | None
    reason: str | None


def live_key_clause(now: datetime) -> ColumnElement[bool]:
    return and_(
        ApiKey.revoked_at.is_(None), or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now)
    )


def _check_expiry(expires_at: datetime, now: datetime) -> None:
    if expires_at <= now:
        raise BadRequest("expires_at must be in the future.")
    if expires_at > now + MAX_LIFETIME:
        raise BadRequest("expires_at must be at most 365 days away.")


class ApiKeyService:
    def __init__(self, tenancy: Tenancy, hash_key: bytes, audit: AuditTrail) -> None:
        self.tenancy = tenancy
        self.session = tenancy.session
        self.hash_key = hash_key
        self.audit = audit

    def _hash(self, secret: str) -> str:
        return hash_secret(secret, self.hash_key, HASH_PURPOSE)

    def _record(
        self, key: ApiKey, *, user: str | None = None, label: str | None = None
    ) -> KeyRecord:
        """``key`` as shown; ``user``/``label`` when the caller already opened them."""
        cipher = self.tenancy.cipher
        return KeyRecord(
            key_id=key.key_id,
            key_prefix=key.key_prefix,
            user=user if user is not None else cipher.open(key.user_name),
            label=label if label is not None else cipher.open_optional(key.label),
            created_at=key.created_at,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
            last_used_at=key.last_used_at,
        )

    def _owned_by(self, user: str) -> ColumnElement[bool]:
        return ApiKey.user_key == self.tenancy.user_key(user)

    async def create(
        self, user: str, label: str | None, expires_at: datetime | None
    ) -> tuple[str, KeyRecord]:
        now = utcnow()
        if expires_at is not None:
            _check_expiry(expires_at, now)
        await self.session.execute(
            select(Tenant.id).where(Tenant.id == self.tenancy.tenant_id).with_for_update()
        )
        active = await self.session.scalar(
            select(func.count())
            .select_from(ApiKey)
            .where(self._owned_by(user), live_key_clause(now))
        )
        if (active or 0) >= MAX_ACTIVE_KEYS:
            raise BadRequest(
                f"User already has {MAX_ACTIVE_KEYS} active API keys; revoke one first."
            )
        secret = mint_secret(KEY_PREFIX)
        key = ApiKey(
            tenant_id=self.tenancy.tenant_id,
            key_id=str(uuid.uuid4()),
            key_hash=self._hash(secret),
            key_prefix=secret[:12],
            user_key=self.tenancy.user_key(user),
            user_name=self.tenancy.cipher.seal(user),
            label=self.tenancy.cipher.seal(label) if label is not None else None,
            expires_at=expires_at,
            created_at=now,
        )
        self.session.add(key)
        await self.session.flush()
        await bump_revision(self.session, self.tenancy.tenant_id)
        await self.audit.record(
            "CREATE_API_KEY", "api_key", key.key_id, user=user, details={"prefix": key.key_prefix}
        )
        return secret, self._record(key)

    async def list(self, user: str, window: Window) -> Page[KeyRecord]:
        """The user's keys (live, revoked and expired) in creation order, paged by key row."""
        statement = select(ApiKey).where(self._owned_by(user))
        if window.after is not None:
            statement = statement.where(ApiKey.id > window.after[0])
        statement = statement.order_by(ApiKey.id).limit(window.fetch)
        rows = list((await self.session.execute(statement)).scalars())
        page = window.cut(rows, lambda key: (key.id,))
        labels = await open_all_optional(self.tenancy.cipher, [key.label for key in page.items])
        records = [
            self._record(key, user=user, label=label)
            for key, label in zip(page.items, labels, strict=True)
        ]
        return Page(records, page.next)

    async def _get(self, user: str, key_id: str) -> ApiKey:
        statement = select(ApiKey).where(self._owned_by(user), ApiKey.key_id == key_id.lower())
        key: ApiKey | None = (await self.session.execute(statement)).scalar_one_or_none()
        if key is None:
            raise NotFound("No such API key for this user.")
        return key

    async def shorten(self, user: str, key_id: str, expires_at: datetime) -> KeyRecord:
        key = await self._get(user, key_id)
        now = utcnow()
        if key.revoked_at is not None:
            raise Conflict("This API key is revoked.")
        _check_expiry(expires_at, now)
        if key.expires_at is not None and expires_at >= as_utc(key.expires_at):
            raise BadRequest("expires_at can only be shortened.")
        key.expires_at = expires_at
        await self.session.flush()
        await bump_revision(self.session, self.tenancy.tenant_id)
        await self.audit.record(
            "UPDATE_API_KEY",
            "api_key",
            key.key_id,
            user=user,
            details={"expires_at": expires_at.isoformat()},
        )
        return self._record(key)

    async def revoke(self, user: str, key_id: str) -> bool:
        """Revoke; returns whether the key was already revoked."""
        key = await self._get(user, key_id)
        already = key.revoked_at is not None
        if not already:
            key.revoked_at = utcnow()
            await self.session.flush()
            await bump_revision(self.session, self.tenancy.tenant_id)
        await self.audit.record(
            "REVOKE_API_KEY", "api_key", key.key_id, user=user, success=not already
        )
        return already

    async def validate(self, secret: str) -> ValidatedKey:
        result = await self._validate(secret)
        await self._record_check("VALIDATE_API_KEY", result, None)
        return result

    async def check_permission(
        self, secret: str, holds: Callable[[str], Awaitable[bool]]
    ) -> tuple[ValidatedKey, bool]:
        """Validate ``secret`` and, when it is live, ask ``holds(user)``; the audited
        decision is the permission's answer (``False`` for an invalid key)."""
        result = await self._validate(secret)
        allowed = False
        if result.reason is None and result.key is not None:
            allowed = await holds(result.key.user)
        await self._record_check(
            "CHECK_API_KEY_PERMISSION", result, allowed if result.reason is None else None
        )
        return result, allowed

    async def _record_check(self, action: str, result: ValidatedKey, allowed: bool | None) -> None:
        """One decision row (only when decisions are audited); see the module docstring."""
        if not self.audit.checks:
            return
        key = result.key
        valid = result.reason is None and key is not None
        details: dict[str, object] = {"valid": valid}
        if not valid:
            details["reason"] = result.reason or ValidationFailure.UNKNOWN
        if key is not None:
            details["key_id"] = key.key_id
        if allowed is not None:
            details["allowed"] = allowed
        await self.audit.record(
            action,
            "api_key",
            key.key_id if key is not None else None,
            user=key.user if key is not None else None,
            success=valid,
            details=details,
        )

    async def _validate(self, secret: str) -> ValidatedKey:
        if not _SHAPE.fullmatch(secret):
            return ValidatedKey(None, ValidationFailure.UNKNOWN)
        statement = select(ApiKey).where(ApiKey.key_hash == self._hash(secret))
        key = (await self.session.execute(statement)).scalar_one_or_none()
        now = utcnow()
        if key is None:
            return ValidatedKey(None, ValidationFailure.UNKNOWN)
        if key.revoked_at is not None:
            return ValidatedKey(self._record(key), ValidationFailure.REVOKED)
        if key.expires_at is not None and as_utc(key.expires_at) <= now:
            return ValidatedKey(self._record(key), ValidationFailure.EXPIRED)
        await self.session.execute(
            update(ApiKey)
            .where(
                ApiKey.id == key.id,
                or_(
                    ApiKey.last_used_at.is_(None),
                    ApiKey.last_used_at < now - LAST_USED_RESOLUTION,
                ),
            )
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
        return ValidatedKey(self._record(key), None)


def user_has_live_key(tenancy: Tenancy, user: str) -> ColumnElement[bool]:
    """``EXISTS`` clause: the user holds a live key in this tenant (strict identity)."""
    now = utcnow()
    return exists().where(ApiKey.user_key == tenancy.user_key(user), live_key_clause(now))
