"""Roles, permissions, memberships and effective access (contract section 4).

* :mod:`~app.rbac.router` and :mod:`~app.rbac.service`: roles, memberships and grants
  (writes and listings; :mod:`~app.rbac.listings`, :mod:`~app.rbac.ordering`).
* :mod:`~app.rbac.access_router`: the decision routes (``has_permission``, ``can_run``,
  ``POST /api/check``), answered by :mod:`~app.rbac.decider` from the tenant's snapshot
  (:mod:`app.decisions`) or, cold, from the database.
* :mod:`~app.rbac.shortcut`: warm decisions answered by the gate before routing, with
  the route's exact answer (:mod:`~app.rbac.answers`).
"""
