"""``/openapi.json`` documents every route exactly; the docs pages work offline."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from app.security.gate import PUBLIC_API_PATHS

BARE = {"result"}
WRAPPED = {"success", "code", "message", "data", "timestamp"}

CORE_ROUTES = {
    ("post", "/api/role/{role}"): BARE,
    ("delete", "/api/role/{role}"): WRAPPED,
    ("get", "/api/roles"): BARE,
    ("post", "/api/membership/{user}/{role}"): BARE,
    ("delete", "/api/membership/{user}/{role}"): BARE,
    ("get", "/api/membership/{user}/{role}"): WRAPPED,
    ("get", "/api/user_roles/{user}"): BARE,
    ("get", "/api/members/{role}"): BARE,
    ("post", "/api/permission/{role}/{name}"): BARE,
    ("delete", "/api/permission/{role}/{name}"): BARE,
    ("get", "/api/permission/{role}/{name}"): BARE,
    ("get", "/api/role_permissions/{role}"): WRAPPED,
    ("get", "/api/has_permission/{user}/{name}"): WRAPPED,
    ("get", "/api/user_permissions/{user}"): WRAPPED,
    ("get", "/api/which_roles_can/{name}"): BARE,
    ("get", "/api/which_users_can/{name}"): BARE,
    ("get", "/api/workflow/user/{user}/can_run/{workflow}"): WRAPPED,
    ("get", "/api/workflow/users/{workflow}"): WRAPPED,
}
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
STREAMED = {("get", "/api/bulk"): "application/x-ndjson"}


async def _schema(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def _api_operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, operations in schema["paths"].items()
        if path.startswith("/api/")
        for method, operation in operations.items()
        if method in HTTP_METHODS
    ]


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    assert ref.startswith("#/components/schemas/")
    resolved: dict[str, Any] = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return resolved


@pytest.mark.database_free
async def test_core_routes_are_documented_with_their_shape(client: httpx.AsyncClient) -> None:
    schema = await _schema(client)
    for (method, path), members in CORE_ROUTES.items():
        operation = schema["paths"][path][method]
        body = operation["responses"]["200"]["content"]["application/json"]["schema"]
        model = _resolve(schema, body)
        assert set(model["properties"]) == members, (method, path)
        assert set(model["required"]) >= members - {"success", "code"}, (method, path)


@pytest.mark.database_free
async def test_every_api_operation_is_documented(client: httpx.AsyncClient) -> None:
    schema = await _schema(client)
    operations = _api_operations(schema)
    assert {(method, path) for method, path, _ in operations} >= set(CORE_ROUTES)
    for method, path, operation in operations:
        where = f"{method.upper()} {path}"
        assert operation.get("tags"), where
        assert operation.get("summary"), where
        assert "422" not in operation["responses"], where
        success = operation["responses"].get("200") or operation["responses"]["201"]
        media_type = STREAMED.get((method, path), "application/json")
        assert "schema" in success["content"][media_type], where
        if path in PUBLIC_API_PATHS:
            continue
        assert {"ClientKey": []} in operation["security"], where
        for status in ("400", "401"):
            content = operation["responses"][status]["content"]
            problem = content["application/problem+json"]["schema"]
            assert problem == {"$ref": "#/components/schemas/Problem"}, where


@pytest.mark.database_free
async def test_security_scheme_and_components(client: httpx.AsyncClient) -> None:
    schema = await _schema(client)
    scheme = schema["components"]["securitySchemes"]["ClientKey"]
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"
    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components
    assert "ValidationError" not in components
    assert set(components["Problem"]["properties"]) >= {
        "type",
        "title",
        "status",
        "detail",
        "success",
        "code",
        "message",
    }


@pytest.mark.database_free
@pytest.mark.parametrize("page", ["/docs", "/redoc", "/docs/oauth2-redirect"])
async def test_docs_pages_use_only_local_assets(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert re.search(r"https?://", html) is None
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    if page != "/docs/oauth2-redirect":
        assert any(asset.endswith(".js") for asset in assets)
    for asset in assets:
        assert asset.startswith("/"), asset
        served = await client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 0, asset
    for openapi_url in re.findall(r'data-openapi-url="([^"]+)"', html):
        assert (await client.get(openapi_url)).status_code == 200
