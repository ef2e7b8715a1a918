"""Closed registration: only operator-created tenants; operators can disable them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import func, select

from app.cli import main
from app.config import Settings
from app.db.url import DatabaseTarget
from app.main import create_app
from app.models import Tenant
from app.security.credentials import hash_client_key
from app.state import app_state
from app.tenants.admin import create_tenant, tenant_summaries
from tests.api.helpers import assert_bare
from tests.conftest import TEST_JWT_SECRET, TEST_KEY_HASH_SECRET, make_settings
from tests.identity.helpers import (
    SecretWatch,
    assert_unauthorized,
    bearer,
    issue_tokens,
    watched_client,
)


@pytest.fixture(scope="module")
def closed_settings(
    database_target: DatabaseTarget, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return make_settings(
        database_target, tmp_path_factory.mktemp("closed"), tenant_registration="closed"
    )


@pytest.fixture(scope="module")
async def closed_app(closed_settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(closed_settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
def cli_environment(
    monkeypatch: pytest.MonkeyPatch,
    database_target: DatabaseTarget,
    closed_settings: Settings,
    tmp_path: Path,
) -> None:
    """The operator's environment: same database, secrets and encryption as ``closed_app``."""
    monkeypatch.chdir(tmp_path)
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    values = {
        "AUTH_DATABASE_URL": database_target.url.render_as_string(hide_password=False),
        "AUTH_KEY_HASH_SECRET": TEST_KEY_HASH_SECRET,
        "AUTH_JWT_SECRET_KEY": TEST_JWT_SECRET,
        "AUTH_STATE_DIR": str(tmp_path),
        "AUTH_SECRETS_DIR": str(secrets_dir),
        "AUTH_TENANT_REGISTRATION": "closed",
    }
    if closed_settings.enable_encryption and closed_settings.encryption_key is not None:
        values["AUTH_ENABLE_ENCRYPTION"] = "true"
        values["AUTH_ENCRYPTION_KEY"] = closed_settings.encryption_key.get_secret_value()
    for name, value in values.items():
        monkeypatch.setenv(name, value)


async def _cli(*argv: str) -> int:
    """``auth-server ...`` in a thread (it runs its own event loop)."""
    return await asyncio.to_thread(main, list(argv))


async def _tenant_count(app: FastAPI) -> int:
    async with app_state(app).database.transaction(write=False) as session:
        return int(await session.scalar(select(func.count()).select_from(Tenant)) or 0)


async def test_unknown_key_is_refused_and_opens_nothing(
    closed_app: FastAPI, watch: SecretWatch
) -> None:
    key = str(uuid.uuid4())
    before = await _tenant_count(closed_app)
    failures = app_state(closed_app).failures.snapshot()["unknown_key"]
    async with watched_client(closed_app, watch, key) as http:
        assert_unauthorized(await http.get("/api/roles"))
        assert_unauthorized(await http.post("/api/role/editors"))
        assert_unauthorized(await http.post("/api/token"))
    assert await _tenant_count(closed_app) == before
    assert app_state(closed_app).failures.snapshot()["unknown_key"] == failures + 3
    key_hash = hash_client_key(key, app_state(closed_app).secrets.key_hash)
    async with app_state(closed_app).database.transaction(write=False) as session:
        found = await session.scalar(select(Tenant.id).where(Tenant.key_hash == key_hash))
    assert found is None


