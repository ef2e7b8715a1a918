"""The Annotated dependency aliases every router uses.

* ``SettingsDep``, ``DatabaseDep``: built once by the lifespan.
* ``SessionDep``: one session per request. Its transaction commits after the
  handler returns and *before* the response is sent (``scope="function"``), so a
  failed commit can never follow a 2xx; any exception rolls it back. A committed
  write answers ``Auth-Revision: <n>``, the tenant's revision after it
  (:func:`get_session`).
* ``PrincipalDep``: the tenant behind the request's credential (the gate middleware
  has already checked the header's shape). ``WriterDep`` additionally refuses
  read-only (``check``-scope) principals with 403. Resolving it binds the request's
  session to that tenant (:mod:`app.db.tenant_guard`): before, the session reaches no
  tenant-owned row; after, only the principal's.
* ``TenancyDep``: the principal's :class:`~app.tenants.tenancy.Tenancy`, the helper
  services query through.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.trail import AuditOrigin, AuditTrail
from app.config import Settings
from app.db.engine import Database
from app.db.tenant_guard import bind_tenant
from app.decisions.revision import current_revision, session_revision
from app.edge.context import current_request, record_revision
from app.edge.rate_limit import guard_registration
from app.errors import Forbidden, Unauthorized
from app.security.credentials import CredentialKind, hash_client_key
from app.security.failures import FailureReason
from app.security.gate import Visitor
from app.security.principal import Principal
from app.state import AppState, app_state
from app.tenants.service import TenantRecord, resolve_client_key
from app.tenants.tenancy import Tenancy
from app.tokens.service import TokenService

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ClientKey",
    description="The tenant's client key (a UUID4), or an access token from /api/token.",
)
oauth2_scheme = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(
            tokenUrl="/api/token",
            scopes={"admin": "Every route of the tenant", "check": "Decision and read routes only"},
        )
    ),
    scheme_name="OAuth2",
    description="Client credentials: leave client_id empty, client_secret is the client key.",
    auto_error=False,
)


async def get_state(request: Request) -> AppState:
    return app_state(request.app)


StateDep = Annotated[AppState, Depends(get_state)]


async def get_settings(state: StateDep) -> Settings:
    return state.settings


async def get_database(state: StateDep) -> Database:
    return state.database


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]


async def get_session(request: Request, state: StateDep) -> AsyncIterator[AsyncSession]:
    # Audited decisions write a row: open them as writers so SQLite never has to
    # upgrade a read snapshot to a write lock (which fails instead of waiting).
    write = request.method not in READ_METHODS or state.settings.audit_permission_checks
    async with state.database.session(write=write) as session:
        yield session
        revision = await _revision_written(session)
        await session.commit()
    if revision is not None:
        record_revision(revision)  # answered as Auth-Revision by the edge envelope


async def _revision_written(session: AsyncSession) -> int | None:
    """The tenant's revision after this request's write: the one its transaction bumped
    (:func:`app.decisions.revision.bump_revision`), or, for a write route that changed
    nothing (an idempotent repeat), the tenant's current revision. ``None`` for reads."""
    revision = session_revision(session)
    if revision is None:
        context = current_request()
        if context.tenant_write and context.principal is not None:
            revision = await current_revision(session, context.principal.tenant_id)
    return revision


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def registration_guard(request: Request, state: AppState) -> Callable[[], Awaitable[None]]:
    """The per-address new-tenant budget, checked only when a key opens a tenant."""

    async def guard() -> None:
        await guard_registration(state.rate_limits, request.scope)

    return guard


def _visitor() -> Visitor:
    visitor = current_request().visitor
    if visitor is None:
        raise Unauthorized("Missing credential.", reason=FailureReason.MISSING_HEADER)
    return visitor


