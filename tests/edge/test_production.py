"""Production readiness: every refusal names its setting and fix; the lifespan and
``auth-server serve`` both refuse; the docs switch."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager

from app.config import Settings
from app.main import create_app
from app.security.production import (
    ProductionReadinessError,
    check_production_readiness,
    production_advisories,
    production_problems,
)
from tests.e2e.server import free_port, run_cli, server_env
from tests.edge.conftest import EdgeClient

STRONG = {
    "key_hash_secret": "k" * 8 + "-strong-key-hash-secret-0123456789",
    "jwt_secret_key": "j" * 8 + "-strong-jwt-signing-secret-012345",
}


def production(tmp_path: Path, **values: Any) -> Settings:
    database = tmp_path / "auth.sqlite3"
    settings: dict[str, Any] = {
        "env": "production",
        "sqlite_path": database,
        "state_dir": tmp_path,
        "metrics_token": "m" * 8 + "-strong-metrics-token-0123456789",
        "allowed_hosts": "auth.example.com",
        **STRONG,
    }
    settings.update(values)
    return Settings(_env_file=None, **settings)


def test_a_sound_configuration_starts(tmp_path: Path) -> None:
    settings = production(tmp_path)
    assert production_problems(settings) == []
    check_production_readiness(settings)


def test_development_is_never_refused(tmp_path: Path) -> None:
    check_production_readiness(
        Settings(_env_file=None, debug=True, allow_cors=True, cors_origins="*", state_dir=tmp_path)
    )


def test_every_problem_is_listed_with_its_setting_and_fix(tmp_path: Path) -> None:
    database = tmp_path / "auth.sqlite3"
    database.touch(mode=0o644)
    database.chmod(0o644)
    wal = Path(f"{database}-wal")
    wal.touch()
    wal.chmod(0o660)
    settings = production(
        tmp_path,
        debug=True,
        allow_cors=True,
        cors_origins="https://app.example.com,*",
        jwt_secret_key="changeme",
        metrics_token="short",
    )
    with pytest.raises(ProductionReadinessError) as caught:
        check_production_readiness(settings)
    assert caught.value.problems == [
        "AUTH_JWT_SECRET_KEY is a known placeholder: generate one with `openssl rand -base64 32`",
        "AUTH_DEBUG=true logs SQL statements and internal detail: set AUTH_DEBUG=false",
        "AUTH_CORS_ORIGINS contains '*', which lets any web page call the API: list the exact "
        "origins, e.g. AUTH_CORS_ORIGINS=https://app.example.com",
        f"AUTH_SQLITE_PATH: {database} has mode 0644, so group or others can read the "
        f"database; restrict it with `chmod 600 {database}`",
        f"AUTH_SQLITE_PATH: {wal} has mode 0660, so group or others can read the "
        f"database; restrict it with `chmod 600 {wal}`",
        "AUTH_METRICS_TOKEN is shorter than 32 characters: generate one with "
        "`openssl rand -base64 32`",
    ]
    assert str(caught.value).startswith(
        "refusing to start in production (AUTH_ENV=production):\n  - AUTH_JWT_SECRET_KEY"
    )


def test_missing_secrets_are_refused(tmp_path: Path) -> None:
    settings = production(tmp_path, key_hash_secret=None, jwt_secret_key=None)
    assert production_problems(settings) == [
        "AUTH_KEY_HASH_SECRET, AUTH_JWT_SECRET_KEY must be set (32+ random characters, "
        "e.g. `openssl rand -base64 32`)"
    ]


def test_cors_wildcard_is_fine_while_cors_is_off(tmp_path: Path) -> None:
    assert production_problems(production(tmp_path, cors_origins="*")) == []


def test_owner_only_sqlite_file_and_database_url(tmp_path: Path) -> None:
    database = tmp_path / "other.sqlite3"
    database.touch()
    database.chmod(0o600)
    assert production_problems(production(tmp_path, database_url=f"sqlite:///{database}")) == []
    database.chmod(0o604)
    assert production_problems(production(tmp_path, database_url=f"sqlite:///{database}")) == [
        f"AUTH_DATABASE_URL: {database} has mode 0604, so group or others can read the "
        f"database; restrict it with `chmod 600 {database}`"
    ]


def test_advisories_are_logged_not_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = production(tmp_path, metrics_token=None, allowed_hosts="*", workers=2)
    assert production_advisories(settings) == [
        "AUTH_ALLOWED_HOSTS is '*': set the host names clients use "
        "(e.g. AUTH_ALLOWED_HOSTS=auth.example.com) unless a proxy already checks them",
        "AUTH_RATE_LIMIT_STORAGE_URI is memory:// with AUTH_WORKERS=2: each worker counts "
        "on its own; use redis://... to share the budgets",
        "AUTH_METRICS_TOKEN is not set: /metrics answers anyone who can reach it",
        "AUTH_ENABLE_ENCRYPTION=false: user ids, permission names and API-key labels are "
        "stored in plain text; set AUTH_ENABLE_ENCRYPTION=true with AUTH_ENCRYPTION_KEY",
    ]
    caplog.set_level(logging.WARNING, logger="app.security.production")
    check_production_readiness(settings)
    assert [r.getMessage() for r in caplog.records if r.name == "app.security.production"] == (
        production_advisories(settings)
    )


async def test_the_lifespan_refuses(tmp_path: Path) -> None:
    app = create_app(production(tmp_path, debug=True))
    with pytest.raises(ProductionReadinessError, match="AUTH_DEBUG"):
        async with LifespanManager(app):
            pass


def test_serve_refuses_before_binding_the_port(tmp_path: Path) -> None:
    env = server_env(
        tmp_path / "home",
        AUTH_ENV="production",
        AUTH_SQLITE_PATH=str(tmp_path / "auth.sqlite3"),
        AUTH_KEY_HASH_SECRET=STRONG["key_hash_secret"],
        AUTH_JWT_SECRET_KEY=STRONG["jwt_secret_key"],
        AUTH_ALLOW_CORS="true",
        AUTH_CORS_ORIGINS="*",
        AUTH_PORT=str(free_port()),
    )
    result = run_cli(["serve"], env, tmp_path)
    assert result.returncode == 2
    assert "AUTH_CORS_ORIGINS contains '*'" in result.stderr
    assert "address" not in result.stderr.lower()
    assert not (tmp_path / "auth.sqlite3").exists()  # refused before migrating too


async def test_docs_can_be_switched_off(edge_client: EdgeClient) -> None:
    async with edge_client(enable_docs=False) as (_app, http):
        statuses = {
            path: (await http.get(path)).status_code
            for path in ("/docs", "/redoc", "/openapi.json", "/docs-static/swagger-init.js")
        }
        ping = await http.get("/ping")
    assert statuses == dict.fromkeys(statuses, 404)
    assert ping.status_code == 200


def test_docs_are_on_by_default_in_production_too(tmp_path: Path) -> None:
    assert production(tmp_path).enable_docs is True
