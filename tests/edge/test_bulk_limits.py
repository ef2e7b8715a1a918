"""``POST /api/bulk`` at the edge: its own body limit (``AUTH_BULK_MAX_BODY_BYTES``)
without raising anyone else's, and one write for the rate limits however many
records it carries."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from app.config import Settings
from tests.edge.conftest import EdgeClient, bearer, new_key

NDJSON = {"Content-Type": "application/x-ndjson"}
SMALL = 1024
BULK = 8192


def _records(count: int) -> bytes:
    lines = [json.dumps({"type": "role", "role": "editors"})]
    lines += [
        json.dumps({"type": "membership", "user": f"user-{n:05d}", "role": "editors"})
        for n in range(count)
    ]
    return ("\n".join(lines) + "\n").encode()


async def _chunks(body: bytes, size: int = 500) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_default_is_64_mib() -> None:
    assert Settings(_env_file=None).bulk_max_body_bytes == 64 * 1024 * 1024


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_bulk_has_its_own_limit(edge_client: EdgeClient, chunked: bool) -> None:
    key = bearer(new_key())
    fits = _records(100)  # larger than AUTH_MAX_BODY_BYTES, within the bulk limit
    over = _records(200)
    assert SMALL < len(fits) <= BULK < len(over)
    async with edge_client(max_body_bytes=SMALL, bulk_max_body_bytes=BULK) as (_app, http):
        accepted = await http.post(
            "/api/bulk", headers=key | NDJSON, content=_chunks(fits) if chunked else fits
        )
        refused = await http.post(
            "/api/bulk", headers=key | NDJSON, content=_chunks(over) if chunked else over
        )
        elsewhere = await http.post(
            "/api/role/ops",
            headers=key | {"Content-Type": "application/json"},
            content=json.dumps({"description": "x" * 400}).encode() * 3,
        )
        members = await http.get("/api/members/editors", headers=key)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["data"] == {"roles": 1, "grants": 0, "memberships": 100}
    assert refused.status_code == 413
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"] == f"The request body exceeds {BULK} bytes."
    assert elsewhere.status_code == 413
    assert elsewhere.json()["detail"] == f"The request body exceeds {SMALL} bytes."
    assert len(members.json()["result"]) == 100  # the refused import stored nothing


async def test_an_import_is_one_write(edge_client: EdgeClient) -> None:
    key = bearer(new_key()) | NDJSON
    async with edge_client(rate_limit_write="2/minute") as (_app, http):
        assert (await http.get("/api/roles", headers=key)).status_code == 200  # opens it
        imported = await http.post("/api/bulk", headers=key, content=_records(50))
        grant = await http.post("/api/permission/editors/publish", headers=key)
        refused = await http.post("/api/bulk", headers=key, content=_records(1))
    assert imported.status_code == 200, imported.text
    assert grant.status_code == 200
    assert refused.status_code == 429
    assert refused.json()["limit"] == "write"
