"""The database as infrastructure: what every feature uses and none owns.

* :mod:`app.db.url`: operator-facing URLs (``sqlite:///...``, ``postgresql://...``)
  turned into async targets (aiosqlite, asyncpg), with their redacted names.
* :mod:`app.db.engine`: the engine (SQLite: 0600 file, WAL, foreign keys; PostgreSQL:
  pool, timeouts), :class:`~app.db.engine.Database` and its sessions.
* :mod:`app.db.faults`: which driver errors mean "the database is unavailable" (503).
* :mod:`app.db.statements`: dialect-aware statements (insert, or many, ignoring conflicts).
* :mod:`app.db.migrations`: Alembic driven from code, and the start-up schema check.
* :mod:`app.db.backup`: online SQLite backups and their check.
"""
