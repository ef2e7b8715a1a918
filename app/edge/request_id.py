"""Request ids: accepted or minted, echoed on every response, present in every log line.

Pure ASGI, the outermost layer of the application (outside Starlette's
``ServerErrorMiddleware``, so even a 500 carries the id). The incoming
``X-Request-ID`` is kept when valid (1-128 characters of ``[A-Za-z0-9._-]``) and
replaced by a new UUID4 otherwise. The id is published through
:mod:`app.edge.context` for the duration of the request, stored in
``scope["state"]["request_id"]`` and set on the response, replacing any value an
inner layer may have set.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.edge import context
from app.edge.context import REQUEST_ID_HEADER, RequestContext, accept_request_id


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accept_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        token = context.enter(RequestContext(request_id=request_id))
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            context.leave(token)
