"""The yardstick: one FastAPI route answering constant JSON, served by uvicorn.

    uvicorn bench.bare_app:app --port PORT --log-level warning --no-access-log

``bench`` runs it beside the service, pinned the same way, so every figure of the
service is reported as a ratio of this route's (the framework's own ceiling on this
machine at that moment).
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/api/has_permission/{user}/{name}")
async def has_permission(user: str, name: str) -> dict[str, object]:
    return {"success": True, "code": 200, "data": {"has_permission": True}}
