"""Dependency wiring for the RBAC routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.deps import AuditDep, PrincipalDep, TenancyDep, WriterDep
from app.rbac.service import RbacService


async def reader_service(
    tenancy: TenancyDep, principal: PrincipalDep, audit: AuditDep
) -> RbacService:
    return RbacService(tenancy, audit, strict_users=principal.strict_users)


async def writer_service(tenancy: TenancyDep, principal: WriterDep, audit: AuditDep) -> RbacService:
    return RbacService(tenancy, audit, strict_users=principal.strict_users)


RbacReader = Annotated[RbacService, Depends(reader_service)]
RbacWriter = Annotated[RbacService, Depends(writer_service)]
