"""A small RBAC data set and every answer the contract gives about it.

:func:`populate` writes it through the API; :meth:`Dataset.answers` lists read
requests with their exact expected bodies, computed from the definition (never by
asking the service), so the same checks run against in-process apps and real
server processes, before and after the data is re-encrypted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

DESCRIPTIONS: dict[str, str | None] = {
    "admins": None,
    "editors": "Edit and publish articles",
    "viewers": "Read-only access",
}
GRANTS = {
    "admins": ["delete-all", "publish", "read"],
    "editors": ["edit", "publish"],
    "viewers": ["read"],
}
MEMBERS = {
    "admins": ["carol+ops@example.com"],
    "editors": ["ann@example.com"],
    "viewers": ["ann@example.com", "bob.k"],
}
LABELS = {"ann@example.com": "ann laptop", "bob.k": "ci runner"}
OUTSIDER = "mallory"


@dataclass(frozen=True)
class Answer:
    """``GET path`` answers 200 with ``{"result": body}`` (bare) or ``data == body``."""

    path: str
    body: Any
    wrapped: bool = False

    def matches(self, response: httpx.Response) -> bool:
        if response.status_code != 200:
            return False
        payload = response.json()
        if self.wrapped:
            return bool(payload.get("success") is True and payload.get("data") == self.body)
        return bool(payload == {"result": self.body})


@dataclass(frozen=True)
class Dataset:
    members: dict[str, list[str]] = field(default_factory=lambda: dict(MEMBERS))

    @property
    def users(self) -> list[str]:
        return sorted({user for users in self.members.values() for user in users})

    @property
    def permissions(self) -> list[str]:
        return sorted({name for names in GRANTS.values() for name in names})

    def counts(self) -> dict[str, int]:
        """Rows per encrypted column."""
        return {
            "memberships.user_name": sum(len(users) for users in self.members.values()),
            "grants.permission": sum(len(names) for names in GRANTS.values()),
            "api_keys.user_name": len(LABELS),
            "api_keys.label": len(LABELS),
            "roles.description": sum(text is not None for text in DESCRIPTIONS.values()),
            # One audit row, with a resource, per write of :func:`populate`.
            "audit_log.resource": len(DESCRIPTIONS)
            + sum(len(names) for names in GRANTS.values())
            + sum(len(users) for users in self.members.values())
            + len(LABELS),
        }

    def allowed(self, user: str, permission: str) -> bool:
        return any(user in self.members[role] and permission in GRANTS[role] for role in GRANTS)

    def answers(self) -> list[Answer]:
        roles = sorted(DESCRIPTIONS)
        answers = [
            Answer("/api/roles", [{"role": r, "description": DESCRIPTIONS[r]} for r in roles])
        ]
        for role in roles:
            members = [{"user": user, "role": role} for user in sorted(self.members[role])]
            answers.append(Answer(f"/api/members/{role}", members))
            granted = [{"name": name} for name in sorted(GRANTS[role])]
            answers.append(Answer(f"/api/role_permissions/{role}", granted, wrapped=True))
        for permission in self.permissions:
            holders = [
                {"user": user, "role": role}
                for role in roles
                if permission in GRANTS[role]
                for user in sorted(self.members[role])
            ]
            answers.append(Answer(f"/api/which_users_can/{permission}", holders))
        for user in [*self.users, OUTSIDER]:
            names = [p for p in self.permissions if self.allowed(user, p)]
            body = {"count": len(names), "permissions": [{"name": name} for name in names]}
            answers.append(Answer(f"/api/user_permissions/{user}", body, wrapped=True))
            for permission in self.permissions:
                decision = {"has_permission": self.allowed(user, permission)}
                path = f"/api/has_permission/{user}/{permission}"
                answers.append(Answer(path, decision, wrapped=True))
        return answers

    def label_answers(self) -> list[tuple[str, list[str]]]:
        return [(f"/api/apikeys/user/{user}", [label]) for user, label in sorted(LABELS.items())]


def with_extra_viewers(count: int) -> Dataset:
    """The data set plus ``count`` more members of ``viewers``."""
    members = dict(MEMBERS)
    members["viewers"] = [*MEMBERS["viewers"], *(f"user{n:04d}@example.com" for n in range(count))]
    return Dataset(members)


async def populate(api: httpx.AsyncClient, data: Dataset, *, concurrency: int = 8) -> None:
    writes: list[Callable[[], Any]] = []
    for role, description in DESCRIPTIONS.items():
        body = {"description": description} if description else None
        response = await api.post(f"/api/role/{role}", json=body)
        assert response.json() == {"result": True}, response.text
    for role, names in GRANTS.items():
        writes.extend(_post(api, f"/api/permission/{role}/{name}") for name in names)
    for role, users in data.members.items():
        writes.extend(_post(api, f"/api/membership/{user}/{role}") for user in users)
    for user, label in LABELS.items():
        writes.append(_post(api, f"/api/apikeys/user/{user}", {"label": label}))
    for start in range(0, len(writes), concurrency):
        await asyncio.gather(*(write() for write in writes[start : start + concurrency]))


def _post(
    api: httpx.AsyncClient, path: str, body: dict[str, str] | None = None
) -> Callable[[], Any]:
    async def write() -> None:
        response = await api.post(path, json=body)
        assert response.status_code == 200, response.text

    return write


async def check_answers(api: httpx.AsyncClient, data: Dataset) -> None:
    """Every answer about ``data`` is exactly as defined."""
    for answer in data.answers():
        response = await api.get(answer.path)
        assert answer.matches(response), f"{answer.path}: {response.text}"
    for path, labels in data.label_answers():
        keys = (await api.get(path)).json()["data"]["keys"]
        assert [key["label"] for key in keys] == labels
