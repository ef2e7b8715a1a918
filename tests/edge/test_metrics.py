"""GET /metrics: route templates, decisions, failed authentications, pool, token."""

from __future__ import annotations

import re

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.edge.conftest import EdgeClient, bearer, new_key

CONTENT_JSON = {"Content-Type": "application/json"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(
    parsed: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return parsed[(name, tuple(sorted(labels.items())))]


async def _decision_flow(http: httpx.AsyncClient, key: dict[str, str]) -> None:
    for path in ("/api/role/editors", "/api/permission/editors/publish"):
        assert (await http.post(path, headers=key)).status_code == 200
    assert (await http.post("/api/membership/alice@example.com/editors", headers=key)).json()
    issued = await http.post("/api/apikeys/user/alice@example.com", headers=key)
    api_key = issued.json()["data"]["api_key"]
    checks = [
        "/api/has_permission/alice@example.com/publish",  # allowed
        "/api/has_permission/bob/publish",  # denied
        "/api/has_permission/bob/publish",  # denied
        "/api/workflow/user/alice@example.com/can_run/publish",  # allowed
        "/api/workflow/user/bob/can_run/publish",  # denied
    ]
    for path in checks:
        assert (await http.get(path, headers=key)).status_code == 200
    for permission in ("publish", "delete"):  # allowed, denied
        response = await http.post(
            "/api/apikeys/check_permission",
            headers=key | CONTENT_JSON,
            json={"api_key": api_key, "permission": permission},
        )
        assert response.status_code == 200
    unknown = await http.post(
        "/api/apikeys/check_permission",
        headers=key | CONTENT_JSON,
        json={"api_key": "rak_" + "x" * 43, "permission": "publish"},
    )
    assert unknown.json()["data"]["valid"] is False  # no decision: not counted


async def test_requests_decisions_and_failures(edge_client: EdgeClient) -> None:
    key = bearer(new_key())
    async with edge_client() as (_app, http):
        await _decision_flow(http, key)
        await http.get("/api/roles")  # missing header
        await http.get("/api/roles", headers={"Authorization": "Bearer nope"})  # malformed
        await http.get("/api/no/such/route/for/alice", headers=key)
        await http.request("BREW", "/ping")
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    text = response.text
    parsed = samples(text)
    decisions = {
        (kind, result): value(parsed, "auth_decisions_total", kind=kind, result=result)
        for kind in ("has_permission", "can_run", "check_permission")
        for result in ("allowed", "denied")
    }
    assert decisions == {
        ("has_permission", "allowed"): 1,
        ("has_permission", "denied"): 2,
        ("can_run", "allowed"): 1,
        ("can_run", "denied"): 1,
        ("check_permission", "allowed"): 1,
        ("check_permission", "denied"): 1,
    }
    requests = "auth_http_requests_total"
    route = "/api/has_permission/{user}/{name}"
    assert value(parsed, requests, method="GET", route=route, status="200") == 3
    assert value(parsed, requests, method="GET", route="/api/roles", status="401") == 1
    assert value(parsed, requests, method="GET", route="/api/roles", status="400") == 1
    assert value(parsed, requests, method="GET", route="unmatched", status="404") == 1
    assert value(parsed, requests, method="OTHER", route="/ping", status="405") == 1
    assert value(parsed, "auth_http_request_duration_seconds_count", method="GET", route=route) == 3
    failures = "auth_failed_authentications_total"
    assert value(parsed, failures, reason="missing_header") == 1
    assert value(parsed, failures, reason="malformed_credential") == 1
    assert value(parsed, failures, reason="unknown_key") == 0
    assert value(parsed, "auth_db_pool_size") == 10
    assert value(parsed, "auth_db_pool_checked_out") == 0
    assert value(parsed, "auth_db_pool_overflow") == 0
    assert value(parsed, "auth_rate_limit_storage_up") == 1
    assert value(parsed, "auth_rate_limited_requests_total", limit="write") == 0
    # Labels hold templates, never what was in the path.
    assert "alice" not in text
    assert "bob" not in text
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-4", text)


async def test_metrics_token(edge_client: EdgeClient) -> None:
    token = "metrics-token-0123456789abcdefghijkl"
    async with edge_client(metrics_token=token) as (_app, http):
        missing = await http.get("/metrics")
        wrong = await http.get("/metrics", headers=bearer("metrics-token-wrong"))
        basic = await http.get("/metrics", headers={"Authorization": f"Basic {token}"})
        right = await http.get("/metrics", headers=bearer(token))
    for response in (missing, wrong, basic):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == 'Bearer realm="metrics"'
        assert response.json()["type"] == "urn:auth:problem:metrics-token-required"
    assert right.status_code == 200
    assert "auth_http_requests_total" in right.text


async def test_metrics_are_open_without_a_token(edge_client: EdgeClient) -> None:
    async with edge_client() as (_app, http):
        response = await http.get("/metrics")
        documented = (await http.get("/openapi.json")).json()["paths"]
    assert response.status_code == 200
    assert "process_resident_memory_bytes" in response.text
    assert "/metrics" not in documented


async def test_decision_snapshot_metrics(edge_client: EdgeClient) -> None:
    key = bearer(new_key())
    check = "/api/has_permission/alice@example.com/publish"
    async with edge_client(decision_cache_entries=1_000) as (app, http):
        for path in (
            "/api/role/editors",
            "/api/permission/editors/publish",
            "/api/membership/alice@example.com/editors",
        ):
            assert (await http.post(path, headers=key)).json()["result"] is True
        decisions = app.state.auth.decisions
        await decisions.settle()  # the writes' own requests started a rebuild
        before = samples((await http.get("/metrics")).text)
        assert (await http.get(check, headers=key)).json()["data"]["has_permission"]
        await decisions.settle()
        assert (await http.get(check, headers=key)).json()["data"]["has_permission"]
        parsed = samples((await http.get("/metrics")).text)

    def grew(name: str, **labels: str) -> float:
        return value(parsed, name, **labels) - value(before, name, **labels)

    assert grew("auth_decision_snapshot_answers_total", probe="probed") >= 1
    assert value(parsed, "auth_decision_snapshot_answers_total", probe="unprobed") == 0
    assert value(parsed, "auth_decision_snapshot_misses_total") >= 1
    assert value(parsed, "auth_decision_snapshot_rebuilds_total", result="ok") >= 1
    assert value(parsed, "auth_decision_snapshot_rebuilds_total", result="error") == 0
    assert value(parsed, "auth_decision_probe_errors_total") == 0
    assert value(parsed, "auth_decision_cache_tenants") >= 1
    # editors holds publish, alice belongs to editors, no API keys: 1 + 1 + the tenant row.
    assert value(parsed, "auth_decision_cache_rows") == 3
    assert value(parsed, "auth_decision_cache_evictions_total") == 0
