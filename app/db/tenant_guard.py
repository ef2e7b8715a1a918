"""Tenancy by construction: a session's statements reach only its tenant's rows.

Every session carries its *tenancy* in ``session.info``, set once for its life:

* a tenant id, set by :func:`bind_tenant` (by :class:`app.tenants.tenancy.Tenancy`,
  the request's principal, a token's verified claims, a per-tenant job). Every ORM
  ``SELECT``, ``UPDATE`` and ``DELETE`` the session runs gets
  ``with_loader_criteria(TenantOwned, tenant_id == <tenant>)``: the predicate lands on
  every occurrence of a tenant-owned model, in joins, subqueries and ``EXISTS``, and
  on :meth:`Session.get` and attribute refreshes (SQLAlchemy's documented "global
  WHERE criteria" recipe). Services write no ``tenant_id = ...`` of their own;
* :class:`EveryTenant`, a named operator path that legitimately reads every tenant.
  The whole list is :data:`OPERATOR_PATHS`; nothing is added to its statements;
* nothing yet (a request before its credential is resolved, a tenant lookup). A
  statement that touches a tenant-owned model fails to compile with
  :class:`TenancyViolation`; it never runs.

Statements the criteria cannot reach are refused in a tenant's session and in one
without a tenancy (:class:`TenancyViolation`, before anything is sent): an ``UPDATE`` or
``DELETE`` of a tenant-owned table written in Core (on ``Model.__table__``, for a fast
``executemany``) unless its ``WHERE`` states :func:`session_tenant` (the guard then
binds the session's tenant into every row), and any ``executemany`` ``UPDATE`` or
``DELETE`` of a tenant-owned model (ORM "bulk by primary key"). The unit of work's own writes (a changed or deleted object, by primary key) are
checked at flush: every such tenant-owned object must be the session's tenant's.
Binding a session to a second tenancy is refused too. A violation is a defect: the
request answers 500, never another tenant's rows.

Not restricted: ``INSERT`` (each row names its tenant; ``tenant_id`` is ``NOT NULL``),
text statements, and a Core ``SELECT`` naming ``Model.__table__`` (not an ORM
statement: write ORM selects); ``tests/api/test_tenancy_guard.py`` reads the SQL that
reaches the database on the request paths and fails on any statement over a
tenant-owned table without its tenant.

Cost: a statement gains one prebuilt option and, in a tenant's session, one named
parameter (:data:`TENANT_PARAMETER`); the compiled SQL is cached once for all tenants.
The decision hot path opens no session at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Boolean, Table, bindparam, event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql import operators
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import (
    BinaryExpression,
    BindParameter,
    BooleanClauseList,
    ColumnElement,
)

from app.models.base import Base, TenantOwned

TENANCY_INFO = "auth_tenancy"
"""The ``session.info`` key holding the session's tenant id or :class:`EveryTenant`."""


class TenancyViolation(RuntimeError):
    """A statement or a binding that could cross tenants: a defect, answered 500."""


@dataclass(frozen=True, slots=True)
class EveryTenant:
    """A named operator path whose sessions read every tenant (see :data:`OPERATOR_PATHS`)."""

    reason: str

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError("an operator path needs a name")


AUDIT_ADMINISTRATION = EveryTenant("audit administration: query, verify, sign, head, export, prune")
ENCRYPTION_JOBS = EveryTenant("encryption jobs: status, rotate, enable")
TOKEN_RETENTION = EveryTenant("token retention: tokens prune")
OPERATOR_PATHS = (AUDIT_ADMINISTRATION, ENCRYPTION_JOBS, TOKEN_RETENTION)
"""Every path of the service that reads across tenants; all run outside HTTP."""

SessionTenancy = int | EveryTenant


def tenancy_of(session: AsyncSession | Session) -> SessionTenancy | None:
    """The session's tenant id, its operator path, or ``None`` (not bound yet)."""
    found: SessionTenancy | None = session.info.get(TENANCY_INFO)
    return found


def _set(session: AsyncSession | Session, tenancy: SessionTenancy) -> None:
    current = tenancy_of(session)
    if current is None:
        session.info[TENANCY_INFO] = tenancy
    elif current != tenancy:
        raise TenancyViolation(
            f"this session belongs to {_describe(current)}; it cannot serve {_describe(tenancy)}"
        )


def _describe(tenancy: SessionTenancy) -> str:
    if isinstance(tenancy, EveryTenant):
        return f"the operator path '{tenancy.reason}'"
    return f"tenant {tenancy}"


def bind_tenant(session: AsyncSession | Session, tenant_id: int) -> None:
    """Restrict every later statement of ``session`` to ``tenant_id`` (idempotent).

    Raises :class:`TenancyViolation` if the session already serves another tenant or
    an operator path. The system audit chain (0) binds like a tenant that owns no rows.
    """
    _set(session, tenant_id)


def serve_every_tenant(session: AsyncSession | Session, path: EveryTenant) -> None:
    """Open ``session`` to every tenant, for the named operator ``path``."""
    _set(session, path)


def require_tenant(session: AsyncSession | Session, tenant_id: int) -> None:
    """Refuse (:class:`TenancyViolation`) unless ``session`` may write ``tenant_id``'s
    rows: bound to it, or on an operator path."""
    current = tenancy_of(session)
    if current != tenant_id and not isinstance(current, EveryTenant):
        where = "no tenant" if current is None else _describe(current)
        raise TenancyViolation(f"tenant {tenant_id}'s rows asked of a session bound to {where}")


