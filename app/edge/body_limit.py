"""Request body size limits (``AUTH_MAX_BODY_BYTES``, ``AUTH_BULK_MAX_BODY_BYTES``):
413 problem+json.

Pure ASGI. Every body this service accepts is a small JSON document or form, except
the bulk import's, so the limit is checked before any inner layer runs:

* ``Content-Length`` present: larger than the limit is refused at once, without
  reading the body; otherwise the server's framing already bounds the body and the
  request passes through untouched.
* No ``Content-Length`` (chunked transfer, HTTP/2 streams): the body is read here, up
  to the limit plus one byte. Over the limit is refused and the rest is never read;
  otherwise the buffered body is replayed to the application as one message.

Paths with a larger limit of their own (``larger``: ``POST /api/bulk``) are never
buffered here: a declared length over their limit is refused at once, and a chunked
body is counted as the route reads it, which raises :class:`BodyTooLarge` (413) as
soon as it passes the limit. The route reads its body only after the gate has
authenticated the caller, so a large limit never makes this layer hold large bodies
for anyone.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import AppError, problem_response

SLUG = "body-too-large"


def _too_large_detail(limit: int) -> str:
    return f"The request body exceeds {limit} bytes."


class BodyTooLarge(AppError):
    """A streamed body passed its path's limit while the route read it."""

    status = 413
    slug = SLUG

    def __init__(self, limit: int) -> None:
        super().__init__(_too_large_detail(limit), headers={"Connection": "close"})


class BodySizeLimitMiddleware:
    def __init__(
        self, app: ASGIApp, max_body_bytes: int, larger: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        own_limit = self.larger.get(scope["path"])
        limit = self.max_body_bytes if own_limit is None else own_limit
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.strip().isdigit():
            if int(declared) > limit:
                await self._refuse(limit, scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if own_limit is not None:
            await self.app(scope, self._counted(receive, own_limit), send)
            return

        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(limit, scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def _counted(receive: Receive, limit: int) -> Receive:
        size = 0

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    raise BodyTooLarge(limit)
            return message

        return counted

    @staticmethod
    async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413, _too_large_detail(limit), slug=SLUG, headers={"Connection": "close"}
        )
        await response(scope, receive, send)
