"""Refused API keys are audited as failures: ``success: false`` with ``valid``,
``reason`` and, when the key is known, ``key_id`` (decisions audited)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from sqlalchemy import update

from app.models import ApiKey
from tests.databases import DIRECT_ACCESS
from tests.protection.helpers import (
    AuditWatch,
    details,
    fetch,
    fingerprint,
    http_client,
    state,
    tenant_of,
)

ROUTES = {
    "VALIDATE_API_KEY": ("/api/apikeys/validate", {}),
    "CHECK_API_KEY_PERMISSION": ("/api/apikeys/check_permission", {"permission": "deploy"}),
}


@pytest.mark.parametrize("action", sorted(ROUTES))
async def test_refused_keys_are_failures(checks_app: FastAPI, client_key: str, action: str) -> None:
    path, extra = ROUTES[action]
    async with http_client(checks_app, client_key) as api:
        tenant = await tenant_of(checks_app, api)
        issued = {}
        for name in ("live", "revoked", "expired"):
            created = await api.post("/api/apikeys/user/ann", json={"label": name})
            issued[name] = created.json()["data"]
        revoked = issued["revoked"]["key_id"]
        assert (await api.delete(f"/api/apikeys/user/ann/{revoked}")).status_code == 200
        async with state(checks_app).database.transaction(every_tenant=DIRECT_ACCESS) as session:
            await session.execute(
                update(ApiKey)
                .where(ApiKey.key_id == issued["expired"]["key_id"])
                .values(expires_at=datetime(2000, 1, 1, tzinfo=UTC))
            )
        watch = AuditWatch(checks_app, tenant)
        await watch.new()
        cases = [
            ("rak_" + "x" * 43, "unknown_key", None),
            ("not-a-key", "unknown_key", None),
            (issued["revoked"]["api_key"], "revoked", issued["revoked"]["key_id"]),
            (issued["expired"]["api_key"], "expired", issued["expired"]["key_id"]),
        ]
        ann = fingerprint(tenant, "ann")
        for secret, reason, key_id in cases:
            answer = await api.post(path, json={"api_key": secret, **extra})
            assert answer.json()["data"] == {"valid": False, "reason": reason}
            [row] = await watch.new()
            expected = {"valid": False, "reason": reason}
            if key_id is not None:
                expected["key_id"] = key_id
            assert (row["action"], bool(row["success"]), details(row)) == (
                action,
                False,
                expected,
            ), reason
            assert row["resource"] == key_id
            assert row["user_fingerprint"] == (ann if key_id else None)

        live = issued["live"]
        assert (await api.post(path, json={"api_key": live["api_key"], **extra})).json()["data"][
            "valid"
        ] is True
        [row] = await watch.new()
        assert bool(row["success"]) is True
        assert details(row)["valid"] is True
        assert details(row)["key_id"] == live["key_id"]

        failed = await fetch(
            checks_app,
            "SELECT count(*) AS n FROM audit_log WHERE chain_id = :t AND action = :a "
            "AND success = :no",
            t=tenant,
            a=action,
            no=False,
        )
        assert failed[0]["n"] == len(cases)
