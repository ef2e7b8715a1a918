"""Effective access and workflows: the decision routes (contract section 4).

The decision routes are the hot path. When the caller's decision snapshot is current
the gate answers them before routing (:mod:`app.rbac.shortcut`); otherwise they run
here: no dependency beyond the ``Request`` (FastAPI
solves nothing for it), a :class:`~app.rbac.decider.Decider` built in the handler (no
session when the decision snapshot is current),
and they serialize their answer once (:mod:`app.rbac.answers`); the
declared ``response_model`` keeps ``/openapi.json`` exact.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.edge.context import DecisionKind, record_decision
from app.name_params import PermissionName, UserName, WorkflowName
from app.paging.request import PageDep, listing_responses
from app.rbac.answers import (
    can_run_message,
    check_results_response,
    decision_response,
    has_permission_message,
)
from app.rbac.decider import Decider
from app.rbac.deps import RbacReader
from app.rbac.ordering import BY_PERMISSION_INDEX, BY_ROLE_THEN_USER, PAGED
from app.rbac.schemas import (
    CheckRequest,
    CheckResults,
    Decision,
    MembershipOut,
    PermissionRef,
    RoleRef,
    UserPermissions,
    WorkflowMembers,
)
from app.responses import Bare, Wrapped, bare, problem_examples, wrapped

router = APIRouter(prefix="/api", responses=problem_examples(400, 401))

# The decision routes take no PrincipalDep (the gate authenticated the caller), so they
# name the security schemes themselves.
SECURED: dict[str, Any] = {"security": [{"ClientKey": []}, {"OAuth2": []}]}


@router.get(
    "/has_permission/{user}/{name}",
    response_model=Wrapped[Decision],
    tags=["access"],
    summary="May the user do this? (the hot path)",
    response_model_exclude_none=True,
    openapi_extra=SECURED,
)
async def has_permission(user: UserName, name: PermissionName, request: Request) -> Response:
    [(allowed, reason)] = await Decider(request).answer([(user, name)])
    record_decision(DecisionKind.HAS_PERMISSION, allowed)
    return decision_response(allowed, reason, has_permission_message(user, name))


@router.post(
    "/check",
    response_model=Wrapped[CheckResults],
    tags=["access"],
    summary="Many decisions at once (1 to 1,000), answered in order",
    description="Each result is exactly what `GET /api/has_permission/{user}/{permission}` "
    "answers for that question (`reason` included), from one consistent state.",
    response_model_exclude_none=True,
    openapi_extra=SECURED,
)
async def check_many(body: CheckRequest, request: Request) -> Response:
    questions = [(check.user, check.permission) for check in body.checks]
    return check_results_response(questions, await Decider(request).answer(questions))


@router.get(
    "/user_permissions/{user}",
    response_model=Wrapped[UserPermissions],
    tags=["access"],
    summary="Every permission the user holds through any role",
    description=BY_PERMISSION_INDEX + PAGED + " `count` counts the entries of this answer.",
    response_model_exclude_none=True,
    responses=listing_responses(),
)
async def user_permissions(
    user: UserName, service: RbacReader, page: PageDep
) -> Wrapped[UserPermissions]:
    names, reason = await service.effective_permissions(user, page.window(str))
    data = UserPermissions(
        count=len(names.items),
        permissions=[PermissionRef(name=n) for n in names.items],
        reason=reason,
        next_cursor=page.finish(names),
    )
    return wrapped(data, f"Retrieved permissions for user '{user}'")


@router.get(
    "/which_roles_can/{name}",
    response_model=Bare[list[RoleRef]],
    tags=["access"],
    summary="Roles that hold a permission",
    description="In role-name order, paged by name. " + PAGED,
    responses=listing_responses(),
)
async def which_roles_can(
    name: PermissionName, service: RbacReader, page: PageDep
) -> Bare[list[RoleRef]]:
    roles = await service.listings.which_roles_can(name, page.window(str))
    page.finish(roles)
    return bare([RoleRef(role=role) for role in roles.items])


@router.get(
    "/which_users_can/{name}",
    response_model=Bare[list[MembershipOut]],
    tags=["access"],
    summary="Users that hold a permission, one entry per (user, role)",
    description=BY_ROLE_THEN_USER + PAGED,
    responses=listing_responses(),
)
async def which_users_can(
    name: PermissionName, service: RbacReader, page: PageDep
) -> Bare[list[MembershipOut]]:
    pairs = await service.listings.which_users_can(name, page.window(str, str))
    page.finish(pairs)
    return bare([MembershipOut(user=user, role=role) for user, role in pairs.items])


@router.get(
    "/workflow/user/{user}/can_run/{workflow}",
    response_model=Wrapped[Decision],
    tags=["workflows"],
    summary="May the user run the workflow",
    response_model_exclude_none=True,
    openapi_extra=SECURED,
)
async def can_run_workflow(user: UserName, workflow: WorkflowName, request: Request) -> Response:
    [(allowed, reason)] = await Decider(request).answer([(user, workflow)])
    record_decision(DecisionKind.CAN_RUN, allowed)
    return decision_response(allowed, reason, can_run_message(user, workflow))


@router.get(
    "/workflow/users/{workflow}",
    response_model=Wrapped[WorkflowMembers],
    tags=["workflows"],
    summary="Users who may run the workflow",
    description=BY_ROLE_THEN_USER + PAGED + " `count` counts the entries of this answer.",
    responses=listing_responses(),
)
async def workflow_users(
    workflow: WorkflowName, service: RbacReader, page: PageDep
) -> Wrapped[WorkflowMembers]:
    pairs = await service.listings.which_users_can(workflow, page.window(str, str))
    members = [MembershipOut(user=user, role=role) for user, role in pairs.items]
    return wrapped(
        WorkflowMembers(count=len(members), members=members, next_cursor=page.finish(pairs)),
        f"Retrieved users who can run workflow '{workflow}'",
    )
