"""Under strict identity, listings show what is stored: a user whose only key was
revoked still appears in them, while every decision about the user answers false
(the README documents this next to the strict rules)."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.stored_data


async def test_listings_keep_a_user_whose_only_key_was_revoked(api: httpx.AsyncClient) -> None:
    assert (await api.put("/api/settings", json={"strict_users": True})).status_code == 200
    assert (await api.post("/api/role/ops")).status_code == 200
    assert (await api.post("/api/permission/ops/deploy")).status_code == 200
    key_id = (await api.post("/api/apikeys/user/ann")).json()["data"]["key_id"]
    assert (await api.post("/api/membership/ann/ops")).json() == {"result": True}
    assert (await api.delete(f"/api/apikeys/user/ann/{key_id}")).status_code == 200

    decision = (await api.get("/api/has_permission/ann/deploy")).json()["data"]
    assert decision == {"has_permission": False, "reason": "user_not_key_backed"}
    member = {"user": "ann", "role": "ops"}
    assert (await api.get("/api/members/ops")).json() == {"result": [member]}
    assert (await api.get("/api/user_roles/ann")).json() == {"result": [member]}
    assert (await api.get("/api/which_users_can/deploy")).json() == {"result": [member]}
    users = (await api.get("/api/workflow/users/deploy")).json()["data"]
    assert users["members"] == [member]

    assert (await api.delete("/api/membership/ann/ops")).json() == {"result": True}
    assert (await api.get("/api/members/ops")).json() == {"result": []}
