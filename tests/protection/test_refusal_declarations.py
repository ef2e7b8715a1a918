"""Which routes audit their refusals is declared where each route is declared.

A route's refusals of an authenticated caller (403, 404, 409, domain 400) are audited
under the action it declares (``dependencies=[refusals_audited_as(...)]``), read from
``scope["route"]`` at refusal time (:mod:`app.audit.refusals`). The table below is
the whole list: a new route that writes as the tenant fails here until it either
declares its refusal audit or is listed as not audited.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from app.audit.refusals import declared_refusal_audit
from app.deps import get_principal, require_client_key, require_writer
from app.edge.route_templates import candidate_routes
from tests.api.helpers import assert_problem
from tests.protection.helpers import AuditWatch, details, tenant_of

Route = tuple[str, str]

REFUSALS_AUDITED: dict[Route, tuple[str, str]] = {
    ("POST", "/api/role/{role}"): ("CREATE_ROLE", "role"),
    ("DELETE", "/api/role/{role}"): ("DELETE_ROLE", "role"),
    ("POST", "/api/membership/{user}/{role}"): ("ADD_MEMBERSHIP", "membership"),
    ("DELETE", "/api/membership/{user}/{role}"): ("REMOVE_MEMBERSHIP", "membership"),
    ("POST", "/api/permission/{role}/{name}"): ("ADD_PERMISSION", "permission"),
    ("DELETE", "/api/permission/{role}/{name}"): ("REMOVE_PERMISSION", "permission"),
    ("POST", "/api/apikeys/user/{user}"): ("CREATE_API_KEY", "api_key"),
    ("PATCH", "/api/apikeys/user/{user}/{key_id}"): ("UPDATE_API_KEY", "api_key"),
    ("DELETE", "/api/apikeys/user/{user}/{key_id}"): ("REVOKE_API_KEY", "api_key"),
    ("PUT", "/api/settings"): ("UPDATE_SETTINGS", "settings"),
    ("POST", "/api/keys/rotate"): ("ROTATE_KEY", "client_key"),
    ("POST", "/api/keys/get_rotate_key"): ("GET_ROTATE_KEY", "rotate_key"),
}

NOT_AUDITED_WRITERS: set[Route] = {
    # The export only reads (it needs an admin credential); a refused import is not
    # audited by route: its one BULK_IMPORT row is written when it succeeds.
    ("GET", "/api/bulk"),
    ("POST", "/api/bulk"),
}

KEY_ID = "0c8e4b8e-3f1d-4d5a-9b8c-7a6f5e4d3c2b"
EXPIRES = "2999-01-01T00:00:00Z"
# A concrete request of each route: path and a body the route accepts.
REQUESTS: dict[Route, tuple[str, dict[str, Any] | None]] = {
    ("POST", "/api/role/{role}"): ("/api/role/ops", None),
    ("DELETE", "/api/role/{role}"): ("/api/role/ops", None),
    ("POST", "/api/membership/{user}/{role}"): ("/api/membership/alice/ops", None),
    ("DELETE", "/api/membership/{user}/{role}"): ("/api/membership/alice/ops", None),
    ("POST", "/api/permission/{role}/{name}"): ("/api/permission/ops/deploy", None),
    ("DELETE", "/api/permission/{role}/{name}"): ("/api/permission/ops/deploy", None),
    ("POST", "/api/apikeys/user/{user}"): ("/api/apikeys/user/alice", {"label": "cli"}),
    ("PATCH", "/api/apikeys/user/{user}/{key_id}"): (
        f"/api/apikeys/user/alice/{KEY_ID}",
        {"expires_at": EXPIRES},
    ),
    ("DELETE", "/api/apikeys/user/{user}/{key_id}"): (f"/api/apikeys/user/alice/{KEY_ID}", None),
    ("PUT", "/api/settings"): ("/api/settings", {"strict_users": True}),
    ("POST", "/api/keys/rotate"): ("/api/keys/rotate", None),
    ("POST", "/api/keys/get_rotate_key"): ("/api/keys/get_rotate_key", None),
}


def _api_routes(app: FastAPI) -> Iterator[tuple[Route, APIRoute]]:
    """Every (method, path) of the app with the route object ``scope["route"]`` holds."""
    for context in candidate_routes(app):
        route = getattr(context, "original_route", context)
        if isinstance(route, APIRoute):
            for method in sorted(route.methods or ()):
                yield (method, route.path), route


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def test_declared_refusal_audits_are_the_table(app: FastAPI) -> None:
    declared = {
        key: (audit.action, audit.entity_type)
        for key, route in _api_routes(app)
        if (audit := declared_refusal_audit(route)) is not None
    }
    assert declared == REFUSALS_AUDITED


def test_every_tenant_writer_declares_its_refusal_audit(app: FastAPI) -> None:
    writers = {
        key
        for key, route in _api_routes(app)
        if {require_writer, require_client_key} & set(_calls(route.dependant))
    }
    assert writers - set(REFUSALS_AUDITED) == NOT_AUDITED_WRITERS


def test_declarations_need_an_authenticated_caller(app: FastAPI) -> None:
    """The row goes to the principal's chain: a route without one could never audit."""
    for key, route in _api_routes(app):
        if key in REFUSALS_AUDITED:
            assert get_principal in set(_calls(route.dependant)), key


@pytest.mark.parametrize("route", sorted(REFUSALS_AUDITED))
async def test_a_refusal_is_audited_as_its_route_declares(
    app: FastAPI, api: httpx.AsyncClient, route: Route
) -> None:
    tenant = await tenant_of(app, api)
    token = (await api.post("/api/token", json={"scope": "check"})).json()["access_token"]
    watch = AuditWatch(app, tenant)
    await watch.new()
    path, body = REQUESTS[route]
    method, template = route
    refused = await api.request(
        method, path, json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert_problem(refused, 403)
    rows = await watch.new()
    action, entity_type = REFUSALS_AUDITED[route]
    assert [(row["action"], row["entity_type"], bool(row["success"])) for row in rows] == [
        (action, entity_type, False)
    ]
    assert details(rows[0]) == {"status": 403, "refused": "forbidden", "route": template}


async def test_a_route_without_a_declaration_audits_no_refusal(
    app: FastAPI, api: httpx.AsyncClient
) -> None:
    tenant = await tenant_of(app, api)
    token = (await api.post("/api/token", json={"scope": "check"})).json()["access_token"]
    watch = AuditWatch(app, tenant)
    await watch.new()
    refused = await api.post(
        "/api/bulk",
        content=b'{"type": "role", "role": "ops"}\n',
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
    )
    assert_problem(refused, 403)
    assert await watch.new() == []
