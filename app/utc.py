"""Every datetime the service stores or answers is UTC.

SQLite hands stored datetimes back naive and the reference client sends naive UTC ISO
strings, so :func:`as_utc` reads a naive datetime as UTC; an aware one is converted.
Request input goes through :data:`RequestUtcDateTime`, which refuses times that have
no UTC equivalent instead of letting the conversion overflow.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def checked_utc(value: datetime) -> datetime:
    """:func:`as_utc` for request input: a time with no UTC equivalent (year 1 east of
    UTC, year 9999 west of it) raises ``ValueError``, so validation answers 400."""
    try:
        return as_utc(value)
    except OverflowError as exc:
        raise ValueError("date-time is out of range once converted to UTC") from exc


RequestUtcDateTime = Annotated[datetime, AfterValidator(checked_utc)]
"""A date-time in a request (body or query): naive means UTC; always returned in UTC."""
