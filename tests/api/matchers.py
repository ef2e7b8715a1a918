"""Stand-ins for the values of an expected body that the server makes up.

An expected body is written out in full; where the contract fixes a value's shape but
not the value itself (a minted key, an id, a time), one of these stands in for it.
Each compares equal to exactly the values of its shape, so
``response.json()["data"] == {"new_key": UUID4, "migrated": {...}}`` checks everything
the contract says. A failed comparison prints the stand-in's name.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta


class Shaped:
    """Equal to any value ``accepts`` holds for; shown as ``<name>``."""

    __hash__ = None  # type: ignore[assignment]  # compares by shape: unhashable

    def __init__(self, name: str, accepts: Callable[[object], bool]) -> None:
        self.name = name
        self.accepts = accepts

    def __eq__(self, other: object) -> bool:
        return self.accepts(other)

    def __repr__(self) -> str:
        return f"<{self.name}>"


def matching(pattern: str, name: str | None = None) -> Shaped:
    """A string that matches ``pattern`` in full."""
    compiled = re.compile(pattern)
    return Shaped(
        name or pattern, lambda value: isinstance(value, str) and bool(compiled.fullmatch(value))
    )


def _is_uuid4(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return False
    return str(parsed) == value and parsed.version == 4


def _is_utc_timestamp(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    return parsed.utcoffset() == timedelta(0)


UUID4 = Shaped("UUID4, lower case", _is_uuid4)
UTC_TIMESTAMP = Shaped("ISO-8601 UTC timestamp", _is_utc_timestamp)
POSITIVE_INT = Shaped("positive int", lambda value: type(value) is int and value > 0)
API_KEY = matching(r"rak_[0-9A-Za-z]{43}", "API-key secret rak_<43 base62>")
API_KEY_PREFIX = matching(r"rak_[0-9A-Za-z]{8}", "API-key prefix rak_<8>")
ROTATE_KEY = matching(r"rrk_[0-9A-Za-z]{43}", "rotate key rrk_<43 base62>")
JWT = matching(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", "JWT")


def instant(value: str | datetime) -> Shaped:
    """A UTC timestamp naming the same instant as ``value`` (its spelling may differ:
    ``Z`` or ``+00:00``, trailing zeros)."""
    expected = datetime.fromisoformat(value) if isinstance(value, str) else value
    return Shaped(
        f"UTC timestamp at {expected.isoformat()}",
        lambda found: _is_utc_timestamp(found) and datetime.fromisoformat(str(found)) == expected,
    )
