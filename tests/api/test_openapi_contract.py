"""``/openapi.json`` documents what the service answers: every ``$ref`` resolves,
429/413/503 are documented where they happen, and the request schemas of the token,
recovery and key-update operations agree with what the service accepts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from app.edge.rate_limit import is_exempt

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


async def _schema(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def _refs(node: Any, where: str = "#") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            else:
                yield from _refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _refs(item, f"{where}/{index}")


def _pointer(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), ref
        assert part in node, ref
        node = node[part]
    return node


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method in HTTP_METHODS:
                yield method, path, operation


@pytest.mark.database_free
async def test_every_reference_resolves(client: httpx.AsyncClient) -> None:
    schema = await _schema(client)
    refs = list(_refs(schema))
    assert refs
    for where, ref in refs:
        assert isinstance(_pointer(schema, ref), dict), (where, ref)
    assert "$defs" not in str(schema)


@pytest.mark.database_free
async def test_edge_and_database_statuses_are_documented(client: httpx.AsyncClient) -> None:
    schema = await _schema(client)
    api = [op for op in _operations(schema) if op[1].startswith("/api/")]
    assert len(api) >= 33
    with_body = 0
    for method, path, operation in api:
        where = f"{method.upper()} {path}"
        responses = operation["responses"]
        statuses = ["503"] if is_exempt(path) else ["429", "503"]
        if "requestBody" in operation:
            statuses.append("413")
            with_body += 1
        for status in statuses:
            assert status in responses, (where, status)
            content = responses[status]["content"]
            assert content == {"application/problem+json": {"schema": PROBLEM_REF}}, where
        for status in ("429", "503"):
            assert "Retry-After" in responses[status].get("headers", {}), (where, status)
    assert with_body >= 10


def _body_schema(
    schema: dict[str, Any], path: str, method: str, media: str
) -> Draft202012Validator:
    body = schema["paths"][path][method]["requestBody"]
    return Draft202012Validator(
        {**body["content"][media]["schema"], "components": schema["components"]},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _documented(validator: Draft202012Validator, body: dict[str, Any]) -> bool:
    return validator.is_valid(body)


def _check(validator: Draft202012Validator, body: dict[str, Any], status: int) -> None:
    """The documented schema and the service agree on this body: a body the schema
    allows is never refused as 400, and a body refused as 400 is one it forbids."""
    documented = _documented(validator, body)
    if documented:
        assert status != 400, (body, status)
    if status == 400:
        assert not documented, body


TOKEN_JSON = [
    ({}, True),
    ({"scope": "check"}, True),
    ({"scope": "admin"}, True),
    ({"scope": None}, True),
    ({"scope": "root"}, False),
    ({"scope": "check", "client_key": "x"}, False),
]


@pytest.mark.parametrize(("body", "valid"), TOKEN_JSON)
async def test_token_json_body(
    client: httpx.AsyncClient, api: httpx.AsyncClient, body: dict[str, Any], valid: bool
) -> None:
    validator = _body_schema(await _schema(client), "/api/token", "post", "application/json")
    assert _documented(validator, body) is valid
    response = await api.post("/api/token", json=body)
    assert response.status_code == (200 if valid else 400), response.text
    _check(validator, body, response.status_code)


@pytest.mark.parametrize(
    ("form", "valid"),
    [
        ({"grant_type": "client_credentials"}, True),
        ({"grant_type": "client_credentials", "scope": "check"}, True),
        ({"grant_type": "client_credentials", "scope": "check admin"}, True),
        ({"grant_type": "client_credentials", "client_id": "", "scope": "admin"}, True),
        # An empty scope is the default (check); the schema used to forbid it.
        ({"grant_type": "client_credentials", "scope": ""}, True),
        ({"grant_type": "client_credentials", "scope": "everything"}, False),
        ({"grant_type": "password"}, False),
    ],
)
async def test_token_form_body(
    client: httpx.AsyncClient, client_key: str, form: dict[str, str], valid: bool
) -> None:
    media = "application/x-www-form-urlencoded"
    validator = _body_schema(await _schema(client), "/api/token", "post", media)
    body = {**form, "client_secret": client_key}
    assert _documented(validator, body) is valid
    response = await client.post("/api/token", data=body)
    assert response.status_code == (200 if valid else 400), response.text
    _check(validator, body, response.status_code)


FORM = "application/x-www-form-urlencoded"


@pytest.mark.database_free
async def test_form_bodies_document_no_null(client: httpx.AsyncClient) -> None:
    """A form field is a string or absent: a documented null would be sent as the
    string ``null`` (as schemathesis does), which the service rightly refuses."""
    schema = await _schema(client)
    forms = [
        (path, operation["requestBody"]["content"][FORM]["schema"])
        for _method, path, operation in _operations(schema)
        if FORM in operation.get("requestBody", {}).get("content", {})
    ]
    assert {path for path, _ in forms} >= {"/api/token", "/api/token/refresh", "/api/token/revoke"}
    for path, form in forms:
        assert '"null"' not in str(form).replace("'", '"'), path


@pytest.mark.database_free
@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"token": "a.b.c"}, 200),
        ({"token": "a.b.c", "token_type_hint": "refresh_token"}, 200),
        ({"token": "a.b.c", "token_type_hint": "null"}, 400),
        # A form's unrecognised parameters are ignored (RFC 6749 section 3.2), and
        # documented so.
        ({"token": "a.b.c", "client_id": "web"}, 200),
    ],
)
async def test_revoke_form_body(
    client: httpx.AsyncClient, form: dict[str, str], status: int
) -> None:
    validator = _body_schema(await _schema(client), "/api/token/revoke", "post", FORM)
    response = await client.post("/api/token/revoke", data=form)
    assert response.status_code == status, response.text
    assert _documented(validator, form) is (status == 200), form
    _check(validator, form, response.status_code)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"refresh_token": "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"}, 401),
        ({"refresh_token": ""}, 400),
        ({}, 400),
        ({"refresh_token": "a.b.c", "scope": "admin"}, 400),
    ],
)
async def test_refresh_body(client: httpx.AsyncClient, body: dict[str, Any], status: int) -> None:
    schema = await _schema(client)
    assert schema["paths"]["/api/token/refresh"]["post"]["requestBody"]["required"] is True
    for media in ("application/json", "application/x-www-form-urlencoded"):
        validator = _body_schema(schema, "/api/token/refresh", "post", media)
        if media == "application/json":
            response = await client.post("/api/token/refresh", json=body)
            sent = body
        else:
            sent = {"grant_type": "refresh_token", **body}
            sent.pop("scope", None)
            response = await client.post("/api/token/refresh", data=sent)
        if media == "application/json" or "scope" not in body:
            assert response.status_code == status, (media, response.text)
        _check(validator, sent, response.status_code)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"rotate_key": "rrk_" + "A" * 43}, 401),
        ({"rotate_key": "rrk_" + "A" * 43, "new_client_key": str(uuid.uuid4())}, 401),
        ({"rotate_key": "rrk_" + "A" * 43, "new_client_key": None}, 401),
        ({"rotate_key": "rrk_" + "A" * 43, "new_client_key": "not-a-uuid"}, 400),
        ({"rotate_key": "rrk_" + "A" * 43, "client_key": str(uuid.uuid4())}, 400),
        ({}, 400),
    ],
)
async def test_recover_body(client: httpx.AsyncClient, body: dict[str, Any], status: int) -> None:
    validator = _body_schema(await _schema(client), "/api/keys/recover", "post", "application/json")
    response = await client.post("/api/keys/recover", json=body)
    assert response.status_code == status, response.text
    _check(validator, body, response.status_code)


async def test_key_update_body(client: httpx.AsyncClient, api: httpx.AsyncClient) -> None:
    path = "/api/apikeys/user/{user}/{key_id}"
    validator = _body_schema(await _schema(client), path, "patch", "application/json")
    created = await api.post("/api/apikeys/user/ann", json={})
    key_id = created.json()["data"]["key_id"]
    soon = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    cases: list[tuple[dict[str, Any], int]] = [
        ({"expires_at": soon}, 200),
        ({}, 400),
        ({"expires_at": soon, "label": "x"}, 400),
        ({"expires_at": ["tomorrow"]}, 400),
    ]
    for body, status in cases:
        response = await api.patch(f"/api/apikeys/user/ann/{key_id}", json=body)
        assert response.status_code == status, (body, response.text)
        _check(validator, body, response.status_code)


@pytest.mark.parametrize("value", ["0.5", "1700000000", "2024-01-01"])
@pytest.mark.parametrize("bound", ["since", "until"])
async def test_audit_times_are_iso_date_times(
    api: httpx.AsyncClient, bound: str, value: str
) -> None:
    """Documented as ``date-time``: a number (once read as a Unix timestamp) or a bare
    date answers 400; an ISO-8601 date-time, naive or not, is answered."""
    response = await api.get("/api/audit", params={bound: value})
    assert response.status_code == 400, response.text
    for accepted in ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00", "2024-01-01 00:00:00+02:00"):
        assert (await api.get("/api/audit", params={bound: accepted})).status_code == 200


async def test_key_expiry_is_an_iso_date_time(api: httpx.AsyncClient) -> None:
    soon = datetime.now(UTC) + timedelta(days=30)
    refused = await api.post("/api/apikeys/user/ann", json={"expires_at": soon.timestamp()})
    assert refused.status_code == 400, refused.text
    assert (await api.get("/api/apikeys/user/ann")).json()["data"]["count"] == 0
    accepted = await api.post("/api/apikeys/user/ann", json={"expires_at": soon.isoformat()})
    assert accepted.status_code == 200, accepted.text
