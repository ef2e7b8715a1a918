"""The ``limit`` and ``cursor`` query parameters of every listing, and its next link.

Contract (``/openapi.json`` repeats it on each listing):

* ``limit``: 1..:data:`MAX_LIMIT` entries per answer. Without it a listing answers its
  first :data:`DEFAULT_LIMIT` entries (the audit trail: :data:`AUDIT_DEFAULT_LIMIT`).
* ``cursor``: opaque; taken from the previous answer. A cursor that is malformed,
  forged, or issued to another tenant or listing answers 400 problem+json.
* When more entries follow, the answer carries ``Link: <path?...&cursor=...>;
  rel="next"`` (RFC 8288; a path-absolute reference that keeps the request's other
  parameters), and wrapped listings carry ``data.next_cursor``. The last page carries
  neither. Nothing is ever cut silently.

Services take a :class:`Window` (``limit`` and the decoded position) and return a
:class:`Page` whose ``next`` is the position of its last entry when more follow
(both from :mod:`app.paging.window`, which services import without FastAPI).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Query, Request, Response

from app.deps import PrincipalDep, StateDep
from app.errors import BadRequest
from app.paging.cursor import (
    MAX_CURSOR_LENGTH,
    CursorCodec,
    InvalidCursor,
    binding,
    codec_for,
)
from app.paging.window import AUDIT_DEFAULT_LIMIT as AUDIT_DEFAULT_LIMIT
from app.paging.window import DEFAULT_LIMIT as DEFAULT_LIMIT
from app.paging.window import MAX_LIMIT as MAX_LIMIT
from app.paging.window import Page as Page
from app.paging.window import Window as Window

# Query parameters that choose the page, not the listing: a cursor stays valid across them.
PAGE_PARAMETERS = frozenset({"limit", "cursor", "offset"})
_PATH_SAFE = "/@+:-._~"


@dataclass(slots=True)
class PageRequest:
    """The caller's ``limit``/``cursor``, bound to its tenant and listing."""

    limit: int
    cursor: str | None
    codec: CursorCodec
    bound_to: str
    request: Request
    response: Response
    issued: str | None = field(default=None)

    def window(self, *shape: type, offset: int = 0) -> Window:
        """The window to fetch; ``shape`` is the listing's sort-key types. ``offset``:
        the older ``offset`` parameter of a listing that still takes one (the audit
        trail), which names another starting point, so it may not come with a cursor.
        A bad cursor, or a cursor with an offset, raises :class:`~app.errors.BadRequest`
        (400)."""
        if self.cursor is not None and offset:
            raise BadRequest("Use either cursor or offset, not both.")
        if self.cursor is None:
            return Window(self.limit)
        try:
            after = self.codec.open(self.bound_to, self.cursor, shape)
        except InvalidCursor as exc:
            raise BadRequest(
                "Invalid cursor: use the cursor of a previous answer of this same listing, "
                "or start again without one."
            ) from exc
        return Window(self.limit, after)

    def finish(self, page: Page[Any]) -> str | None:
        """Set the ``Link`` header when more follow; return the next cursor (or ``None``)."""
        if page.next is None:
            return None
        cursor = self.codec.seal(self.bound_to, page.next)
        self.response.headers["Link"] = f'<{self.next_link(cursor)}>; rel="next"'
        self.issued = cursor
        return cursor

    def next_link(self, cursor: str) -> str:
        url = self.request.url.remove_query_params(["cursor", "offset"]).include_query_params(
            cursor=cursor
        )
        return f"{quote(self.request.url.path, safe=_PATH_SAFE)}?{url.query}"


def _limit_description(default: int) -> str:
    return (
        f"Entries per answer, 1 to {MAX_LIMIT}. Without it the first {default} are "
        'answered; when more follow, the answer carries `Link: <...>; rel="next"`.'
    )


CURSOR_DESCRIPTION = (
    "Opaque: copy it from the previous answer's `Link` header (or `data.next_cursor`). "
    "A cursor of another tenant or listing, or an altered one, answers 400."
)


CURSOR_QUERY: Any = Query(
    None,
    min_length=1,
    max_length=MAX_CURSOR_LENGTH,
    pattern=r"^[A-Za-z0-9_-]+$",
    description=CURSOR_DESCRIPTION,
)


def paging(default_limit: int) -> Callable[..., Awaitable[PageRequest]]:
    """A dependency reading ``limit`` (default ``default_limit``) and ``cursor``."""

    async def page_request(
        request: Request,
        response: Response,
        principal: PrincipalDep,
        state: StateDep,
        # Plain defaults, not Annotated: the limit's description depends on the factory's
        # argument, which a postponed annotation could not see.
        limit: int | None = Query(
            None, ge=1, le=MAX_LIMIT, description=_limit_description(default_limit)
        ),
        cursor: str | None = CURSOR_QUERY,
    ) -> PageRequest:
        filters = [
            (name, value)
            for name, value in request.query_params.multi_items()
            if name not in PAGE_PARAMETERS
        ]
        return PageRequest(
            limit=limit or default_limit,
            cursor=cursor,
            codec=codec_for(state.secrets.key_hash),
            bound_to=binding(principal.tenant_id, request.url.path, filters),
            request=request,
            response=response,
        )

    return page_request


PageDep = Annotated[PageRequest, Depends(paging(DEFAULT_LIMIT))]

LINK_HEADER = {
    "Link": {
        "description": 'Present when more entries follow: `<path?...&cursor=...>; rel="next"` '
        "(RFC 8288). Absent on the last page.",
        "schema": {"type": "string"},
    }
}


def listing_responses(example: Any = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for a listing's 200: the ``Link`` header (and an example)."""
    answer: dict[str, Any] = {"headers": LINK_HEADER}
    if example is not None:
        answer["content"] = {"application/json": {"example": example}}
    return {200: answer}
