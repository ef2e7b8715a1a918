"""The route security table: every route of the app, by method, with its access class
and what it answers tenant A (seeded by :func:`~tests.api.security_owner.seed_owner`)
and another tenant B.

A route the app serves but :data:`ROUTES` does not declare fails
``tests/api/test_route_security.py``; so does an entry the app no longer serves. To
declare a route, add a :class:`Route`: its access class (``tests/api/security_cases.py``
says what each lets in), a request that would succeed (path parameters naming A's data,
a valid body), A's answer and, for routes behind the gate, B's answer to that same
request (the contract's not-found or empty answer: never A's data). Set ``changes`` when
a success changes the tenant: a success then runs on a tenant of its own, and every
other request is followed by the read (``intact``) that shows A unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.matchers import (
    JWT,
    POSITIVE_INT,
    ROTATE_KEY,
    UTC_TIMESTAMP,
    UUID4,
    Shaped,
    instant,
    matching,
)
from tests.api.security_cases import NOT_FOUND, Access, Answer, Bare, Document, Json, Wrapped
from tests.api.security_owner import NDJSON, SEED_EXPORT, SEEDED, Owner, created_key, listed_key

STATIC_METHODS = ("GET", "HEAD")
"""What a mounted ``StaticFiles`` directory answers (a mount declares no methods)."""

Per = Callable[[Owner], Answer]
"""An answer that names A's data (key ids, secrets)."""


@dataclass(frozen=True)
class Probe:
    """A read as A (its client key), and the answer A's data gives while unchanged."""

    path: str
    answer: Answer | Per

    def expected(self, owner: Owner) -> Answer:
        return self.answer(owner) if callable(self.answer) else self.answer


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    access: Access
    own: Answer | Per
    """What tenant A's credentials get (for routes outside the gate: any header)."""
    others: Answer | Per | None = None
    """What tenant B's client key gets for the same request (routes behind the gate)."""
    path: str | None = None
    """The template filled in (``str.format`` with ``o``, the :class:`Owner`); default:
    the template itself."""
    json: Callable[[Owner], Any] | None = None
    ndjson: str | None = None
    changes: bool = False
    """A success changes the tenant (or spends a credential its body presents)."""
    intact: Probe | None = None
    """The read that shows A unchanged; default: A's export."""
    seeded: bool = True
    """The answers need A's data; otherwise a bare tenant serves when one of its own
    is needed."""
    prepare: Callable[[Owner], Awaitable[object]] | None = None
    """Issues what the body presents, before the request."""

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.template

    def url(self, owner: Owner) -> str:
        return (self.path or self.template).format(o=owner)

    def answer(self, owner: Owner, *, others: bool) -> Answer:
        answer = self.others if others else self.own
        assert answer is not None, f"{self.method} {self.template} declares no answer to B"
        return answer(owner) if callable(answer) else answer

    def probe(self) -> Probe:
        return self.intact or EXPORT


USED_OR_NOT = Shaped("null or a UTC timestamp", lambda value: value in (None, UTC_TIMESTAMP))
"""``last_used_at`` of a key ``/api/apikeys/validate`` may have seen."""
EXPORT = Probe("/api/bulk", Document(NDJSON, text=SEED_EXPORT))
SETTINGS = Probe("/api/settings", Wrapped({"strict_users": True}))
ALICE_KEYS = Probe(
    "/api/apikeys/user/alice",
    lambda o: Wrapped({"count": 1, "keys": [listed_key(o.alice, last_used_at=USED_OR_NOT)]}),
)

EXPIRES_AT = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0).isoformat()
IMPORT = (
    '{"type": "role", "role": "viewers"}\n'
    '{"type": "grant", "role": "viewers", "permission": "read"}\n'
    '{"type": "membership", "user": "alice", "role": "viewers"}\n'
)
IMPORTED = Wrapped({"roles": 1, "grants": 1, "memberships": 1})
EMPTY = {"roles": 0, "memberships": 0, "permissions": 0, "api_keys": 0, "settings": 1}
"""What a tenant opened by its first request owns."""
ALLOWED = Wrapped({"has_permission": True})
DENIED = Wrapped({"has_permission": False})
MEMBER = {"user": "alice", "role": "editors"}
CHECKED = {"user": "alice", "permission": "publish"}
UNKNOWN_KEY = Wrapped({"valid": False, "reason": "unknown_key"})
AUDIT_PAGE = {"limit": 50, "offset": 0}
BULK_IMPORT_ENTRY = {
    "id": POSITIVE_INT,
    "timestamp": UTC_TIMESTAMP,
    "action": "BULK_IMPORT",
    "entity_type": "tenant",
    "resource": None,
    "details": {"grants": 1, "memberships": 1, "roles": 1},
    "success": True,
    "user": None,
    "ip_address": "127.0.0.1",
    "user_agent": matching(r"python-httpx/.+", "python-httpx/<version>"),
}


