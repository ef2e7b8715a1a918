"""Dependency wiring for the RBAC routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.deps import PrincipalDep, SessionDep, WriterDep
from app.rbac.service import RbacService
from app.tenants.scope import TenantScope


def reader_service(session: SessionDep, principal: PrincipalDep) -> RbacService:
    return RbacService(
        TenantScope(session, principal.tenant_id), strict_users=principal.strict_users
    )


def writer_service(session: SessionDep, principal: WriterDep) -> RbacService:
    return RbacService(
        TenantScope(session, principal.tenant_id), strict_users=principal.strict_users
    )


RbacReader = Annotated[RbacService, Depends(reader_service)]
RbacWriter = Annotated[RbacService, Depends(writer_service)]
