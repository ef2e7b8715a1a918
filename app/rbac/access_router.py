"""Effective access and workflows: the decision routes (contract section 4)."""

from __future__ import annotations

from fastapi import APIRouter

from app.edge.context import DecisionKind, record_decision
from app.names import PermissionName, UserName, WorkflowName
from app.rbac.deps import RbacReader
from app.rbac.schemas import (
    Decision,
    MembershipOut,
    PermissionRef,
    RoleRef,
    UserPermissions,
    WorkflowMembers,
)
from app.responses import Bare, Wrapped, bare, problem_examples, wrapped

router = APIRouter(prefix="/api", responses=problem_examples(400, 401))


@router.get(
    "/has_permission/{user}/{name}",
    response_model=Wrapped[Decision],
    tags=["access"],
    summary="May the user do this? (the hot path)",
    response_model_exclude_none=True,
)
async def has_permission(
    user: UserName, name: PermissionName, service: RbacReader
) -> Wrapped[Decision]:
    allowed, reason = await service.decide(user, name)
    record_decision(DecisionKind.HAS_PERMISSION, allowed)
    return wrapped(
        Decision(has_permission=allowed, reason=reason),
        f"Permission check for user '{user}' and permission '{name}' completed",
    )


@router.get(
    "/user_permissions/{user}",
    response_model=Wrapped[UserPermissions],
    tags=["access"],
    summary="Every permission the user holds through any role",
    response_model_exclude_none=True,
)
async def user_permissions(user: UserName, service: RbacReader) -> Wrapped[UserPermissions]:
    names, reason = await service.effective_permissions(user)
    data = UserPermissions(
        count=len(names), permissions=[PermissionRef(name=n) for n in names], reason=reason
    )
    return wrapped(data, f"Retrieved permissions for user '{user}'")


@router.get(
    "/which_roles_can/{name}",
    response_model=Bare[list[RoleRef]],
    tags=["access"],
    summary="Roles that hold a permission",
)
async def which_roles_can(name: PermissionName, service: RbacReader) -> Bare[list[RoleRef]]:
    return bare([RoleRef(role=role) for role in await service.which_roles_can(name)])


@router.get(
    "/which_users_can/{name}",
    response_model=Bare[list[MembershipOut]],
    tags=["access"],
    summary="Users that hold a permission, one entry per (user, role)",
)
async def which_users_can(name: PermissionName, service: RbacReader) -> Bare[list[MembershipOut]]:
    pairs = await service.which_users_can(name)
    return bare([MembershipOut(user=user, role=role) for user, role in pairs])


@router.get(
    "/workflow/user/{user}/can_run/{workflow}",
    response_model=Wrapped[Decision],
    tags=["workflows"],
    summary="May the user run the workflow",
    response_model_exclude_none=True,
)
async def can_run_workflow(
    user: UserName, workflow: WorkflowName, service: RbacReader
) -> Wrapped[Decision]:
    allowed, reason = await service.decide(user, workflow)
    record_decision(DecisionKind.CAN_RUN, allowed)
    return wrapped(
        Decision(has_permission=allowed, reason=reason),
        f"Workflow permission check for user '{user}' and workflow '{workflow}' completed",
    )


@router.get(
    "/workflow/users/{workflow}",
    response_model=Wrapped[WorkflowMembers],
    tags=["workflows"],
    summary="Users who may run the workflow",
)
async def workflow_users(workflow: WorkflowName, service: RbacReader) -> Wrapped[WorkflowMembers]:
    pairs = await service.which_users_can(workflow)
    members = [MembershipOut(user=user, role=role) for user, role in pairs]
    return wrapped(
        WorkflowMembers(count=len(members), members=members),
        f"Retrieved users who can run workflow '{workflow}'",
    )
