"""Keyset (cursor) pagination shared by every listing.

* :mod:`app.paging.window`: the :class:`Window` a service fetches and the
  :class:`Page` it returns, and the limits of every listing.
* :mod:`app.paging.cursor`: opaque, authenticated cursors bound to one tenant and one
  listing (path and filters).
* :mod:`app.paging.request`: the ``limit``/``cursor`` query parameters as one
  dependency, and the ``Link: <...>; rel="next"`` header of a page with more after it.
* :mod:`app.paging.decrypt`: opening a page of ciphertexts without blocking the event
  loop.

The names of :mod:`app.paging.request` are imported from it on first use: it needs
FastAPI, which the services and the operator commands built on them never import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.paging.cursor import CursorCodec, InvalidCursor
from app.paging.decrypt import open_all, open_all_optional
from app.paging.window import AUDIT_DEFAULT_LIMIT, DEFAULT_LIMIT, MAX_LIMIT, Page, Window

if TYPE_CHECKING:
    from app.paging.request import PageDep, PageRequest, listing_responses, paging

_FROM_REQUEST = frozenset({"PageDep", "PageRequest", "listing_responses", "paging"})

__all__ = [
    "AUDIT_DEFAULT_LIMIT",
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "CursorCodec",
    "InvalidCursor",
    "Page",
    "PageDep",
    "PageRequest",
    "Window",
    "listing_responses",
    "open_all",
    "open_all_optional",
    "paging",
]


def __getattr__(name: str) -> object:
    if name in _FROM_REQUEST:
        from app.paging import request

        return getattr(request, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
