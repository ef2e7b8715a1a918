"""The credential cases of the route security table and the answers it expects.

* :class:`Case`: how a request presents itself (its ``Authorization`` header).
* :class:`Access`: what a route lets in. :data:`OUTCOMES` says, for every access class
  and case, whether the route answers as it would its tenant A (:data:`OWN`), as it
  would another tenant B (:data:`OTHERS`), or refuses, and with which problem.
* The answers (:class:`Bare`, :class:`Wrapped`, :class:`Json`, :class:`Document`,
  :class:`Problem`) each check a response exactly: status, media type, body (and, for a
  refusal, its problem type and ``WWW-Authenticate`` challenge).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import httpx

from tests.api.helpers import assert_bare, assert_problem, assert_wrapped

PROBLEM = "urn:auth:problem:"


class Case(StrEnum):
    """How a request presents itself: its ``Authorization`` header."""

    NO_HEADER = "no-header"
    MALFORMED = "malformed-header"
    """``Bearer`` and a value that is neither a UUID4 nor a JWT."""
    OTHER_TENANT = "other-tenant-key"
    """Tenant B's client key (a fresh tenant) on a path naming tenant A's data."""
    EXPIRED = "expired-token"
    """An admin-scope access token of tenant A, expired."""
    CHECK_TOKEN = "check-scope-token"
    ADMIN_TOKEN = "admin-scope-token"
    RETIRED = "retired-key"
    """Tenant A's client key before its rotation."""
    OWN_KEY = "own-key"
    """Tenant A's current client key."""


class Access(StrEnum):
    """What a route lets in."""

    PUBLIC = "public"
    """No credential: any header is ignored (service and documentation routes)."""
    METRICS = "metrics"
    """Open unless ``AUTH_METRICS_TOKEN`` is set; then that token only."""
    BODY_CREDENTIAL = "body-credential"
    """Outside the gate: the credential travels in the body, the header is ignored."""
    TOKEN_ISSUER = "token-issuer"
    """``POST /api/token``: the client key itself; tokens are refused (401)."""
    CHECK = "check-allowed"
    """Reads and decisions: any live credential of the tenant, check-scope tokens too."""
    ADMIN = "admin"
    """Writes: the client key or an admin-scope token; a check-scope token gets 403."""
    CLIENT_KEY = "client-key-only"
    """Key management: the client key itself; a token of any scope gets 403."""


class Answer(Protocol):
    def check(self, response: httpx.Response) -> None: ...


@dataclass(frozen=True)
class Bare:
    """200, ``{"result": value}``."""

    value: object

    def check(self, response: httpx.Response) -> None:
        assert_bare(response, self.value)


@dataclass(frozen=True)
class Wrapped:
    """200 in the wrapped envelope, carrying ``data``."""

    data: object

    def check(self, response: httpx.Response) -> None:
        assert_wrapped(response, self.data)


@dataclass(frozen=True)
class Json:
    """200, ``application/json``, exactly ``body``."""

    body: object

    def check(self, response: httpx.Response) -> None:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json", response.headers
        assert response.json() == self.body, f"answered {response.json()!r}, expected {self.body!r}"


@dataclass(frozen=True)
class Document:
    """200 with a body of ``media_type``: exactly ``text`` when given, else one that
    contains ``marker``; nothing at all for ``HEAD``."""

    media_type: str
    marker: str = ""
    text: str | None = None

    def check(self, response: httpx.Response) -> None:
        assert response.status_code == 200, response.text
        media_type = response.headers["content-type"].split(";")[0]
        assert media_type == self.media_type, f"answered {media_type}, expected {self.media_type}"
        if response.request.method == "HEAD":
            assert response.content == b"", response.content[:200]
        elif self.text is not None:
            assert response.text == self.text, f"answered {response.text!r}, expected {self.text!r}"
        else:
            assert self.marker in response.text, f"{self.marker!r} not in {response.text[:200]!r}"


@dataclass(frozen=True)
class Problem:
    """A problem+json refusal of type ``urn:auth:problem:<slug>``, with exactly
    ``challenge`` as ``WWW-Authenticate`` (or none)."""

    status: int
    slug: str
    challenge: str | None = None

    def check(self, response: httpx.Response) -> None:
        body = assert_problem(response, self.status)
        assert body["type"] == PROBLEM + self.slug, body
        challenge = response.headers.get("www-authenticate")
        assert challenge == self.challenge, f"challenge {challenge!r}, expected {self.challenge!r}"


MISSING = Problem(401, "missing-credential", "Bearer")
MALFORMED = Problem(400, "malformed-credential")
INVALID_TOKEN = Problem(401, "unauthorized", 'Bearer error="invalid_token"')
REFUSED_KEY = Problem(401, "unauthorized", "Bearer")
FORBIDDEN = Problem(403, "forbidden")
NOT_FOUND = Problem(404, "not-found")
METRICS_TOKEN_REQUIRED = Problem(401, "metrics-token-required", 'Bearer realm="metrics"')


class Answers(StrEnum):
    OWN = "the route's answer to tenant A"
    OTHERS = "the route's answer to tenant B"


OWN = Answers.OWN
OTHERS = Answers.OTHERS
Outcome = Answers | Problem

_IGNORES_HEADER: dict[Case, Outcome] = dict.fromkeys(Case, OWN)
_GATE: dict[Case, Outcome] = {
    Case.NO_HEADER: MISSING,
    Case.MALFORMED: MALFORMED,
    Case.OTHER_TENANT: OTHERS,
    Case.EXPIRED: INVALID_TOKEN,
    Case.RETIRED: REFUSED_KEY,
    Case.OWN_KEY: OWN,
}
OUTCOMES: dict[Access, dict[Case, Outcome]] = {
    Access.PUBLIC: _IGNORES_HEADER,
    Access.METRICS: _IGNORES_HEADER,  # in the suite's app: no AUTH_METRICS_TOKEN
    Access.BODY_CREDENTIAL: _IGNORES_HEADER,
    Access.TOKEN_ISSUER: {
        Case.NO_HEADER: REFUSED_KEY,
        Case.MALFORMED: REFUSED_KEY,
        Case.OTHER_TENANT: OTHERS,
        Case.EXPIRED: REFUSED_KEY,  # a token, whatever its state, never gets a token
        Case.CHECK_TOKEN: REFUSED_KEY,
        Case.ADMIN_TOKEN: REFUSED_KEY,
        Case.RETIRED: REFUSED_KEY,
        Case.OWN_KEY: OWN,
    },
    Access.CHECK: {**_GATE, Case.CHECK_TOKEN: OWN, Case.ADMIN_TOKEN: OWN},
    Access.ADMIN: {**_GATE, Case.CHECK_TOKEN: FORBIDDEN, Case.ADMIN_TOKEN: OWN},
    Access.CLIENT_KEY: {**_GATE, Case.CHECK_TOKEN: FORBIDDEN, Case.ADMIN_TOKEN: FORBIDDEN},
}
"""Every access class answers every case: as to A, as to B, or with this refusal."""
