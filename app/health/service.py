"""Readiness: whether the database answers and takes writes.

One bounded round trip (``SELECT 1``, within the connect, pool and statement timeouts);
while writes are known to fail (disk full, read-only), also one tiny committed write
probe (:meth:`~app.db.engine.Database.probe_writes`), so readiness comes back when the
store takes writes again even if no client writes. A failure is recorded in the
database's health, which logs it once per outage (:mod:`app.db.faults`), never per probe.
"""

from __future__ import annotations

from app.db.engine import Database
from app.db.faults import DatabaseFault, classify_database_error


async def readiness(database: Database) -> DatabaseFault | None:
    """``None`` when the database answers and takes writes; otherwise the fault:
    ``unreachable`` (also for an error no class fits), ``timeout`` or ``full`` (it
    answers but cannot store writes)."""
    checks = [database.ping]
    if not database.health.writable:
        checks.append(database.probe_writes)
    for check in checks:
        try:
            await check()
        except Exception as exc:
            fault = classify_database_error(exc) or DatabaseFault.UNREACHABLE
            database.health.record_fault(fault, exc)
            return fault
    if not database.health.writable:  # probe_writes committed: writable again
        return DatabaseFault.FULL
    return None
