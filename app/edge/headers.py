"""Security headers on every response (security guide, contract section 7).

Set by :class:`~app.edge.envelope.EdgeEnvelope`, outside Starlette's
``ServerErrorMiddleware`` so that 500 answers and the refusals of the other edge layers
carry them too. Each header below replaces any value an inner layer set:

* ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
  ``X-XSS-Protection: 1; mode=block`` (as the security guide lists it; browsers that
  still run the XSS auditor get block mode, the others ignore it),
  ``Strict-Transport-Security: max-age=31536000; includeSubDomains``,
  ``Referrer-Policy: no-referrer``.
* ``Content-Security-Policy: default-src 'self'`` everywhere except the three
  documentation pages, which get the narrowest policy under which they render (checked
  in headless Chromium, ``tests/edge/test_docs_browser.py``): Swagger UI needs ``data:``
  images (its stylesheet's icons); ReDoc needs ``data:`` images, inline styles
  (styled-components) and a ``blob:`` worker (its search index); the OAuth2 redirect
  page is FastAPI's page with one inline script, allowed by its SHA-256 hash only. No
  page allows inline or remote scripts, and nothing loads from another origin (ReDoc's
  remote "Redocly" logo is blocked on purpose).
* ``Cache-Control: no-store`` on ``/api`` answers: they are tenant data or secrets.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi.openapi.docs import get_swagger_ui_oauth2_redirect_html

API_CSP = "default-src 'self'"
_DOCS_BASE = "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
SWAGGER_UI_CSP = f"default-src 'self'; img-src 'self' data:; {_DOCS_BASE}"
REDOC_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    f"worker-src 'self' blob:; {_DOCS_BASE}"
)

STATIC_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-XSS-Protection": "1; mode=block",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Referrer-Policy": "no-referrer",
}


def inline_script_hashes(html: str) -> list[str]:
    """CSP source expressions (``'sha256-...'``) of every inline ``<script>`` in ``html``."""
    bodies = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in bodies
    ]


def _oauth2_redirect_csp() -> str:
    html = bytes(get_swagger_ui_oauth2_redirect_html().body).decode()
    hashes = " ".join(inline_script_hashes(html))
    return f"default-src 'none'; script-src {hashes}; base-uri 'none'; frame-ancestors 'none'"


def docs_policies() -> dict[str, str]:
    """The documentation pages and their Content-Security-Policy."""
    return {
        "/docs": SWAGGER_UI_CSP,
        "/redoc": REDOC_CSP,
        "/docs/oauth2-redirect": _oauth2_redirect_csp(),
    }