def tokens(scope: str) -> Json:
    """A token response (RFC 6749), bare JSON."""
    return Json(
        {
            "access_token": JWT,
            "token_type": "bearer",
            "expires_in": 900,
            "refresh_token": JWT,
            "scope": scope,
        }
    )


def valid_alice(o: Owner, **more: object) -> Wrapped:
    valid = {"valid": True, "user": "alice", "key_id": o.alice["key_id"], "label": "ci"}
    return Wrapped({**valid, "expires_at": None, **more})


async def admin_tokens(owner: Owner) -> object:
    return await owner.token("admin")


async def rotate_key(owner: Owner) -> object:
    return await owner.issue_rotate_key()


PUBLIC, METRICS, BODY = Access.PUBLIC, Access.METRICS, Access.BODY_CREDENTIAL
CHECK, ADMIN, CLIENT_KEY, ISSUER = (
    Access.CHECK,
    Access.ADMIN,
    Access.CLIENT_KEY,
    Access.TOKEN_ISSUER,
)

# fmt: off
ROUTES: list[Route] = [
    # --- service and documentation: no credential, the header is ignored ---------------
    Route("GET", "/ping", PUBLIC, Json({"message": "PONG"})),
    Route("GET", "/health", PUBLIC, Json({"status": "healthy"})),
    Route("GET", "/metrics", METRICS, Document("text/plain", "auth_http_requests_total")),
    Route("GET", "/openapi.json", PUBLIC, Document("application/json", '"/api/check"')),
    Route("HEAD", "/openapi.json", PUBLIC, Document("application/json")),
    Route("GET", "/docs", PUBLIC, Document("text/html", 'id="swagger-ui"')),
    Route("GET", "/docs/oauth2-redirect", PUBLIC, Document("text/html", "oauth2")),
    Route("GET", "/redoc", PUBLIC, Document("text/html", 'id="redoc"')),
    *(Route(method, "/docs-static", PUBLIC, Document("text/javascript", "swagger"),
            path="/docs-static/swagger-init.js") for method in STATIC_METHODS),
    *(Route(method, "/docs-static/assets", PUBLIC, Document("text/css", ".swagger-ui"),
            path="/docs-static/assets/swagger-ui.css") for method in STATIC_METHODS),

    # --- decisions and reads: any live credential of the tenant -------------------------
    Route("GET", "/api/has_permission/{user}/{name}", CHECK, ALLOWED, DENIED,
          path="/api/has_permission/alice/publish"),
    Route("POST", "/api/check", CHECK,
          Wrapped({"count": 1, "results": [{**CHECKED, "has_permission": True}]}),
          Wrapped({"count": 1, "results": [{**CHECKED, "has_permission": False}]}),
          json=lambda o: {"checks": [CHECKED]}),
    Route("GET", "/api/user_permissions/{user}", CHECK,
          Wrapped({"count": 1, "permissions": [{"name": "publish"}]}),
          Wrapped({"count": 0, "permissions": []}), path="/api/user_permissions/alice"),
    Route("GET", "/api/which_roles_can/{name}", CHECK, Bare([{"role": "editors"}]), Bare([]),
          path="/api/which_roles_can/publish"),
    Route("GET", "/api/which_users_can/{name}", CHECK, Bare([MEMBER]), Bare([]),
          path="/api/which_users_can/publish"),
    Route("GET", "/api/workflow/user/{user}/can_run/{workflow}", CHECK, ALLOWED, DENIED,
          path="/api/workflow/user/alice/can_run/publish"),
    Route("GET", "/api/workflow/users/{workflow}", CHECK,
          Wrapped({"count": 1, "members": [MEMBER]}), Wrapped({"count": 0, "members": []}),
          path="/api/workflow/users/publish"),
    Route("GET", "/api/roles", CHECK, Bare([{"role": "editors", "description": "Editors"}]),
          Bare([])),
    Route("GET", "/api/members/{role}", CHECK, Bare([MEMBER]), Bare([]),
          path="/api/members/editors"),
    Route("GET", "/api/membership/{user}/{role}", CHECK, ALLOWED, DENIED,
          path="/api/membership/alice/editors"),
    Route("GET", "/api/user_roles/{user}", CHECK, Bare([MEMBER]), Bare([]),
          path="/api/user_roles/alice"),
    Route("GET", "/api/permission/{role}/{name}", CHECK, Bare(True), Bare(False),
          path="/api/permission/editors/publish"),
    Route("GET", "/api/role_permissions/{role}", CHECK, Wrapped([{"name": "publish"}]),
          Wrapped([]), path="/api/role_permissions/editors"),
    Route("GET", "/api/apikeys/user/{user}", CHECK,
          lambda o: Wrapped({"count": 1, "keys": [listed_key(o.bob)]}),
          Wrapped({"count": 0, "keys": []}), path="/api/apikeys/user/bob"),
    Route("POST", "/api/apikeys/validate", CHECK, valid_alice, UNKNOWN_KEY,
          json=lambda o: {"api_key": o.alice["api_key"]}),
    Route("POST", "/api/apikeys/check_permission", CHECK,
          lambda o: valid_alice(o, has_permission=True), UNKNOWN_KEY,
          json=lambda o: {"api_key": o.alice["api_key"], "permission": "publish"}),
    Route("GET", "/api/settings", CHECK, Wrapped({"strict_users": True}),
          Wrapped({"strict_users": False})),
    Route("GET", "/api/audit", CHECK,
          Wrapped({"total": 1, **AUDIT_PAGE, "entries": [BULK_IMPORT_ENTRY]}),
          Wrapped({"total": 0, **AUDIT_PAGE, "entries": []}), path="/api/audit?action=BULK_IMPORT"),

    # --- writes: the client key or an admin-scope token ---------------------------------
    Route("POST", "/api/role/{role}", ADMIN, Bare(True), Bare(True), path="/api/role/viewers",
          json=lambda o: {"description": "Viewers"}, changes=True),
    Route("DELETE", "/api/role/{role}", ADMIN, Wrapped({"result": True}),
          Wrapped({"result": False}), path="/api/role/editors", changes=True),
    Route("POST", "/api/membership/{user}/{role}", ADMIN, Bare(True), Bare(False),
          path="/api/membership/bob/editors", changes=True),
    Route("DELETE", "/api/membership/{user}/{role}", ADMIN, Bare(True), Bare(True),
          path="/api/membership/alice/editors", changes=True),
    Route("POST", "/api/permission/{role}/{name}", ADMIN, Bare(True), Bare(False),
          path="/api/permission/editors/edit", changes=True),
    Route("DELETE", "/api/permission/{role}/{name}", ADMIN, Bare(True), Bare(True),
          path="/api/permission/editors/publish", changes=True),
    Route("POST", "/api/apikeys/user/{user}", ADMIN, created_key("alice", "deploy"),
          created_key("alice", "deploy"), path="/api/apikeys/user/alice",
          json=lambda o: {"label": "deploy"}, changes=True, intact=ALICE_KEYS),
    Route("PATCH", "/api/apikeys/user/{user}/{key_id}", ADMIN,
          lambda o: Wrapped(listed_key(o.alice, expires_at=instant(EXPIRES_AT))), NOT_FOUND,
          path="/api/apikeys/user/alice/{o.alice[key_id]}",
          json=lambda o: {"expires_at": EXPIRES_AT}, changes=True, intact=ALICE_KEYS),
    Route("DELETE", "/api/apikeys/user/{user}/{key_id}", ADMIN,
          Wrapped({"revoked": True, "already_revoked": False}), NOT_FOUND,
          path="/api/apikeys/user/alice/{o.alice[key_id]}", changes=True, intact=ALICE_KEYS),
    Route("PUT", "/api/settings", ADMIN, Wrapped({"strict_users": False}),
          Wrapped({"strict_users": False}), json=lambda o: {"strict_users": False},
          changes=True, intact=SETTINGS),
    Route("POST", "/api/bulk", ADMIN, IMPORTED, IMPORTED, ndjson=IMPORT, changes=True),
    Route("GET", "/api/bulk", ADMIN, Document(NDJSON, text=SEED_EXPORT), Document(NDJSON, text="")),

    # --- key management and tokens: the client key itself -------------------------------
    Route("POST", "/api/keys/rotate", CLIENT_KEY, Wrapped({"new_key": UUID4, "migrated": SEEDED}),
          Wrapped({"new_key": UUID4, "migrated": EMPTY}), changes=True),
    Route("POST", "/api/keys/get_rotate_key", CLIENT_KEY, Wrapped({"rotate_key": ROTATE_KEY}),
          Wrapped({"rotate_key": ROTATE_KEY}), changes=True),
    Route("POST", "/api/token", ISSUER, tokens("check"), tokens("check"),
          json=lambda o: {"scope": "check"}, changes=True),

    # --- the credential travels in the body: the header plays no part -------------------
    Route("POST", "/api/token/refresh", BODY, tokens("admin"), changes=True, seeded=False,
          json=lambda o: {"refresh_token": o.tokens["admin"]["refresh_token"]},
          prepare=admin_tokens),
    Route("POST", "/api/token/revoke", BODY, Bare(True), changes=True, seeded=False,
          json=lambda o: {"token": o.tokens["admin"]["refresh_token"]}, prepare=admin_tokens),
    Route("POST", "/api/keys/recover", BODY, Wrapped({"new_key": UUID4}), changes=True,
          seeded=False, json=lambda o: {"rotate_key": o.rotate_key}, prepare=rotate_key),
]
# fmt: on
