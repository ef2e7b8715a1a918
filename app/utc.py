"""Every datetime the service stores or answers is UTC.

SQLite hands stored datetimes back naive and the reference client sends naive UTC ISO
strings, so :func:`as_utc` reads a naive datetime as UTC; an aware one is converted.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
