"""What a listing's service takes and returns: a :class:`Window` and a :class:`Page`.

The limits of every listing (:data:`MAX_LIMIT`, :data:`DEFAULT_LIMIT`,
:data:`AUDIT_DEFAULT_LIMIT`) live here too. Nothing here knows HTTP, so the services
and the operator commands built on them do not import FastAPI;
:mod:`app.paging.request` turns a request into a window and a page into its answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from app.paging.cursor import Position

MAX_LIMIT = 1000
DEFAULT_LIMIT = 1000
AUDIT_DEFAULT_LIMIT = 50

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing: ``next`` is the position to continue after, or ``None``."""

    items: list[T]
    next: Position | None = None


@dataclass(frozen=True, slots=True)
class Window:
    """What a service fetches: up to ``limit`` entries after ``after`` (sort key order)."""

    limit: int = DEFAULT_LIMIT
    after: Position | None = None

    @property
    def fetch(self) -> int:
        """Rows to ask the database for: one more than the page, to know if more follow."""
        return self.limit + 1

    def cut(self, rows: Sequence[R], key: Callable[[R], Position]) -> Page[R]:
        """The page of ``rows`` (fetched with :attr:`fetch`) and its continuation."""
        if len(rows) <= self.limit:
            return Page(list(rows))
        kept = list(rows[: self.limit])
        return Page(kept, key(kept[-1]))
