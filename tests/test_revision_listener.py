"""The revision listener of ``minimize_latency`` against a real PostgreSQL server.

It hears ``NOTIFY auth_revisions`` on its own connection (found by its
``application_name``), vouches for a tenant only after a confirmation taken while it
listened, forgets every confirmation when its connection is lost (terminated by the
server here), reconnects by itself, and is refused on SQLite with one warning.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest
from asgi_lifespan import LifespanManager

from app.db.migrations import upgrade
from app.db.url import resolve_database_target
from app.decisions.listener import APPLICATION_NAME, RevisionListener
from app.decisions.revision import CHANNEL
from app.main import create_app
from tests.conftest import make_settings
from tests.databases import postgresql_database, sqlite_target

UNINTERESTING = 99


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait until ``condition()`` holds (at most 10 s)."""
    for _attempt in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached within 10 s")


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    async with postgresql_database("auth_listener") as url:
        yield url


@pytest.fixture
async def listener(database_url: str) -> AsyncIterator[RevisionListener]:
    target = resolve_database_target(database_url)
    listening = RevisionListener.for_target(target, lambda tenant: tenant != UNINTERESTING, 5.0)
    await listening.start()
    try:
        yield listening
    finally:
        await listening.close()


@pytest.fixture
async def admin(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


async def notify(admin: asyncpg.Connection, tenant: int, revision: int) -> None:
    await admin.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{tenant}:{revision}")


async def test_heard_revisions_withdraw_the_vouch_until_a_newer_snapshot(
    listener: RevisionListener, admin: asyncpg.Connection
) -> None:
    assert listener.connected
    assert listener.epoch == 1
    assert not listener.vouches(7, 3)  # never confirmed
    listener.confirm(7, 3, listener.token())
    assert listener.vouches(7, 3)
    assert not listener.vouches(7, 2)  # older than the confirmed state
    await notify(admin, 7, 4)
    await eventually(lambda: not listener.vouches(7, 3))
    assert listener.vouches(7, 4)
    assert listener.vouches(7, 5)
    await notify(admin, 7, 2)  # late, older news changes nothing
    await notify(admin, 7, 5)
    await eventually(lambda: not listener.vouches(7, 4))
    assert listener.vouches(7, 5)
    # A tenant the process neither caches nor builds is not tracked.
    await notify(admin, UNINTERESTING, 1)
    await notify(admin, 8, 1)
    await eventually(lambda: listener.notifications == 5)
    assert UNINTERESTING not in listener._newest
    assert listener._newest[8] == 1


async def test_a_terminated_connection_forgets_every_confirmation_and_reconnects(
    listener: RevisionListener, admin: asyncpg.Connection
) -> None:
    before = listener.token()
    listener.confirm(7, 3, before)
    assert listener.vouches(7, 3)
    killed = await admin.fetch(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = $1 AND datname = current_database()",
        APPLICATION_NAME,
    )
    assert [row[0] for row in killed] == [True]
    await eventually(lambda: not listener.connected)
    assert not listener.vouches(7, 3)  # the strict fallback
    assert listener.token() is None
    listener.confirm(7, 3, listener.token())  # a probe while down proves nothing
    await notify(admin, 7, 4)  # sent while nobody listens: missed
    await eventually(lambda: listener.connected)
    assert listener.epoch == 2
    assert listener.losses == 1
    assert not listener.vouches(7, 3)  # unverified until confirmed again
    listener.confirm(7, 3, before)  # a read from before the reconnection proves nothing
    assert not listener.vouches(7, 3)
    listener.confirm(7, 4, listener.token())  # the probe reads the stored revision
    assert listener.vouches(7, 4)
    assert not listener.vouches(7, 3)


async def test_minimize_latency_on_sqlite_is_strict_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = sqlite_target(tmp_path)
    await asyncio.to_thread(upgrade, target)
    settings = make_settings(target, tmp_path / "state", decision_consistency="minimize_latency")
    application = create_app(settings)
    with caplog.at_level(logging.WARNING, logger="app.decisions"):
        async with LifespanManager(application):
            assert application.state.auth.decisions.listener is None
    warnings = [r for r in caplog.records if r.name == "app.decisions"]
    assert len(warnings) == 1
    assert "minimize_latency needs PostgreSQL" in warnings[0].getMessage()
