"""Revisions pushed by PostgreSQL: what ``AUTH_DECISION_CONSISTENCY=minimize_latency`` runs on.

Every write bumps its tenant's revision and sends ``NOTIFY auth_revisions,
'<tenant>:<revision>'`` in its transaction (:func:`app.decisions.revision.bump_revision`);
PostgreSQL delivers it to every listener when the transaction commits. One
:class:`RevisionListener` per process holds one dedicated asyncpg connection (its
``application_name`` is :data:`APPLICATION_NAME`, so operators can find it in
``pg_stat_activity``) that ``LISTEN``\\ s on that channel and records the newest revision
it hears per tenant.

Contract with :class:`app.decisions.service.Decisions`:

* :meth:`RevisionListener.vouches` says a cached snapshot may answer without a probe:
  the listener is connected, the tenant was *confirmed* once since the current
  connection began listening, and the snapshot's revision is at least the newest one
  known for the tenant (heard, or confirmed).
* A tenant is confirmed by a read that started while this connection was already
  listening and saw the snapshot's revision as the stored one: a freshness probe, or
  the snapshot's own build (:meth:`RevisionListener.token` before the read,
  :meth:`RevisionListener.confirm` after it). Every later write is then heard.
* Each (re)connection starts a new *epoch* and forgets every confirmation: the
  notifications sent while the connection was down were missed, so each cached
  snapshot is unverified until a probe (or a rebuild) confirms it again.
* While the connection is down, :meth:`vouches` is false: every decision takes the
  ``strict`` path (one probe). A background task reconnects with exponential backoff
  (:data:`RECONNECT_MIN_SECONDS` to :data:`RECONNECT_MAX_SECONDS`). A connection that
  dies silently (no reset reaches this host) is detected by a heartbeat query every
  :data:`HEARTBEAT_SECONDS`; a terminated backend or a reset is noticed at once.

Only tenants the process caches or is building are tracked
(``interested``): a tenant outside both has no snapshot to vouch for, and its next
build reads a state newer than any notification ignored before it started. The
listener's memory is therefore bounded by the snapshot cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from app.decisions.revision import CHANNEL

if TYPE_CHECKING:
    from app.config import Settings
    from app.db.url import DatabaseTarget
    from app.decisions.service import Decisions

logger = logging.getLogger("app.decisions")

APPLICATION_NAME = "auth-revision-listener"
HEARTBEAT_SECONDS = 5.0
RECONNECT_MIN_SECONDS = 0.1
RECONNECT_MAX_SECONDS = 5.0
FIRST_CONNECT_SECONDS = 5.0
"""How long :meth:`RevisionListener.start` waits for the first connection (the server
then starts in the strict fallback and keeps trying in the background)."""

Connect = Callable[[], Awaitable[Any]]
"""Opens one asyncpg connection."""


class RevisionListener:
    def __init__(
        self,
        connect: Connect,
        interested: Callable[[int], bool],
        *,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._connect = connect
        self._interested = interested
        self._heartbeat_seconds = heartbeat_seconds
        self._connection: Any = None
        self._newest: dict[int, int] = {}
        """tenant -> newest revision known in this epoch (heard or confirmed)"""
        self._confirmed: set[int] = set()
        """tenants confirmed current once in this epoch"""
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.epoch = 0
        """Counts connections that began listening; 0 before the first."""
        self.notifications = 0
        self.losses = 0
        self._closing = False

    @classmethod
    def for_target(
        cls,
        target: DatabaseTarget,
        interested: Callable[[int], bool],
        connect_seconds: float | None,
    ) -> RevisionListener:
        import asyncpg

        url = target.url.set(drivername="postgresql").render_as_string(hide_password=False)
        connect_args = dict(target.connect_args)
        server_settings = dict(connect_args.pop("server_settings", None) or {})
        server_settings["application_name"] = APPLICATION_NAME

        async def connect() -> Any:
            return await asyncpg.connect(
                url,
                timeout=connect_seconds or 60.0,
                server_settings=server_settings,
                **connect_args,
            )

        return cls(connect, interested)

    # --- what Decisions asks ---------------------------------------------------------

    @property
    def connected(self) -> bool:
        connection = self._connection
        return connection is not None and not connection.is_closed()

    def token(self) -> int | None:
        """Take before a read that may confirm a tenant; ``None`` while disconnected."""
        return self.epoch if self.connected else None

    def confirm(self, tenant_id: int, revision: int, token: int | None) -> None:
        """A read that started at ``token`` saw ``revision`` as the tenant's stored one."""
        if token is None or token != self.epoch or not self.connected:
            return  # the read may predate this connection: prove nothing
        self._confirmed.add(tenant_id)
        if revision > self._newest.get(tenant_id, -1):
            self._newest[tenant_id] = revision

    def vouches(self, tenant_id: int, revision: int) -> bool:
        """Whether a snapshot of ``tenant_id`` at ``revision`` is the newest state this
        process knows of, with the channel open since the tenant was confirmed."""
        return (
            self.connected
            and tenant_id in self._confirmed
            and revision >= self._newest.get(tenant_id, revision)
        )

    def _heard(self, connection: Any, _pid: int, _channel: str, payload: str) -> None:
        if connection is not self._connection:
            return  # a late callback of a connection already given up
        tenant, _, revision = payload.partition(":")
        try:
            tenant_id, value = int(tenant), int(revision)
        except ValueError:
            logger.warning("unreadable revision notification ignored")
            return
        self.notifications += 1
        if value > self._newest.get(tenant_id, -1) and (
            tenant_id in self._newest or self._interested(tenant_id)
        ):
            self._newest[tenant_id] = value

    # --- the connection ----------------------------------------------------------------

    async def start(self) -> None:
        """Start listening in the background; wait (boundedly) for the first connection."""
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="auth-revision-listener"
        )
        with contextlib.suppress(TimeoutError):  # decisions stay strict until it connects
            await asyncio.wait_for(self._ready.wait(), FIRST_CONNECT_SECONDS)

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        delay = RECONNECT_MIN_SECONDS
        failing = False
        while True:
            connection: Any = None
            try:
                connection = await self._connect()
                await self._listen(connection)
            except Exception as exc:  # any driver or network error: retry with backoff
                if self._connection is None and not failing:  # never began listening
                    logger.warning(
                        "revision listener cannot connect; decisions are strict until it does",
                        extra={"error": type(exc).__name__},
                    )
                    failing = True
            finally:
                if connection is not None and self._connection is connection:
                    failing, delay = False, RECONNECT_MIN_SECONDS  # it was listening
                self._stopped(connection)
                self._ready.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _listen(self, connection: Any) -> None:
        """LISTEN on ``connection`` until it is lost (returns) or its heartbeat fails."""
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        await connection.add_listener(CHANNEL, self._heard)
        self._listening(connection)
        await self._watch(connection, lost)

    def _listening(self, connection: Any) -> None:
        # A new epoch: whatever was confirmed before may have missed notifications.
        self._newest.clear()
        self._confirmed.clear()
        self._connection = connection
        self.epoch += 1
        self._ready.set()
        logger.info(
            "revision listener connected; decisions answer without a probe",
            extra={"epoch": self.epoch},
        )

    async def _watch(self, connection: Any, lost: asyncio.Event) -> None:
        """Return when the connection is gone; raise when the heartbeat fails."""
        while not lost.is_set() and not connection.is_closed():
            try:
                await asyncio.wait_for(lost.wait(), self._heartbeat_seconds)
            except TimeoutError:
                await connection.fetchval("SELECT 1", timeout=self._heartbeat_seconds)

    def _stopped(self, connection: Any) -> None:
        if connection is None:
            return
        if self._connection is connection:
            self._connection = None
            if not self._closing:
                self.losses += 1
                logger.warning("revision listener lost; decisions are strict until it reconnects")
        if not connection.is_closed():
            connection.terminate()


async def start_listener(settings: Settings, decisions: Decisions) -> RevisionListener | None:
    """The listener ``minimize_latency`` needs, started and attached to ``decisions``;
    ``None`` in ``strict``. On SQLite ``minimize_latency`` answers in ``strict``, with
    one warning: there is nothing to listen to, and the probe costs microseconds."""
    if settings.decision_consistency != "minimize_latency":
        return None
    target = settings.database
    if target.is_sqlite:
        logger.warning(
            "AUTH_DECISION_CONSISTENCY=minimize_latency needs PostgreSQL; "
            "SQLite decisions are strict (their freshness probe costs microseconds)"
        )
        return None
    listener = RevisionListener.for_target(
        target, decisions.tracks, settings.db_connect_timeout or None
    )
    decisions.listener = listener
    await listener.start()
    return listener
