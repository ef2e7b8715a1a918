"""A plain in-memory model of one tenant's RBAC state, for the stateful test.

Nothing here talks to the service: :class:`TenantModel` is what the contract
(``shared/spec/api.md``) says a tenant holds after a sequence of calls, and the
answers the service must give about it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Few names, so that random sequences often touch the same role, user and permission;
# every tenant uses the same ones, so that a leak between tenants shows.
USERS = ("ann", "bob@example.com")
ROLES = ("editors", "viewers")
PERMISSIONS = ("read", "publish")
NOT_KEY_BACKED = "user_not_key_backed"


@dataclass
class ApiKey:
    key_id: str
    secret: str
    live: bool = True


@dataclass
class TenantModel:
    """One tenant: its current client key and everything stored under it."""

    client_key: str
    retired_keys: list[str] = field(default_factory=list)
    strict: bool = False
    roles: set[str] = field(default_factory=set)
    grants: dict[str, set[str]] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)
    keys: dict[str, list[ApiKey]] = field(default_factory=dict)

    # Writes -------------------------------------------------------------------------

    def create_role(self, role: str) -> None:
        if role not in self.roles:
            self.roles.add(role)
            self.grants[role] = set()
            self.members[role] = set()

    def delete_role(self, role: str) -> bool:
        if role not in self.roles:
            return False
        self.roles.discard(role)
        self.grants.pop(role, None)
        self.members.pop(role, None)
        return True

    def grant(self, role: str, permission: str) -> bool:
        if role not in self.roles:
            return False
        self.grants[role].add(permission)
        return True

    def revoke_grant(self, role: str, permission: str) -> None:
        self.grants.get(role, set()).discard(permission)

    def add_member(self, user: str, role: str) -> bool:
        if role not in self.roles:
            return False
        self.members[role].add(user)
        return True

    def remove_member(self, user: str, role: str) -> None:
        self.members.get(role, set()).discard(user)

    def add_key(self, user: str, key: ApiKey) -> None:
        self.keys.setdefault(user, []).append(key)

    def rotate(self, new_key: str) -> None:
        self.retired_keys.append(self.client_key)
        self.client_key = new_key

    # Answers ------------------------------------------------------------------------

    def key_backed(self, user: str) -> bool:
        return any(key.live for key in self.keys.get(user, []))

    def gated(self, user: str) -> bool:
        """Strict identity refuses decisions about ``user``."""
        return self.strict and not self.key_backed(user)

    def user_roles(self, user: str) -> set[str]:
        return {role for role in self.roles if user in self.members[role]}

    def effective(self, user: str) -> set[str]:
        """What ``user`` holds through their roles (before strict identity)."""
        return {perm for role in self.user_roles(user) for perm in self.grants[role]}

    def decision(self, user: str, permission: str) -> tuple[bool, str | None]:
        if self.gated(user):
            return False, NOT_KEY_BACKED
        return permission in self.effective(user), None

    def which_users_can(self, permission: str) -> set[tuple[str, str]]:
        return {
            (user, role)
            for role in self.roles
            if permission in self.grants[role]
            for user in self.members[role]
        }

    def which_roles_can(self, permission: str) -> set[str]:
        return {role for role in self.roles if permission in self.grants[role]}
