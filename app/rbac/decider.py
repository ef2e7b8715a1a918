"""The decision path of ``has_permission``, ``can_run`` and ``POST /api/check``.

:class:`Decider` is built by the routes from the ``Request`` (no session, no
dependency to solve): a
request whose tenant snapshot the gate found current is answered from memory
(:mod:`app.decisions`); any other (a cold or stale snapshot, a token the gate could not
settle, decisions audited with ``AUTH_AUDIT_PERMISSION_CHECKS``) opens one database
session, authenticates as every route does (:func:`app.deps.resolve_principal`), asks
:meth:`RbacService.decide` for each question, and commits before answering, exactly
like the request boundary of ``SessionDep``. An answer from memory carries
``Auth-Revision`` (the snapshot's revision); one from the database does not.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request

from app.audit.trail import AuditTrail
from app.deps import audit_origin, resolve_principal
from app.edge.context import current_request, record_revision
from app.rbac.service import RbacService
from app.state import AppState, app_state
from app.tenants.tenancy import Tenancy

Question = tuple[str, str]
Answer = tuple[bool, str | None]


class Decider:
    def __init__(self, request: Request) -> None:
        self.request = request
        self.state: AppState = app_state(request.app)

    async def answer(self, questions: Sequence[Question]) -> list[Answer]:
        """``(allowed, reason)`` for each ``(user, permission)``, in order."""
        state = self.state
        visitor = current_request().visitor
        passport = None if visitor is None else visitor.passport
        if (
            passport is not None
            and passport.snapshot is not None
            and passport.principal is not None
            and state.decisions is not None
            and not state.settings.audit_permission_checks
        ):
            decide = state.decisions.decide
            snapshot = passport.snapshot
            record_revision(snapshot.revision)  # Auth-Revision: the state answered from
            return [decide(snapshot, user, permission) for user, permission in questions]
        return await self._from_database(questions)

    async def _from_database(self, questions: Sequence[Question]) -> list[Answer]:
        state = self.state
        request = self.request
        # Audited decisions write a row: open them as writers. Otherwise a read (a new
        # tenant's registration starts a transaction of its own, see resolve_client_key).
        async with state.database.session(write=state.settings.audit_permission_checks) as session:
            principal = await resolve_principal(request, state, session)
            tenancy = Tenancy(session, principal.tenant_id, state.cipher)
            trail = AuditTrail.for_state(state, session, principal.tenant_id, audit_origin(request))
            service = RbacService(tenancy, trail, strict_users=principal.strict_users)
            answers = [await service.decide(user, permission) for user, permission in questions]
            await session.commit()
        return answers
