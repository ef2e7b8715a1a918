"""Every route of the app by every credential case, with the exact answer.

The routes come from the app itself (``create_app(settings).routes``, through included
routers and mounts, every method); each must be declared in
``tests/api/security_routes.py`` with its access class, so a new route cannot ship
without a stated protection. Each (route, case) sends one real request: path parameters
naming tenant A's data, a body that would succeed, the case's ``Authorization`` header
(``tests/api/security_cases.py``). The answer is checked exactly: A's answer, B's (never
A's data), or the refusal with its problem type and challenge. No answer echoes the
credential presented. A request that must change nothing of A is followed by the read
that would show a change.

Requests that may change A run on a tenant of their own; the rest share one tenant per
module (:func:`owner`), which none of them changes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.db.url import DatabaseTarget
from app.edge.route_templates import candidate_routes
from app.main import create_app
from tests.api.security_cases import (
    METRICS_TOKEN_REQUIRED,
    OTHERS,
    OUTCOMES,
    OWN,
    Access,
    Case,
    Document,
    Problem,
)
from tests.api.security_owner import NDJSON, Owner, bare_owner, client, seed_owner
from tests.api.security_routes import ROUTES, STATIC_METHODS, Route
from tests.conftest import make_settings

DECLARED = {route.key: route for route in ROUTES}
TABLE = [
    pytest.param(route, case, id=f"{route.method} {route.template} {case}")
    for route in ROUTES
    for case in Case
]
METRICS_TOKEN = "metrics-token-for-the-route-table-0123456789"


def served(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, template) the app answers: routes, included routers, mounts."""
    found: set[tuple[str, str]] = set()
    for route in candidate_routes(app):
        methods = getattr(route, "methods", None) or STATIC_METHODS
        found.update((method, route.path) for method in methods)
    return found


def test_the_table_declares_each_route_once() -> None:
    assert len(DECLARED) == len(ROUTES)


def test_every_access_class_answers_every_case() -> None:
    for access in Access:
        assert set(OUTCOMES[access]) == set(Case), access


def test_every_route_is_declared(app: FastAPI) -> None:
    undeclared = sorted(served(app) - set(DECLARED))
    assert undeclared == [], (
        "Routes without a security expectation: "
        + ", ".join(f"{method} {path}" for method, path in undeclared)
        + ". Declare each in tests/api/security_routes.py (ROUTES) with its access "
        "class and its answers to tenant A and to another tenant."
    )


def test_every_declared_route_is_served(app: FastAPI) -> None:
    gone = sorted(set(DECLARED) - served(app))
    assert gone == [], "Declared in tests/api/security_routes.py but not served: " + ", ".join(
        f"{method} {path}" for method, path in gone
    )


@pytest.fixture(scope="module")
async def owner(app: FastAPI) -> Owner:
    """Tenant A for the requests that change nothing."""
    return await seed_owner(app)


async def send(route: Route, owner: Owner, credential: str | None) -> httpx.Response:
    if route.prepare is not None:
        await route.prepare(owner)
    async with client(owner.app, credential) as http:
        if route.ndjson is not None:
            return await http.request(
                route.method,
                route.url(owner),
                content=route.ndjson,
                headers={"Content-Type": NDJSON},
            )
        body = None if route.json is None else route.json(owner)
        return await http.request(route.method, route.url(owner), json=body)


async def assert_intact(route: Route, owner: Owner) -> None:
    probe = route.probe()
    async with client(owner.app, owner.key) as http:
        response = await http.get(probe.path)
    probe.expected(owner).check(response)


@pytest.mark.parametrize(("route", "case"), TABLE)
async def test_route_security(app: FastAPI, owner: Owner, route: Route, case: Case) -> None:
    outcome = OUTCOMES[route.access][case]
    if route.changes and outcome is OWN:  # A changes: a tenant of its own
        retired = owner.retired_key
        owner = await seed_owner(app, retired) if route.seeded else bare_owner(app, retired)
    credential = await owner.credential(case)
    response = await send(route, owner, credential)
    expected = (
        outcome if isinstance(outcome, Problem) else route.answer(owner, others=outcome is OTHERS)
    )
    expected.check(response)
    if credential is not None:
        assert credential not in response.text
    if route.changes and outcome is not OWN:
        await assert_intact(route, owner)


@pytest.fixture(scope="module")
async def metrics_app(
    database_target: DatabaseTarget, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FastAPI]:
    """The app with ``AUTH_METRICS_TOKEN`` set."""
    state_dir = tmp_path_factory.mktemp("metrics-token")
    application = create_app(make_settings(database_target, state_dir, metrics_token=METRICS_TOKEN))
    async with LifespanManager(application):
        yield application


@pytest.mark.parametrize("case", list(Case))
async def test_metrics_token_is_the_only_way_in(
    metrics_app: FastAPI, owner: Owner, case: Case
) -> None:
    """With ``AUTH_METRICS_TOKEN`` set, ``/metrics`` takes that token and nothing else."""
    assert DECLARED["GET", "/metrics"].access is Access.METRICS
    credential = await owner.credential(case)
    async with client(metrics_app, credential) as http:
        METRICS_TOKEN_REQUIRED.check(await http.get("/metrics"))
    async with client(metrics_app, METRICS_TOKEN) as http:
        Document("text/plain", "auth_http_requests_total").check(await http.get("/metrics"))