async def tenant_of_key(
    request: Request, state: AppState, session: AsyncSession, key_hash: str
) -> TenantRecord:
    """The tenant behind a client key's hash (opening it under open registration, within
    the address's registration budget); raises :class:`Unauthorized` when refused."""
    return await resolve_client_key(
        session,
        key_hash,
        state.settings.tenant_registration,
        registration_guard(request, state),
        audit_key=state.secrets.audit,
    )


async def resolve_principal(request: Request, state: AppState, session: AsyncSession) -> Principal:
    """Authenticate once. The gate's passport when it holds the principal (a current
    decision snapshot, or the freshness probe's read of a tenant that is not disabled:
    no query); otherwise the database: an access token (family, tenant and key
    generation) or a client key (tenant lookup, open registration, refusals of retired
    keys and disabled tenants, audited). ``session`` is bound to the principal's
    tenant."""
    visitor = _visitor()
    if visitor.passport is not None and visitor.passport.principal is not None:
        principal = visitor.passport.principal
    elif visitor.credential.kind is CredentialKind.JWT:
        principal = await TokenService(session, state.tokens, state.settings).resolve_access(
            visitor.credential.value, verified=visitor.claims
        )
    else:
        key_hash = visitor.key_hash or hash_client_key(
            visitor.credential.value, state.secrets.key_hash
        )
        settings = state.settings
        tenant = await tenant_of_key(request, state, session, key_hash)
        principal = Principal(
            tenant_id=tenant.id,
            strict_users=settings.strict_users_default
            if tenant.strict_users is None
            else tenant.strict_users,
            key_generation=tenant.key_generation,
            key_hash=key_hash,
        )
    bind_tenant(session, principal.tenant_id)
    current_request().principal = principal
    return principal


async def get_principal(
    request: Request,
    state: StateDep,
    session: SessionDep,
    _client_key: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    _token: Annotated[str | None, Security(oauth2_scheme)],
) -> Principal:
    """The authenticated principal (:func:`resolve_principal`); the two security
    parameters only document the schemes in ``/openapi.json``."""
    return await resolve_principal(request, state, session)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def require_writer(principal: PrincipalDep) -> Principal:
    if not principal.may_write:
        raise Forbidden("This credential may only call decision and read routes.")
    current_request().tenant_write = True  # answers Auth-Revision
    return principal


WriterDep = Annotated[Principal, Depends(require_writer)]


async def require_client_key(principal: PrincipalDep) -> Principal:
    """Key management is for the client key itself: a token of any scope is refused,
    so a leaked token can never fetch a rotate key or rotate the tenant away."""
    if principal.key_hash is None:
        raise Forbidden("Key management needs the client key itself; tokens are refused.")
    current_request().tenant_write = True  # answers Auth-Revision
    return principal


KeyOwnerDep = Annotated[Principal, Depends(require_client_key)]


async def get_tenancy(session: SessionDep, principal: PrincipalDep, state: StateDep) -> Tenancy:
    return Tenancy(session, principal.tenant_id, state.cipher)


TenancyDep = Annotated[Tenancy, Depends(get_tenancy)]


def audit_origin(request: Request) -> AuditOrigin:
    """Who called, for the audit trail: client IP (after trusted-proxy handling),
    user agent, request id (the edge's: the caller's valid ``X-Request-ID`` or a new one)."""
    return AuditOrigin(
        ip_address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        request_id=current_request().request_id,
    )


async def audit_trail(
    request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> AuditTrail:
    return AuditTrail.for_state(state, session, principal.tenant_id, audit_origin(request))


AuditDep = Annotated[AuditTrail, Depends(audit_trail)]

AuditFactory = Callable[[int], AuditTrail]


async def audit_factory(request: Request, state: StateDep, session: SessionDep) -> AuditFactory:
    """Audit trails for tenants known only inside the use case (tokens, recovery)."""
    origin = audit_origin(request)

    def for_tenant(tenant_id: int) -> AuditTrail:
        return AuditTrail.for_state(state, session, tenant_id, origin)

    return for_tenant


AuditFactoryDep = Annotated[AuditFactory, Depends(audit_factory)]
