"""Errors are problem+json; bad names are 400 and change nothing (sections 2-3)."""

from __future__ import annotations

import httpx
import pytest

from tests.api.helpers import assert_bare, assert_problem, assert_wrapped

ROLE_64 = "r" * 64
USER_64 = "u" * 60 + "@x.y"
NAME_128 = "p" * 128
EDITORS = [{"role": "editors", "description": None}]


@pytest.mark.database_free
@pytest.mark.parametrize("path", ["/nope", "/api/nope", "/api/role", "/api/roles/x/y"])
async def test_unknown_route_is_404(api: httpx.AsyncClient, path: str) -> None:
    assert_problem(await api.get(path), 404)


@pytest.mark.database_free
@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/api/role/editors", "POST, DELETE"),
        ("GET", "/api/role/editors", "POST, DELETE"),
        ("PATCH", "/api/membership/alice/editors", "GET, POST, DELETE"),
        ("PUT", "/api/permission/editors/publish", "GET, POST, DELETE"),
        ("POST", "/api/roles", "GET"),
        ("DELETE", "/api/has_permission/alice/publish", "GET"),
        ("POST", "/ping", "GET"),
        ("DELETE", "/health", "GET"),
    ],
)
async def test_wrong_method_is_405_with_allow(
    api: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    response = await api.request(method, path)
    assert_problem(response, 405)
    assert response.headers["allow"] == allow


@pytest.mark.parametrize(
    ("path", "listing", "expected"),
    [
        pytest.param(f"/api/role/{'r' * 65}", "/api/roles", EDITORS, id="role-too-long"),
        pytest.param("/api/role/%3Cscript%3E", "/api/roles", EDITORS, id="role-markup"),
        pytest.param("/api/role/a%20b", "/api/roles", EDITORS, id="role-space"),
        pytest.param("/api/role/a.b", "/api/roles", EDITORS, id="role-dot"),
        pytest.param("/api/role/a@b", "/api/roles", EDITORS, id="role-at"),
        pytest.param("/api/role/caf%C3%A9", "/api/roles", EDITORS, id="role-non-ascii"),
        pytest.param("/api/role/a%27b", "/api/roles", EDITORS, id="role-quote"),
        pytest.param(f"/api/membership/{'u' * 65}/editors", "/api/members/editors", [], id="user-too-long"),
        pytest.param("/api/membership/al%20ice/editors", "/api/members/editors", [], id="user-space"),
        pytest.param("/api/membership/%3Cb%3E/editors", "/api/members/editors", [], id="user-markup"),
        pytest.param("/api/membership/a%2Cb/editors", "/api/members/editors", [], id="user-comma"),
        pytest.param("/api/membership/alice/edi.tors", "/api/user_roles/alice", [], id="member-role-dot"),
        pytest.param(f"/api/permission/editors/{'p' * 129}", "/api/which_roles_can/p", [], id="perm-too-long"),
        pytest.param("/api/permission/editors/a.b", "/api/which_roles_can/a", [], id="perm-dot"),
        pytest.param("/api/permission/editors/a%3Bdrop", "/api/which_roles_can/a", [], id="perm-semicolon"),
    ],
)  # fmt: skip
async def test_invalid_name_is_400_and_stores_nothing(
    api: httpx.AsyncClient, path: str, listing: str, expected: list[object]
) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    assert_problem(await api.post(path), 400)
    assert_bare(await api.get(listing), expected)
    assert_bare(await api.get("/api/roles"), EDITORS)
    assert_wrapped(await api.get("/api/role_permissions/editors"), [])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/role/%3Cscript%3E"),
        ("DELETE", "/api/membership/a%20b/editors"),
        ("DELETE", "/api/permission/editors/a.b"),
        ("GET", "/api/membership/alice/a.b"),
        ("GET", "/api/user_roles/a%20b"),
        ("GET", f"/api/members/{'r' * 65}"),
        ("GET", "/api/permission/editors/%3Cx%3E"),
        ("GET", "/api/role_permissions/a.b"),
        ("GET", "/api/has_permission/a%20b/read"),
        ("GET", f"/api/has_permission/alice/{'p' * 129}"),
        ("GET", "/api/user_permissions/%3Cx%3E"),
        ("GET", "/api/which_roles_can/a.b"),
        ("GET", "/api/which_users_can/a%20b"),
        ("GET", "/api/workflow/user/a%20b/can_run/publish"),
        ("GET", f"/api/workflow/user/alice/can_run/{'w' * 129}"),
        ("GET", "/api/workflow/users/a.b"),
    ],
)
async def test_invalid_name_on_any_route_is_400(
    api: httpx.AsyncClient, method: str, path: str
) -> None:
    assert_problem(await api.request(method, path), 400)


