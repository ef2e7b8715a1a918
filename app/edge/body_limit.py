"""Request body size limit (``AUTH_MAX_BODY_BYTES``): 413 problem+json.

Pure ASGI. Every body this service accepts is a small JSON document or form, so the
limit is checked before any inner layer runs:

* ``Content-Length`` present: larger than the limit is refused at once, without
  reading the body; otherwise the server's framing already bounds the body and the
  request passes through untouched.
* No ``Content-Length`` (chunked transfer, HTTP/2 streams): the body is read here, up
  to the limit plus one byte. Over the limit is refused and the rest is never read;
  otherwise the buffered body is replayed to the application as one message.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import problem_response


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.strip().isdigit():
            if int(declared) > self.max_body_bytes:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return

        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._refuse(scope, receive, send)
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

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413,
            f"The request body exceeds {self.max_body_bytes} bytes.",
            slug="body-too-large",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)
