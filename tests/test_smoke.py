"""The main flow, end to end through the ASGI app, on both databases."""

from __future__ import annotations

import httpx


async def test_grant_flow(api: httpx.AsyncClient) -> None:
    assert (await api.post("/api/role/editors")).json() == {"result": True}
    assert (await api.post("/api/permission/editors/publish")).json() == {"result": True}
    assert (await api.post("/api/membership/alice/editors")).json() == {"result": True}
    answer = (await api.get("/api/has_permission/alice/publish")).json()
    assert answer["success"] is True
    assert answer["data"] == {"has_permission": True}
