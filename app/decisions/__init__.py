"""Decisions from memory: *may user U do P?* answered without a database round trip
beyond one freshness read, never from a state older than an acknowledged write.

* :mod:`~app.decisions.revision`: every write transaction bumps its tenant's revision.
* :mod:`~app.decisions.snapshot`: a tenant's roles, grants, members and keys compiled
  into memory, tagged with the revision it was read at.
* :mod:`~app.decisions.cache`: the per-process snapshots, least recently used out.
* :mod:`~app.decisions.probe`: the stored revision behind a credential, in one point read
  (the ``strict`` freshness check).
* :mod:`~app.decisions.listener` and :mod:`~app.decisions.consistency`:
  ``minimize_latency`` (PostgreSQL LISTEN/NOTIFY and ``Auth-Min-Revision``).
* :mod:`~app.decisions.service`: :class:`~app.decisions.service.Decisions`, the one
  object the gate and the decision routes ask.
"""
