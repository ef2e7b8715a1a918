"""Keyset (cursor) pagination shared by every listing.

* :mod:`app.paging.window`: the :class:`Window` a service fetches and the
  :class:`Page` it returns, and the limits of every listing.
* :mod:`app.paging.cursor`: opaque, authenticated cursors bound to one tenant and one
  listing (path and filters).
* :mod:`app.paging.request`: the ``limit``/``cursor`` query parameters as one
  dependency, and the ``Link: <...>; rel="next"`` header of a page with more after it.
* :mod:`app.paging.decrypt`: opening a page of ciphertexts without blocking the event
  loop.

The package exports what services use; routers import :mod:`app.paging.request`
themselves, since it needs FastAPI, which the services and the operator commands built
on them never import.
"""

from __future__ import annotations

from app.paging.cursor import CursorCodec, InvalidCursor
from app.paging.decrypt import open_all, open_all_optional
from app.paging.window import AUDIT_DEFAULT_LIMIT, DEFAULT_LIMIT, MAX_LIMIT, Page, Window

__all__ = [
    "AUDIT_DEFAULT_LIMIT",
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "CursorCodec",
    "InvalidCursor",
    "Page",
    "Window",
    "open_all",
    "open_all_optional",
]
