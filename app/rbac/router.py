"""Roles, memberships and permission grants (contract section 4). HTTP only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from app.audit.refusals import refusals_audited_as
from app.name_params import PermissionName, RoleName, UserName
from app.paging.request import PageDep, listing_responses
from app.rbac.deps import RbacReader, RbacWriter
from app.rbac.ordering import BY_PERMISSION_INDEX, BY_USER_INDEX, PAGED
from app.rbac.schemas import (
    Decision,
    DeleteResult,
    MembershipOut,
    PermissionRef,
    RoleBody,
    RoleOut,
)
from app.responses import Bare, Wrapped, bare, problem_examples, wrapped

ERRORS = problem_examples(400, 401, 403)

router = APIRouter(prefix="/api", responses=ERRORS)


# --- roles ------------------------------------------------------------------------------
@router.post(
    "/role/{role}",
    dependencies=[refusals_audited_as("CREATE_ROLE", "role")],
    response_model=Bare[bool],
    tags=["roles"],
    summary="Create a role (idempotent)",
    description='Optional JSON body `{"description": "..."}`; given for an existing '
    "role, it replaces the description (encrypted at rest when encryption is on).",
    responses={200: {"content": {"application/json": {"example": {"result": True}}}}},
)
async def create_role(
    role: RoleName,
    service: RbacWriter,
    body: Annotated[RoleBody | None, Body()] = None,
) -> Bare[bool]:
    return bare(await service.create_role(role, body.description if body else None))


@router.delete(
    "/role/{role}",
    dependencies=[refusals_audited_as("DELETE_ROLE", "role")],
    response_model=Wrapped[DeleteResult],
    tags=["roles"],
    summary="Delete a role with its memberships and grants",
)
async def delete_role(role: RoleName, service: RbacWriter) -> Wrapped[DeleteResult]:
    deleted = await service.delete_role(role)
    return wrapped(DeleteResult(result=deleted), f"Role '{role}' deletion completed")


@router.get(
    "/roles",
    response_model=Bare[list[RoleOut]],
    tags=["roles"],
    summary="List roles",
    description="In role-name order, paged by name. " + PAGED,
    responses=listing_responses(),
)
async def list_roles(service: RbacReader, page: PageDep) -> Bare[list[RoleOut]]:
    roles = await service.listings.roles(page.window(str))
    page.finish(roles)
    return bare([RoleOut(role=name, description=text) for name, text in roles.items])


@router.get(
    "/members/{role}",
    response_model=Bare[list[MembershipOut]],
    tags=["memberships"],
    summary="List a role's members",
    description=BY_USER_INDEX + PAGED,
    responses=listing_responses(),
)
async def role_members(
    role: RoleName, service: RbacReader, page: PageDep
) -> Bare[list[MembershipOut]]:
    users = await service.listings.role_members(role, page.window(str))
    page.finish(users)
    return bare([MembershipOut(user=user, role=role) for user in users.items])


# --- memberships ------------------------------------------------------------------------
@router.post(
    "/membership/{user}/{role}",
    dependencies=[refusals_audited_as("ADD_MEMBERSHIP", "membership")],
    response_model=Bare[bool],
    tags=["memberships"],
    summary="Add a user to a role",
    description=(
        "`false` when the role does not exist. With strict user identity on, a user "
        "without a live API key is refused with 409 `user_not_key_backed`."
    ),
    responses={
        409: {
            "description": "Strict user identity: the user has no live API key",
            "content": {
                "application/json": {
                    "example": {"result": False, "reason": "user_not_key_backed", "hint": "..."}
                }
            },
        }
    },
)
async def add_membership(user: UserName, role: RoleName, service: RbacWriter) -> Bare[bool]:
    return bare(await service.add_membership(user, role))


@router.delete(
    "/membership/{user}/{role}",
    dependencies=[refusals_audited_as("REMOVE_MEMBERSHIP", "membership")],
    response_model=Bare[bool],
    tags=["memberships"],
    summary="Remove a user from a role (always true)",
)
async def remove_membership(user: UserName, role: RoleName, service: RbacWriter) -> Bare[bool]:
    return bare(await service.remove_membership(user, role))


@router.get(
    "/membership/{user}/{role}",
    response_model=Wrapped[Decision],
    tags=["memberships"],
    summary="Is the user a member of the role",
    description="`data.has_permission` means *is a member*.",
    response_model_exclude_none=True,
)
async def check_membership(
    user: UserName, role: RoleName, service: RbacReader
) -> Wrapped[Decision]:
    member, reason = await service.check_membership(user, role)
    return wrapped(
        Decision(has_permission=member, reason=reason),
        f"Membership check for user '{user}' and group '{role}' completed",
    )


@router.get(
    "/user_roles/{user}",
    response_model=Bare[list[MembershipOut]],
    tags=["memberships"],
    summary="List a user's roles",
    description="In role-name order, paged by name. " + PAGED,
    responses=listing_responses(),
)
async def user_roles(
    user: UserName, service: RbacReader, page: PageDep
) -> Bare[list[MembershipOut]]:
    roles = await service.listings.user_roles(user, page.window(str))
    page.finish(roles)
    return bare([MembershipOut(user=user, role=role) for role in roles.items])


# --- permissions ------------------------------------------------------------------------
@router.post(
    "/permission/{role}/{name}",
    dependencies=[refusals_audited_as("ADD_PERMISSION", "permission")],
    response_model=Bare[bool],
    tags=["permissions"],
    summary="Grant a permission to a role (idempotent)",
    description="`false` when the role does not exist.",
)
async def grant_permission(role: RoleName, name: PermissionName, service: RbacWriter) -> Bare[bool]:
    return bare(await service.grant(role, name))


@router.delete(
    "/permission/{role}/{name}",
    dependencies=[refusals_audited_as("REMOVE_PERMISSION", "permission")],
    response_model=Bare[bool],
    tags=["permissions"],
    summary="Revoke a permission from a role (always true)",
)
async def revoke_permission(
    role: RoleName, name: PermissionName, service: RbacWriter
) -> Bare[bool]:
    return bare(await service.revoke(role, name))


@router.get(
    "/permission/{role}/{name}",
    response_model=Bare[bool],
    tags=["permissions"],
    summary="Does the role hold the permission",
)
async def role_has_permission(
    role: RoleName, name: PermissionName, service: RbacReader
) -> Bare[bool]:
    return bare(await service.role_has_permission(role, name))


@router.get(
    "/role_permissions/{role}",
    response_model=Wrapped[list[PermissionRef]],
    tags=["permissions"],
    summary="List a role's permissions",
    description=BY_PERMISSION_INDEX
    + PAGED
    + " `data` is the list itself, so the next cursor travels in the `Link` header only.",
    responses=listing_responses(),
)
async def role_permissions(
    role: RoleName, service: RbacReader, page: PageDep
) -> Wrapped[list[PermissionRef]]:
    names = await service.listings.role_permissions(role, page.window(str))
    page.finish(names)
    return wrapped(
        [PermissionRef(name=name) for name in names.items],
        f"Retrieved permissions for role '{role}'",
    )
