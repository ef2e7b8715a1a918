"""Model-based testing: random sequences of writes across three tenants, checked
against :mod:`tests.api.rbac_model` after every step.

A hypothesis state machine creates and deletes roles, grants and revokes permissions,
adds and removes members, issues and revokes users' API keys, turns strict identity on
and off and rotates client keys, on three tenants that use the same names (so a leak
between tenants shows as a disagreement). After every step, for every tenant:

* the role listing (whole, and walked one at a time through ``Link``), members,
  ``user_roles``, ``role_permissions``, ``which_roles_can``, ``which_users_can``, the
  workflow users, API-key listings and settings equal the model (in full for the tenants the step wrote to; roles,
  ``which_users_can`` and decisions for the others);
* ``has_permission``, workflow ``can_run`` and the batch ``POST /api/check`` answer
  the model's decision for every user and permission, asked twice: once after the writes, then again once the decision
  snapshots are rebuilt (``decisions.settle()``), when every answer must come from a
  warm snapshot (``stats.fresh`` counts them) and still agree;
* ``user_permissions`` is the model's effective set (or the strict refusal), and agrees
  with ``has_permission`` and ``which_users_can``;
* a retired client key answers 401; another tenant's API key validates as
  ``unknown_key``.

Runs on SQLite and PostgreSQL with field encryption on, in process (the conftest's
app). Bounded: ``MODEL_MAX_EXAMPLES`` sequences (default 4 on SQLite, 3 on
PostgreSQL) of up to ``MODEL_STEPS`` steps (default 15), about 15 seconds per backend,
so that every run of the suite walks new sequences; the README gives a longer run.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from tests.api.rbac_model import (
    NOT_KEY_BACKED,
    PERMISSIONS,
    ROLES,
    USERS,
    ApiKey,
    TenantModel,
)

T = TypeVar("T")
# PostgreSQL answers each request more slowly in process: fewer sequences there.
MAX_EXAMPLES = {
    "sqlite": int(os.environ.get("MODEL_MAX_EXAMPLES", "4")),
    "postgresql": int(os.environ.get("MODEL_MAX_EXAMPLES", "3")),
}
STEPS = int(os.environ.get("MODEL_STEPS", "15"))
TENANTS = 3
CALL_TIMEOUT = 60.0
WRITES = (
    "create_role",
    "delete_role",
    "grant",
    "revoke_grant",
    "add_member",
    "remove_member",
    "create_api_key",
    "revoke_api_key",
    "set_strict",
    "rotate_client_key",
    "validate_api_key",
)

# Most steps write to the first tenant, so that sequences build on what they wrote;
# the other two keep the same names, so that a leak between tenants shows.
QUESTIONS = [(user, permission) for user in USERS for permission in PERMISSIONS]
# has_permission for every question, one can_run, one batch check.
DECISION_REQUESTS = len(QUESTIONS) + 2
tenants = st.sampled_from((0, 0, 0, 0, 1, 2))
users = st.sampled_from(USERS)
roles = st.sampled_from(ROLES)
permissions = st.sampled_from(PERMISSIONS)


class Service:
    """The in-process app, driven from the state machine's thread."""

    def __init__(self, app: FastAPI, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(CALL_TIMEOUT)

    def call(self, key: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"}
        return self.run(self.http.request(method, path, headers=headers, **kwargs))

    def ok(self, key: str, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(key, method, path, **kwargs)
        assert response.status_code == 200, (method, path, response.status_code, response.text)
        return response.json()

    def reads(self, key: str, paths: list[str]) -> dict[str, Any]:
        """``GET`` every path at once; every answer must be 200."""

        async def read_all() -> list[httpx.Response]:
            headers = {"Authorization": f"Bearer {key}"}
            return await asyncio.gather(*(self.http.get(path, headers=headers) for path in paths))

        answers: dict[str, Any] = {}
        for path, response in zip(paths, self.run(read_all()), strict=True):
            assert response.status_code == 200, (path, response.status_code, response.text)
            answers[path] = response.json()
        return answers

    def settle(self) -> None:
        decisions = self.app.state.auth.decisions
        self.run(decisions.settle())

    def fresh_answers(self) -> int:
        fresh: int = self.app.state.auth.decisions.stats.fresh
        return fresh


class RbacMachine(RuleBasedStateMachine):
    service: Service

    def __init__(self) -> None:
        super().__init__()
        self.models: list[TenantModel] = []
        self.touched: set[int] = set()

    def _tenant(self, index: int) -> TenantModel:
        """The model of tenant ``index``, which this step writes to."""
        self.touched.add(index)
        return self.models[index]

    @initialize()
    def open_tenants(self) -> None:
        self.models = [TenantModel(client_key=str(uuid.uuid4())) for _ in range(TENANTS)]
        self.touched = set(range(TENANTS))
        for model in self.models:
            body = self.service.ok(model.client_key, "GET", "/api/settings")
            model.strict = body["data"]["strict_users"]

    # Writes -------------------------------------------------------------------------

    @rule(
        operation=st.sampled_from(WRITES),
        tenant=tenants,
        user=users,
        role=roles,
        existing_role=st.integers(min_value=0, max_value=3),
        permission=permissions,
        pick=st.integers(min_value=0, max_value=7),
        strict=st.booleans(),
    )
    def write(
        self,
        operation: str,
        tenant: int,
        user: str,
        role: str,
        existing_role: int,
        permission: str,
        pick: int,
        strict: bool,
    ) -> None:
        """One operation, chosen uniformly (one rule rather than one per operation, so
        that no example leaves out the writes that build on each other). Three times in four
        the role is one the tenant has (when it has any), so that sequences build on
        what they wrote; otherwise any name, existing or not."""
        live_roles = sorted(self.models[tenant].roles)
        if live_roles and existing_role:
            role = live_roles[existing_role % len(live_roles)]
        arguments = {
            "tenant": tenant,
            "user": user,
            "role": role,
            "permission": permission,
            "pick": pick,
            "strict": strict,
        }
        method = getattr(self, operation)
        method(**{name: arguments[name] for name in inspect.signature(method).parameters})

    def create_role(self, tenant: int, role: str) -> None:
        model = self._tenant(tenant)
        assert self.service.ok(model.client_key, "POST", f"/api/role/{role}") == {"result": True}
        model.create_role(role)

    def delete_role(self, tenant: int, role: str) -> None:
        model = self._tenant(tenant)
        body = self.service.ok(model.client_key, "DELETE", f"/api/role/{role}")
        assert body["data"] == {"result": model.delete_role(role)}

    def grant(self, tenant: int, role: str, permission: str) -> None:
        model = self._tenant(tenant)
        body = self.service.ok(model.client_key, "POST", f"/api/permission/{role}/{permission}")
        assert body == {"result": model.grant(role, permission)}

    def revoke_grant(self, tenant: int, role: str, permission: str) -> None:
        model = self._tenant(tenant)
        body = self.service.ok(model.client_key, "DELETE", f"/api/permission/{role}/{permission}")
        assert body == {"result": True}
        model.revoke_grant(role, permission)

    def add_member(self, tenant: int, user: str, role: str) -> None:
        model = self._tenant(tenant)
        response = self.service.call(model.client_key, "POST", f"/api/membership/{user}/{role}")
        if model.gated(user):
            assert response.status_code == 409, response.text
            assert response.json()["reason"] == NOT_KEY_BACKED
            return
        assert response.status_code == 200, response.text
        assert response.json() == {"result": model.add_member(user, role)}

    def remove_member(self, tenant: int, user: str, role: str) -> None:
        model = self._tenant(tenant)
        body = self.service.ok(model.client_key, "DELETE", f"/api/membership/{user}/{role}")
        assert body == {"result": True}
        model.remove_member(user, role)

    def create_api_key(self, tenant: int, user: str) -> None:
        model = self._tenant(tenant)
        data = self.service.ok(model.client_key, "POST", f"/api/apikeys/user/{user}", json={})[
            "data"
        ]
        assert data["user"] == user
        model.add_key(user, ApiKey(key_id=data["key_id"], secret=data["api_key"]))

    def revoke_api_key(self, tenant: int, user: str, pick: int) -> None:
        model = self._tenant(tenant)
        keys = model.keys.get(user, [])
        if not keys:
            return
        key = keys[pick % len(keys)]
        path = f"/api/apikeys/user/{user}/{key.key_id}"
        data = self.service.ok(model.client_key, "DELETE", path)["data"]
        assert data == {"revoked": True, "already_revoked": not key.live}
        key.live = False

    def set_strict(self, tenant: int, strict: bool) -> None:
        model = self._tenant(tenant)
        body = self.service.ok(
            model.client_key, "PUT", "/api/settings", json={"strict_users": strict}
        )
        assert body["data"] == {"strict_users": strict}
        model.strict = strict

    def rotate_client_key(self, tenant: int) -> None:
        model = self._tenant(tenant)
        data = self.service.ok(model.client_key, "POST", "/api/keys/rotate")["data"]
        model.rotate(data["new_key"])

    def validate_api_key(self, tenant: int, pick: int, user: str) -> None:
        """Tenant ``pick % 3`` validates ``user``'s newest key of ``tenant``."""
        owner, asker = tenant, pick % TENANTS
        keys = self.models[owner].keys.get(user, [])
        if not keys:
            return
        key = keys[-1]
        body = self.service.ok(
            self.models[asker].client_key,
            "POST",
            "/api/apikeys/validate",
            json={"api_key": key.secret},
        )
        if owner != asker:
            assert body["data"] == {"valid": False, "reason": "unknown_key"}
        elif key.live:
            assert body["data"]["valid"] is True
            assert (body["data"]["user"], body["data"]["key_id"]) == (user, key.key_id)
        else:
            assert body["data"] == {"valid": False, "reason": "revoked"}

    # Checks -------------------------------------------------------------------------

    @invariant()
    def every_tenant_agrees_with_its_model(self) -> None:
        """Tenants this step wrote to are checked in full; for the others, what another
        tenant's write could leak into (roles, ``which_users_can``, decisions)."""
        for index, model in enumerate(self.models):
            self._check_listings(model, full=index in self.touched)
        cold = [self._decisions(model) for model in self.models]
        self.service.settle()
        before = self.service.fresh_answers()
        warm = [self._decisions(model) for model in self.models]
        # Requests (not answers) are counted: the batch is one request.
        asked = len(self.models) * DECISION_REQUESTS
        assert self.service.fresh_answers() - before >= asked, "not answered from snapshots"
        assert warm == cold
        self.touched = set()

    def _check_listings(self, model: TenantModel, *, full: bool) -> None:
        for retired in model.retired_keys[-2:]:
            assert self.service.call(retired, "GET", "/api/settings").status_code == 401
        paths = ["/api/settings", "/api/roles"]
        paths += [f"/api/which_users_can/{permission}" for permission in PERMISSIONS]
        if full:
            paths += [
                f"/api/{kind}/{role}" for kind in ("members", "role_permissions") for role in ROLES
            ]
            paths += [
                f"/api/{kind}/{user}"
                for kind in ("user_roles", "user_permissions", "apikeys/user")
                for user in USERS
            ]
            paths += [
                f"/api/{kind}/{permission}"
                for kind in ("workflow/users", "which_roles_can")
                for permission in PERMISSIONS
            ]
        got = self.service.reads(model.client_key, paths)
        assert got["/api/settings"]["data"] == {"strict_users": model.strict}
        listed = [entry["role"] for entry in got["/api/roles"]["result"]]
        assert listed == sorted(model.roles)
        for permission in PERMISSIONS:
            who = got[f"/api/which_users_can/{permission}"]["result"]
            assert _pairs(who) == model.which_users_can(permission)
            assert len(who) == len(_pairs(who))
        if not full:
            return
        assert self._walk(model.client_key, "/api/roles?limit=1") == listed
        for role in ROLES:
            members = got[f"/api/members/{role}"]["result"]
            assert _pairs(members) == {(user, role) for user in model.members.get(role, ())}
            assert len(members) == len(_pairs(members))
            held = got[f"/api/role_permissions/{role}"]["data"]
            assert sorted(entry["name"] for entry in held) == sorted(model.grants.get(role, ()))
        for user in USERS:
            mine = got[f"/api/user_roles/{user}"]["result"]
            assert _pairs(mine) == {(user, role) for role in model.user_roles(user)}
            self._check_effective_access(model, user, got[f"/api/user_permissions/{user}"]["data"])
            keys = got[f"/api/apikeys/user/{user}"]["data"]
            listed_keys = {(entry["key_id"], entry["is_active"]) for entry in keys["keys"]}
            assert listed_keys == {(key.key_id, key.live) for key in model.keys.get(user, [])}
            assert keys["count"] == len(keys["keys"])
        for permission in PERMISSIONS:
            workflow = got[f"/api/workflow/users/{permission}"]["data"]
            assert _pairs(workflow["members"]) == model.which_users_can(permission)
            assert workflow["count"] == len(workflow["members"])
            which = got[f"/api/which_roles_can/{permission}"]["result"]
            assert sorted(entry["role"] for entry in which) == sorted(
                model.which_roles_can(permission)
            )

    def _decisions(self, model: TenantModel) -> list[tuple[str, bool, str | None]]:
        """Every (user, permission) decision, from ``has_permission``, ``can_run`` and the
        batch ``POST /api/check``."""
        paths = {
            f"/api/has_permission/{user}/{permission}": (user, permission)
            for user in USERS
            for permission in PERMISSIONS
        }
        user, permission = USERS[0], PERMISSIONS[0]
        paths[f"/api/workflow/user/{user}/can_run/{permission}"] = (user, permission)
        got = self.service.reads(model.client_key, list(paths))
        answers = []
        for path, (user, permission) in paths.items():
            data = got[path]["data"]
            allowed, reason = data["has_permission"], data.get("reason")
            assert (allowed, reason) == model.decision(user, permission), path
            answers.append((path, allowed, reason))
        checks = [{"user": user, "permission": permission} for user, permission in QUESTIONS]
        batch = self.service.ok(model.client_key, "POST", "/api/check", json={"checks": checks})
        assert batch["data"]["count"] == len(checks)
        for (user, permission), result in zip(QUESTIONS, batch["data"]["results"], strict=True):
            assert (result["user"], result["permission"]) == (user, permission)
            allowed, reason = result["has_permission"], result.get("reason")
            assert (allowed, reason) == model.decision(user, permission), ("batch", result)
            answers.append((f"batch:{user}:{permission}", allowed, reason))
        return answers

    def _check_effective_access(self, model: TenantModel, user: str, data: Any) -> None:
        """``user_permissions`` agrees with the model and with ``which_users_can``."""
        names = {entry["name"] for entry in data["permissions"]}
        assert data["count"] == len(data["permissions"])
        if model.gated(user):
            assert (names, data.get("reason")) == (set(), NOT_KEY_BACKED)
            return
        assert names == model.effective(user)
        assert data.get("reason") is None
        for permission in PERMISSIONS:
            via_listing = any(u == user for u, _ in model.which_users_can(permission))
            assert (permission in names) == via_listing

    def _walk(self, key: str, path: str) -> list[str]:
        """A bare role listing, page by page through ``Link: rel="next"``."""
        names: list[str] = []
        next_path: str | None = path
        while next_path is not None:
            response = self.service.call(key, "GET", next_path)
            assert response.status_code == 200, response.text
            names += [entry["role"] for entry in response.json()["result"]]
            link = response.links.get("next")
            next_path = link["url"] if link else None
            assert len(names) <= len(ROLES)
        return names


def _pairs(entries: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(entry["user"], entry["role"]) for entry in entries}


@pytest.mark.parametrize("protection", ["encrypted"], indirect=True)
async def test_random_sequences_agree_with_the_model(backend: str, app: FastAPI) -> None:
    service = Service(app, asyncio.get_running_loop())
    RbacMachine.service = service
    machine_settings = settings(
        max_examples=MAX_EXAMPLES[backend],
        stateful_step_count=STEPS,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    try:
        await asyncio.to_thread(run_state_machine_as_test, RbacMachine, settings=machine_settings)
    finally:
        await service.http.aclose()
