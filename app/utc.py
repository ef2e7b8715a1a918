"""Every datetime the service stores or answers is UTC.

SQLite hands stored datetimes back naive and the reference client sends naive UTC ISO
strings, so :func:`as_utc` reads a naive datetime as UTC; an aware one is converted.
Request input goes through :data:`RequestUtcDateTime`, which refuses times that have
no UTC equivalent instead of letting the conversion overflow, and anything that is not an
ISO-8601 date and time (a number or a numeric string would otherwise be read as a Unix
timestamp, which ``/openapi.json`` does not document).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

# A date and a time, as ISO-8601 and RFC 3339 write them (naive is allowed: UTC).
_ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


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


def iso_date_time(value: Any) -> Any:
    """Let only an ISO-8601 date-time string (or a ``datetime``) through: ``ValueError``
    for a number, a numeric string or a bare date."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE_TIME.match(value):
        raise ValueError("expected an ISO-8601 date-time such as 2030-01-31T00:00:00Z")
    return value


RequestUtcDateTime = Annotated[
    datetime, BeforeValidator(iso_date_time), AfterValidator(checked_utc)
]
"""A date-time in a request (body or query): naive means UTC; always returned in UTC."""
