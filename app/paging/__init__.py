"""Keyset (cursor) pagination shared by every listing.

* :mod:`app.paging.cursor`: opaque, authenticated cursors bound to one tenant and one
  listing (path and filters).
* :mod:`app.paging.request`: the ``limit``/``cursor`` query parameters as one
  dependency, and the ``Link: <...>; rel="next"`` header of a page with more after it.
* :mod:`app.paging.decrypt`: opening a page of ciphertexts without blocking the event
  loop.
"""

from app.paging.cursor import CursorCodec, InvalidCursor
from app.paging.decrypt import open_all, open_all_optional
from app.paging.request import (
    AUDIT_DEFAULT_LIMIT,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    PageDep,
    PageRequest,
    Window,
    listing_responses,
    paging,
)

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
