"""The service's edge: what happens to a request before a route sees it, and the
observability around it. :func:`~app.edge.stack.install_edge` wires it all, the gate included;
``create_app`` calls it.

Order, outermost first (every refusal below is problem+json):

1. :mod:`~app.edge.envelope`, one layer: accepts or mints ``X-Request-ID`` (echoed,
   and in every log line of the request), sets the security headers
   (:mod:`~app.edge.headers`), and writes the access log line and the request
   metrics (:mod:`~app.edge.telemetry`). It wraps Starlette's
   ``ServerErrorMiddleware``, so an unexpected 500 still carries the request id and
   the security headers, and is logged and counted. Everything below runs inside it,
   as ordinary middleware:

2. uvicorn's ``ProxyHeadersMiddleware``: ``X-Forwarded-For``/``-Proto`` from
   ``AUTH_FORWARDED_ALLOW_IPS`` only.
3. :mod:`~app.edge.hosts`: ``AUTH_ALLOWED_HOSTS`` (400).
4. :mod:`~app.edge.body_limit`: ``AUTH_MAX_BODY_BYTES`` (413), and
   ``AUTH_BULK_MAX_BODY_BYTES`` for ``POST /api/bulk`` alone.
5. :mod:`~app.edge.cors`: when ``AUTH_ALLOW_CORS`` (answers preflights itself).
6. the gate (:mod:`app.security.gate`): authenticates the credential once (401/400)
   and applies :mod:`~app.edge.rate_limit` when ``AUTH_RATE_LIMIT_ENABLED`` (429);
   then the routes.

``GET /metrics`` (:mod:`~app.edge.metrics`) is added here too.
"""