# --- the hook ----------------------------------------------------------------------


class _Unscoped(ColumnElement[bool]):
    """Criteria that refuses to compile: stands for the tenant a session lacks."""

    __visit_name__ = "auth_unscoped_tenant"
    _traverse_internals = []  # noqa: RUF012 - SQLAlchemy's cache-key contract
    inherit_cache = True
    type = Boolean()


@compiles(_Unscoped)
def _refuse_unscoped(_element: _Unscoped, _compiler: SQLCompiler, **_kw: Any) -> str:
    raise TenancyViolation(
        "a statement on a tenant-owned table ran in a session bound to no tenant: build "
        "a Tenancy (or bind_tenant) first, or open the session on a named operator path"
    )


_UNSCOPED = _Unscoped()
_REFUSE = with_loader_criteria(TenantOwned, lambda _cls: _UNSCOPED, include_aliases=True)


TENANT_PARAMETER = "auth_tenant_id"
"""The bound parameter that carries a session's tenant into its statements."""
_TENANT: BindParameter[Any] = bindparam(TENANT_PARAMETER)
_CRITERIA = with_loader_criteria(
    TenantOwned, lambda cls: cls.tenant_id == _TENANT, include_aliases=True
)
"""One option for every tenant: the tenant id is a named parameter supplied at each
execution, so the compiled statement is shared by all tenants and nothing is built per
statement but the option's attachment."""


def session_tenant(table: Table) -> ColumnElement[bool]:
    """``table.tenant_id = <the session's tenant>``, for a Core ``UPDATE``/``DELETE`` of a
    tenant-owned table (the one form the criteria cannot reach): the guard binds the
    value from the session, for every row of an ``executemany``."""
    return table.c.tenant_id == _TENANT


def _states_session_tenant(statement: Any, table: Table) -> bool:
    """Whether ``statement``'s WHERE is ``session_tenant(table) AND ...``."""
    where = statement.whereclause
    terms = where.clauses if isinstance(where, BooleanClauseList) else (where,)
    return any(
        isinstance(term, BinaryExpression)
        and term.operator is operators.eq
        and term.left is table.c.tenant_id
        and isinstance(term.right, BindParameter)
        and term.right.key == TENANT_PARAMETER
        for term in terms
    )


@lru_cache(maxsize=1)
def tenant_tables() -> frozenset[Table]:
    """The tables of every tenant-owned model."""
    tables: set[Table] = set()
    for mapper in Base.registry.mappers:
        if issubclass(mapper.class_, TenantOwned) and isinstance(mapper.local_table, Table):
            tables.add(mapper.local_table)
    return frozenset(tables)


def _refuse_uncovered(state: ORMExecuteState, tenancy: int | None) -> None:
    """UPDATE/DELETE forms the criteria cannot reach (see the module docstring)."""
    table = getattr(state.statement, "table", None)
    if table is None or table not in tenant_tables():
        return
    if state.is_orm_statement:
        if state.is_executemany:
            raise TenancyViolation(
                f"an executemany UPDATE/DELETE of the {table.name} model cannot carry the "
                "tenant: write one ORM statement, or a Core one stating session_tenant()"
            )
        return
    if not _states_session_tenant(state.statement, table):
        raise TenancyViolation(
            f"a Core UPDATE/DELETE of {table.name} must state session_tenant({table.name}) "
            "in its WHERE, or be written on the ORM model"
        )
    if tenancy is None:
        raise TenancyViolation(f"an UPDATE/DELETE of {table.name} in a session bound to no tenant")


def _restrict(state: ORMExecuteState) -> None:
    if state.is_select:
        dml = False
    elif state.is_update or state.is_delete:
        dml = True
    else:
        return
    tenancy = state.session.info.get(TENANCY_INFO)
    if isinstance(tenancy, EveryTenant):
        return
    if dml:
        _refuse_uncovered(state, tenancy)
    if tenancy is None:
        state.statement = state.statement.options(_REFUSE)
        return
    state.statement = state.statement.options(_CRITERIA)
    parameters = state.parameters
    if not parameters:
        state.parameters = {TENANT_PARAMETER: tenancy}
    elif isinstance(parameters, Mapping):
        state.parameters = {**parameters, TENANT_PARAMETER: tenancy}
    else:  # executemany: a Core statement stating session_tenant(), or another table
        state.parameters = [{**row, TENANT_PARAMETER: tenancy} for row in parameters]


def _check_flush(session: Session, _context: Any, _instances: Any) -> None:
    """The unit of work updates and deletes the session's tenant's objects only."""
    tenancy = session.info.get(TENANCY_INFO)
    if isinstance(tenancy, EveryTenant):
        return
    for instance in (*session.dirty, *session.deleted):
        if isinstance(instance, TenantOwned) and instance.tenant_id != tenancy:
            raise TenancyViolation(
                f"a {type(instance).__name__} of tenant {instance.tenant_id} was changed "
                f"in a session bound to {'no tenant' if tenancy is None else _describe(tenancy)}"
            )


def guard_sessions(session_class: type[Session]) -> None:
    """Install the hooks on every session of ``session_class``."""
    event.listen(session_class, "do_orm_execute", _restrict)
    event.listen(session_class, "before_flush", _check_flush)
