"""The one state object the service shares, and the one place that builds it.

:class:`AppState` is what the lifespan builds once and publishes on the application;
every reader reaches it through :func:`app_state` (routes through :mod:`app.deps`).
:func:`open_state` turns :class:`Settings` into a ready state, for the server and for
operator commands alike: engine created, secrets loaded (or generated in development,
but never for a database that already has tenants), field cipher built, schema checked
against the code's head revision, encryption canary checked. The engine is disposed on
exit. The server's lifespan adds its decision snapshots (:func:`open_decisions`) and
what :func:`app.main.create_app` built before it (the failed-authentication counters,
the rate limits, the refusal hook), so one object holds all of it.

A request that reaches the application without that state (only possible when the
lifespan never ran) fails closed: :func:`app_state` raises :class:`StateMissing`,
answered as a 500; nothing is invented in its place.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.config import Settings
from app.db.engine import Database, build_engine
from app.db.migrations import assert_schema_current, upgrade_if_behind
from app.decisions.listener import start_listener
from app.decisions.probe import open_probe
from app.decisions.service import Decisions
from app.security.cipher import FieldCipher
from app.security.encryption import build_cipher, check_canary
from app.security.failures import AuthFailures
from app.security.fresh_secrets import refuse_fresh_secrets_over_tenants
from app.security.secrets import ServerSecrets, load_server_secrets
from app.tokens.codec import TokenCodec

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from app.edge.rate_limit import RateLimits
    from app.errors import RefusalHook


@dataclass(frozen=True)
class AppState:
    settings: Settings
    database: Database
    secrets: ServerSecrets
    tokens: TokenCodec
    cipher: FieldCipher
    # The server's lifespan only (operator commands run without them):
    decisions: Decisions | None = None
    """Decision snapshots and freshness probes."""
    failures: AuthFailures = field(default_factory=AuthFailures)
    """Failed authentications, counted by reason (``/metrics``)."""
    rate_limits: RateLimits | None = None
    """The budgets of :mod:`app.edge.rate_limit`; ``None`` when rate limiting is off."""
    on_refusal: RefusalHook | None = None
    """Called by the error handler for every refusal (:mod:`app.audit.refusals`)."""


class StateMissing(RuntimeError):
    """The application has no :class:`AppState`: its lifespan did not run."""


def app_state(app: Starlette) -> AppState:
    """The application's :class:`AppState`; :class:`StateMissing` when there is none."""
    try:
        state: AppState = app.state.auth
    except AttributeError:
        raise StateMissing(
            "the application has no state: it must run inside its lifespan"
        ) from None
    return state


def publish_state(app: Starlette, state: AppState) -> None:
    """Make ``state`` the application's :class:`AppState` (``app.state.auth``)."""
    app.state.auth = state


@asynccontextmanager
async def open_decisions(state: AppState) -> AsyncIterator[Decisions]:
    """The server's decision snapshots, their freshness probe and, in
    ``minimize_latency`` on PostgreSQL, their revision listener; closed on exit."""
    settings = state.settings
    probe = await open_probe(
        settings.database,
        connect_seconds=settings.db_connect_timeout or None,
        statement_seconds=settings.db_statement_timeout or None,
    )
    decisions = Decisions(state.database, probe, state.cipher, settings)
    try:
        await start_listener(settings, decisions)
        yield decisions
    finally:
        await decisions.close()


@asynccontextmanager
async def open_state(settings: Settings, *, migrate: bool = False) -> AsyncIterator[AppState]:
    """Everything a request or an operator command needs, checked (secrets, schema,
    encryption canary); closed on exit. ``migrate``: first bring the schema to the head
    (Alembic only when it is behind), as ``auth-server serve`` does on start."""
    engine = build_engine(settings)
    try:
        if migrate:
            await upgrade_if_behind(engine, settings.database)
        await refuse_fresh_secrets_over_tenants(settings, engine)
        secrets = load_server_secrets(settings)
        cipher = build_cipher(settings, secrets)
        await assert_schema_current(engine)
        database = Database(engine)
        await check_canary(database, cipher)
        yield AppState(
            settings=settings,
            database=database,
            secrets=secrets,
            tokens=TokenCodec(settings, secrets),
            cipher=cipher,
        )
    finally:
        await engine.dispose()
