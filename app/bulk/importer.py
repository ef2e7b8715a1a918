"""Applying an :class:`~app.bulk.records.ImportPlan` to one tenant, in the caller's
transaction (the request's, or the CLI's): everything or, on any refusal, nothing.

Checks, all before the first write:

* every role a grant or membership names is defined in the plan or exists in the
  tenant (else :class:`UnknownRole`, 400 naming the first line that names it);
* with strict user identity on, every member holds a live API key in the tenant,
  as ``POST /api/membership`` requires (else :class:`MemberNotKeyBacked`, 409
  naming the first line of the first such user).

Writes: roles (new ones inserted; a given description replaces the stored one, in one
``UPDATE`` executemany stating the session's tenant,
:func:`~app.db.tenant_guard.session_tenant`), then grants and memberships in batches of
:data:`BATCH_ROWS`, each batch one ``INSERT ... ON CONFLICT DO NOTHING`` executemany
(existing rows are kept, so an import is idempotent and only adds). Blind-index values
and sealed values are computed in a worker thread, batch by batch, so the event loop
keeps serving; a user named in several memberships is sealed once. Role rows are read
``FOR SHARE`` on PostgreSQL before their grants and memberships are written, like the
REST writes. Then the tenant's revision is bumped once and one ``BULK_IMPORT`` audit
entry records the counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select, update

from app.apikeys.service import live_key_clause
from app.audit.trail import AuditTrail
from app.bulk.records import ImportPlan, InvalidRecord, RecordCounts
from app.db.statements import insert_many_ignore
from app.db.tenant_guard import session_tenant
from app.decisions.revision import bump_revision
from app.decisions.snapshot import NOT_KEY_BACKED
from app.errors import AppError
from app.models import ApiKey, Grant, Membership, Role
from app.tenants.tenancy import Tenancy
from app.utc import utcnow

BATCH_ROWS = 5000
REMEMBERED = 100_000
ROLE_COLUMNS = ("tenant_id", "name", "description", "created_at")
GRANT_COLUMNS = ("tenant_id", "role_id", "permission_key", "permission", "created_at")
MEMBERSHIP_COLUMNS = ("tenant_id", "role_id", "user_key", "user_name", "created_at")
Progress = Callable[[int, int], None]
"""``progress(done, total)``: grant and membership rows written so far."""


class UnknownRole(InvalidRecord):
    def __init__(self, line: int, role: str) -> None:
        super().__init__(line, f"role {role!r} is neither defined in the body nor in the tenant")


class MemberNotKeyBacked(AppError):
    """Strict identity refuses a membership of a user without a live API key."""

    status = 409
    slug = "user-not-key-backed"

    def __init__(self, line: int) -> None:
        super().__init__(
            f"line {line}: strict_users is enabled and this user has no API key; create "
            "one with POST /api/apikeys/user/{user}, or opt out with PUT /api/settings "
            '{"strict_users": false}; nothing was imported.'
        )
        self.extra = {"line": line, "reason": NOT_KEY_BACKED}


def _first(lines: dict[str, int]) -> tuple[str, int]:
    return min(lines.items(), key=lambda item: item[1])


def _batches(by_role: dict[str, list[str]], role_ids: dict[str, int]) -> Iterator[list[Any]]:
    """``[(role id, value), ...]`` in batches of at most :data:`BATCH_ROWS`."""
    batch: list[tuple[int, str]] = []
    for role, values in by_role.items():
        role_id = role_ids[role]
        for value in values:
            batch.append((role_id, value))
            if len(batch) >= BATCH_ROWS:
                yield batch
                batch = []
    if batch:
        yield batch


class BulkImporter:
    """Imports plans into one tenant (see the module docstring)."""

    def __init__(
        self,
        tenancy: Tenancy,
        audit: AuditTrail,
        *,
        strict_users: bool,
        progress: Progress | None = None,
    ) -> None:
        self.tenancy = tenancy
        self.session = tenancy.session
        self.cipher = tenancy.cipher
        self.audit = audit
        self.strict_users = strict_users
        self.progress = progress
        self._done = 0

    async def apply(self, plan: ImportPlan) -> RecordCounts:
        """Check and write ``plan``; the counts of records applied."""
        now = utcnow()
        existing = await self._role_ids(lock=False)
        missing = {
            role: line for role, line in plan.undefined_roles().items() if role not in existing
        }
        if missing:
            role, line = _first(missing)
            raise UnknownRole(line, role)
        if self.strict_users:
            await self._require_live_keys(plan, now)
        await self._write_roles(plan, existing, now)
        role_ids = await self._role_ids(lock=True)
        self._done = 0
        await self._write_grants(plan, role_ids, now)
        await self._write_memberships(plan, role_ids, now)
        await bump_revision(self.session, self.tenancy.tenant_id)
        await self.audit.record("BULK_IMPORT", "tenant", None, details=plan.counts.as_dict())
        return plan.counts

    async def _role_ids(self, *, lock: bool) -> dict[str, int]:
        statement = select(Role.name, Role.id)
        if lock:
            statement = statement.with_for_update(read=True)
        rows = (await self.session.execute(statement)).all()
        return {str(name): int(role_id) for name, role_id in rows}

    async def _require_live_keys(self, plan: ImportPlan, now: datetime) -> None:
        statement = select(ApiKey.user_key).where(live_key_clause(now)).distinct()
        backed = set((await self.session.execute(statement)).scalars())
        index = self.cipher.indexer(self.tenancy.tenant_id, "user")

        def first_refused() -> int | None:
            lines = [line for user, line in plan.user_lines.items() if index(user) not in backed]
            return min(lines) if lines else None

        line = await asyncio.to_thread(first_refused)
        if line is not None:
            raise MemberNotKeyBacked(line)

    async def _write_roles(self, plan: ImportPlan, existing: dict[str, int], now: datetime) -> None:
        seal = self.cipher.seal_description
        tenant_id = self.tenancy.tenant_id
        new = [
            (tenant_id, role, seal(text), now)
            for role, text in plan.roles.items()
            if role not in existing
        ]
        await insert_many_ignore(self.session, Role, ROLE_COLUMNS, new, ["tenant_id", "name"])
        described = [
            {"b_name": role, "b_description": seal(text)}
            for role, text in plan.roles.items()
            if role in existing and text is not None
        ]
        if described:
            table = Role.__table__
            assert isinstance(table, Table)
            statement = (
                update(table)
                .where(session_tenant(table))
                .where(table.c.name == bindparam("b_name"))
                .values(description=bindparam("b_description"))
            )
            await self.session.execute(statement, described)

    def _advance(self, rows: int, total: int) -> None:
        self._done += rows
        if self.progress is not None:
            self.progress(self._done, total)

    async def _write_grants(
        self, plan: ImportPlan, role_ids: dict[str, int], now: datetime
    ) -> None:
        tenant_id = self.tenancy.tenant_id
        stored = self._stored("permission")

        def rows(batch: list[tuple[int, str]]) -> list[tuple[Any, ...]]:
            return [(tenant_id, role_id, *stored(permission), now) for role_id, permission in batch]

        for batch in _batches(plan.grants, role_ids):
            values = await asyncio.to_thread(rows, batch)
            await insert_many_ignore(
                self.session, Grant, GRANT_COLUMNS, values, ["role_id", "permission_key"]
            )
            self._advance(len(batch), plan.rows)

    async def _write_memberships(
        self,
        plan: ImportPlan,
        role_ids: dict[str, int],
        now: datetime,
    ) -> None:
        tenant_id = self.tenancy.tenant_id
        stored = self._stored("user")

        def rows(batch: list[tuple[int, str]]) -> list[tuple[Any, ...]]:
            return [(tenant_id, role_id, *stored(user), now) for role_id, user in batch]

        conflict = ["tenant_id", "user_key", "role_id"]
        for batch in _batches(plan.memberships, role_ids):
            values = await asyncio.to_thread(rows, batch)
            await insert_many_ignore(self.session, Membership, MEMBERSHIP_COLUMNS, values, conflict)
            self._advance(len(batch), plan.rows)

    def _stored(self, field: str) -> Callable[[str], tuple[str, str]]:
        """``(blind index, sealed value)`` of a value of ``field``, computed once per
        distinct value while at most :data:`REMEMBERED` are remembered (one ciphertext
        per value per import: equal values are linkable through their index anyway)."""
        index = self.cipher.indexer(self.tenancy.tenant_id, field)
        seal = self.cipher.seal
        remembered: dict[str, tuple[str, str]] = {}

        def stored(value: str) -> tuple[str, str]:
            pair = remembered.get(value)
            if pair is None:
                pair = (index(value), seal(value))
                if len(remembered) >= REMEMBERED:
                    remembered.clear()
                remembered[value] = pair
            return pair

        return stored