async def test_operator_tenant_is_accepted(
    closed_app: FastAPI,
    closed_settings: Settings,
    watch: SecretWatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tenant_id, key = await create_tenant(closed_settings, "acme")
    assert capsys.readouterr() == ("", "")
    assert isinstance(tenant_id, int)
    assert str(uuid.UUID(key)) == key
    async with watched_client(closed_app, watch, key) as http:
        assert_bare(await http.get("/api/roles"), [])
        assert_bare(await http.post("/api/role/editors"), True)
        tokens = await issue_tokens(http)
        roles = await http.get("/api/roles", headers=bearer(tokens["access_token"]))
        assert_bare(roles, [{"role": "editors", "description": None}])
    summaries = {summary.id: summary for summary in await tenant_summaries(closed_settings)}
    assert summaries[tenant_id].label == "acme"
    assert summaries[tenant_id].operator_created is True
    assert summaries[tenant_id].disabled is False


async def test_cli_lists_and_disables_tenants(
    closed_app: FastAPI,
    closed_settings: Settings,
    watch: SecretWatch,
    cli_environment: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tenant_id, key = await create_tenant(closed_settings, "globex")
    async with watched_client(closed_app, watch, key) as http:
        tokens = await issue_tokens(http)
        assert_bare(await http.get("/api/roles"), [])

        assert await _cli("tenant", "list") == 0
        listing = capsys.readouterr().out
        row = _row(listing, tenant_id)
        assert row[-3:] == ["active", "default", "globex"]
        assert "operator" in row
        assert key not in listing

        assert await _cli("tenant", "disable", str(tenant_id)) == 0
        assert capsys.readouterr().out == (
            f"tenant {tenant_id} disabled: its client key and tokens are refused\n"
        )
        failures = app_state(closed_app).failures.snapshot()["disabled_tenant"]
        assert_unauthorized(await http.get("/api/roles"))
        assert app_state(closed_app).failures.snapshot()["disabled_tenant"] == failures + 1
        assert_unauthorized(await http.post("/api/token"))
        response = await http.get("/api/roles", headers=bearer(tokens["access_token"]))
        assert_unauthorized(response, invalid_token=True)

        assert await _cli("tenant", "list") == 0
        assert _row(capsys.readouterr().out, tenant_id)[-3:] == ["disabled", "default", "globex"]
        assert await _cli("tenant", "disable", str(tenant_id)) == 0
        capsys.readouterr()
        assert_unauthorized(await http.get("/api/roles"))


async def test_cli_creates_a_tenant(
    closed_app: FastAPI,
    watch: SecretWatch,
    cli_environment: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await _cli("tenant", "create", "--label", "initech") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("tenant ")
    key = lines[1]
    async with watched_client(closed_app, watch, key) as http:
        assert_bare(await http.get("/api/roles"), [])


async def test_cli_disable_of_unknown_tenant_fails(
    cli_environment: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _cli("tenant", "disable", "999999999") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "auth-server: no tenant with id 999999999\n"


def _row(listing: str, tenant_id: int) -> list[str]:
    rows = [line.split() for line in listing.splitlines()[1:]]
    matches = [row for row in rows if row[0] == str(tenant_id)]
    assert len(matches) == 1
    return matches[0]


async def test_cli_rekeys_a_tenant_an_attacker_rotated_away(
    closed_app: FastAPI,
    closed_settings: Settings,
    watch: SecretWatch,
    cli_environment: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The attacker rotated first (which also retired the owner's rotate key): the
    operator's ``tenant rekey`` gives the owner a new key and leaves the attacker none."""
    tenant_id, key = await create_tenant(closed_settings, "hooli")
    async with watched_client(closed_app, watch, key) as leaked:
        assert_bare(await leaked.post("/api/role/editors"), True)
        rotate_key = (await leaked.post("/api/keys/get_rotate_key")).json()["data"]["rotate_key"]
        attacker_key = (await leaked.post("/api/keys/rotate")).json()["data"]["new_key"]
    async with watched_client(closed_app, watch, attacker_key) as attacker:
        attacker_tokens = await issue_tokens(attacker, "admin")

        assert await _cli("tenant", "rekey", str(tenant_id)) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].startswith(f"tenant {tenant_id} re-keyed")
        owner_key = lines[1]
        assert uuid.UUID(owner_key).version == 4

        assert_unauthorized(await attacker.get("/api/roles"))
        response = await attacker.get("/api/roles", headers=bearer(attacker_tokens["access_token"]))
        assert_unauthorized(response, invalid_token=True)
        recover = await attacker.post("/api/keys/recover", json={"rotate_key": rotate_key})
        assert_unauthorized(recover)
    async with watched_client(closed_app, watch, owner_key) as owner:
        assert_bare(await owner.get("/api/roles"), [{"role": "editors", "description": None}])
        assert (await owner.post("/api/keys/get_rotate_key")).status_code == 200
    assert await _cli("tenant", "rekey", "999999999") == 1
