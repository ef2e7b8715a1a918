"""``Auth-Revision`` and ``Auth-Min-Revision`` (contract section 8, "Revisions").

Every answer to a tenant write carries ``Auth-Revision``, the tenant's revision after
it: a write that changes something answers a strictly greater one, a write that
changes nothing the current one, a refused write none. Decisions answered from a
snapshot carry the snapshot's revision. ``Auth-Min-Revision`` must be one decimal
revision; anything else answers 400 problem+json and changes nothing. Both headers
are documented in ``/openapi.json``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from app.apidocs.schema import DECISION_OPERATIONS
from app.decisions.consistency import MAX_REVISION
from tests.api.helpers import assert_problem

WRITE = ("post", "put", "patch", "delete")


def _revision(response: httpx.Response) -> int:
    assert response.status_code == 200, response.text
    value = response.headers.get("auth-revision")
    assert value is not None, f"{response.request.method} {response.request.url} has none"
    return int(value)


def _in_a_week() -> str:
    return (datetime.now(UTC) + timedelta(days=7)).isoformat()


async def test_every_write_route_answers_a_strictly_increasing_revision(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    seen: list[tuple[str, str, int]] = []
    templates: set[tuple[str, str]] = set()

    async def write(
        http: httpx.AsyncClient, method: str, path: str, template: str, json: object = None
    ) -> int:
        revision = _revision(await http.request(method, path, json=json))
        seen.append((method, path, revision))
        templates.add((method.lower(), template))
        return revision

    await write(api, "POST", "/api/role/editors", "/api/role/{role}")
    await write(api, "POST", "/api/permission/editors/publish", "/api/permission/{role}/{name}")
    await write(api, "POST", "/api/membership/alice/editors", "/api/membership/{user}/{role}")
    created = await api.post("/api/apikeys/user/alice", json={"expires_at": _in_a_week()})
    seen.append(("POST", "/api/apikeys/user/alice", _revision(created)))
    templates.add(("post", "/api/apikeys/user/{user}"))
    key_id = created.json()["data"]["key_id"]
    key_path = f"/api/apikeys/user/alice/{key_id}"
    key_template = "/api/apikeys/user/{user}/{key_id}"
    sooner = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    await write(api, "PATCH", key_path, key_template, json={"expires_at": sooner})
    await write(api, "DELETE", key_path, key_template)
    await write(api, "PUT", "/api/settings", "/api/settings", json={"strict_users": False})
    await write(api, "DELETE", "/api/membership/alice/editors", "/api/membership/{user}/{role}")
    await write(api, "DELETE", "/api/permission/editors/publish", "/api/permission/{role}/{name}")
    await write(api, "DELETE", "/api/role/editors", "/api/role/{role}")
    lines = b'{"type": "role", "role": "imported"}\n'
    imported = await api.post(
        "/api/bulk", content=lines, headers={"Content-Type": "application/x-ndjson"}
    )
    seen.append(("POST", "/api/bulk", _revision(imported)))
    templates.add(("post", "/api/bulk"))
    rotated = await api.post("/api/keys/rotate")
    seen.append(("POST", "/api/keys/rotate", _revision(rotated)))
    templates.add(("post", "/api/keys/rotate"))
    rotated_key = rotated.json()["data"]["new_key"]
    owner = {"Authorization": f"Bearer {rotated_key}"}
    issued = await client.post("/api/keys/get_rotate_key", headers=owner)
    before_recovery = _revision(issued)  # issuing a rotate key changes no decision
    assert before_recovery == seen[-1][2]
    templates.add(("post", "/api/keys/get_rotate_key"))
    rotate_key = issued.json()["data"]["rotate_key"]
    await write(
        client, "POST", "/api/keys/recover", "/api/keys/recover", json={"rotate_key": rotate_key}
    )

    revisions = [revision for _method, _path, revision in seen]
    assert revisions == sorted(set(revisions)), seen  # strictly increasing

    schema = (await client.get("/openapi.json")).json()
    for method, template in templates:
        headers = schema["paths"][template][method]["responses"]["200"].get("headers", {})
        assert "Auth-Revision" in headers, (method, template)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            documented = "Auth-Revision" in operation["responses"].get("200", {}).get("headers", {})
            if method in WRITE and documented and (method, path) not in DECISION_OPERATIONS:
                assert (method, path) in templates, f"{method} {path}: documented, not tested"


async def test_a_write_that_changes_nothing_answers_the_current_revision(
    api: httpx.AsyncClient,
) -> None:
    created = await api.post("/api/apikeys/user/alice")
    key_path = f"/api/apikeys/user/alice/{created.json()['data']['key_id']}"
    revoked = _revision(await api.delete(key_path))
    assert revoked == _revision(created) + 1
    again = await api.delete(key_path)  # already revoked: nothing changes
    assert again.json()["data"]["already_revoked"] is True
    assert _revision(again) == revoked
    assert _revision(await api.post("/api/role/editors")) == revoked + 1


async def test_a_refused_write_answers_no_revision(api: httpx.AsyncClient) -> None:
    assert (await api.post("/api/role/editors")).status_code == 200
    missing = await api.delete("/api/apikeys/user/alice/00000000-0000-4000-8000-000000000000")
    assert_problem(missing, 404)
    assert "auth-revision" not in missing.headers
    bad = await api.put("/api/settings", json={"strict_users": "maybe"})
    assert_problem(bad, 400)
    assert "auth-revision" not in bad.headers


async def test_a_decision_from_memory_carries_the_revision_it_was_answered_at(
    app: FastAPI, api: httpx.AsyncClient
) -> None:
    assert (await api.put("/api/settings", json={"strict_users": False})).status_code == 200
    assert (await api.post("/api/role/editors")).status_code == 200
    assert (await api.post("/api/permission/editors/publish")).status_code == 200
    last = _revision(await api.post("/api/membership/alice/editors"))
    await api.get("/api/has_permission/alice/publish")  # starts the snapshot's build
    await app.state.auth.decisions.settle()
    answer = await api.get("/api/has_permission/alice/publish")
    assert answer.json()["data"] == {"has_permission": True}
    assert _revision(answer) == last
    # The newest state satisfies any floor up to it, in strict mode.
    batch = await api.post(
        "/api/check", json={"checks": [{"user": "alice", "permission": "publish"}]}
    )
    assert _revision(batch) == last
    floor = await api.get(
        "/api/has_permission/alice/publish", headers={"Auth-Min-Revision": str(last)}
    )
    assert floor.json()["data"] == {"has_permission": True}


@pytest.mark.parametrize(
    "value",
    [
        "",
        "-1",
        "+1",
        "1.0",
        "0x10",
        "abc",
        "1 2",
        "\u0661".encode(),
        str(MAX_REVISION + 1),
        "9" * 20,
    ],
)
async def test_a_malformed_min_revision_answers_400_and_changes_nothing(
    api: httpx.AsyncClient, value: str | bytes
) -> None:
    sent = value.encode() if isinstance(value, str) else value
    headers = {b"Auth-Min-Revision": sent}
    refused = await api.post("/api/role/editors", headers=headers)
    body = assert_problem(refused, 400)
    assert "Auth-Min-Revision" in body["detail"]
    roles = await api.get("/api/roles")
    assert roles.status_code == 200
    assert "editors" not in roles.text
    decision = await api.get("/api/has_permission/alice/publish", headers=headers)
    assert_problem(decision, 400)


@pytest.mark.database_free
async def test_min_revision_sent_twice_answers_400(app: FastAPI, client_key: str) -> None:
    headers = [("Authorization", f"Bearer {client_key}")]
    headers += [("Auth-Min-Revision", "1"), ("Auth-Min-Revision", "2")]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as raw:
        answer = await raw.get("/api/has_permission/alice/publish", headers=headers)
    assert_problem(answer, 400)


@pytest.mark.database_free
async def test_decisions_document_both_headers(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    for path, method in (
        ("/api/has_permission/{user}/{name}", "get"),
        ("/api/workflow/user/{user}/can_run/{workflow}", "get"),
        ("/api/check", "post"),
    ):
        operation = schema["paths"][path][method]
        assert "Auth-Revision" in operation["responses"]["200"]["headers"]
        [parameter] = [p for p in operation["parameters"] if p["name"] == "Auth-Min-Revision"]
        assert parameter["in"] == "header"
        assert parameter["schema"]["maximum"] == MAX_REVISION
    for path in ("/api/apikeys/validate", "/api/token"):
        assert "headers" not in schema["paths"][path]["post"]["responses"]["200"]