async def test_invalid_delete_changes_nothing(api: httpx.AsyncClient) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    assert_bare(await api.post("/api/membership/alice/editors"), True)
    assert_problem(await api.delete("/api/membership/alice/editors%20"), 400)
    assert_bare(await api.get("/api/members/editors"), [{"user": "alice", "role": "editors"}])


@pytest.mark.parametrize(
    "path",
    ["/api/role/a%2Fb", "/api/membership/a%2Fb/editors", "/api/permission/editors/a%2Fb"],
)
async def test_slash_inside_a_name_is_404(api: httpx.AsyncClient, path: str) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    assert_problem(await api.post(path), 404)
    assert_bare(await api.get("/api/roles"), [{"role": "editors", "description": None}])
    assert_bare(await api.get("/api/members/editors"), [])
    assert_wrapped(await api.get("/api/role_permissions/editors"), [])


async def test_names_are_percent_decoded(api: httpx.AsyncClient) -> None:
    assert_bare(await api.post("/api/role/ed%69tors"), True)
    assert_bare(await api.post("/api/membership/alice%40example.com/editors"), True)
    assert_bare(
        await api.get("/api/user_roles/alice@example.com"),
        [{"user": "alice@example.com", "role": "editors"}],
    )


async def test_names_at_max_length_are_accepted(api: httpx.AsyncClient) -> None:
    assert_bare(await api.post(f"/api/role/{ROLE_64}"), True)
    assert_bare(await api.post(f"/api/permission/{ROLE_64}/{NAME_128}"), True)
    assert_bare(await api.post(f"/api/membership/{USER_64}/{ROLE_64}"), True)
    assert_bare(await api.get("/api/roles"), [{"role": ROLE_64, "description": None}])
    assert_wrapped(await api.get(f"/api/role_permissions/{ROLE_64}"), [{"name": NAME_128}])
    assert_bare(await api.get(f"/api/user_roles/{USER_64}"), [{"user": USER_64, "role": ROLE_64}])
    expected = {"has_permission": True}
    assert_wrapped(await api.get(f"/api/has_permission/{USER_64}/{NAME_128}"), expected)
    assert_wrapped(await api.get(f"/api/workflow/user/{USER_64}/can_run/{NAME_128}"), expected)


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/api/role/editors", {"result": True}),
        ("POST", "/api/permission/editors/publish", {"result": True}),
        ("POST", "/api/membership/alice/editors", {"result": True}),
        ("DELETE", "/api/membership/alice/editors", {"result": True}),
        ("DELETE", "/api/permission/editors/publish", {"result": True}),
    ],
)
async def test_json_content_type_with_empty_body_is_accepted(
    api: httpx.AsyncClient, method: str, path: str, expected: dict[str, object]
) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    headers = {"Content-Type": "application/json"}
    response = await api.request(method, path, headers=headers, content=b"")
    assert response.status_code == 200
    assert response.json() == expected


async def test_error_bodies_never_leak(api: httpx.AsyncClient, client_key: str) -> None:
    responses = [
        await api.get("/api/nope"),
        await api.put("/api/role/editors"),
        await api.post(f"/api/role/{client_key}.x"),
        await api.post("/api/role/%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
        await api.get(f"/api/has_permission/{'u' * 65}/read"),
        await api.get("/api/roles", headers={"Authorization": f"Bearer {client_key}-x"}),
        await api.get("/api/roles", headers={"Authorization": f"Basic {client_key}"}),
    ]
    for response in responses:
        assert response.status_code >= 400
        assert response.headers["content-type"] == "application/problem+json"
        text = response.text
        assert "Traceback" not in text
        assert client_key not in text
        assert client_key.upper() not in text
        assert "<script>" not in text
        assert "SELECT" not in text.upper()
