"""``app.config``: the ``AUTH_*`` environment, defaults and database resolution.

Every test starts from an environment without ``AUTH_*`` variables, a temporary
``HOME`` and a working directory without ``.env``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import DatabaseType, Environment, Registration, Settings, load_settings
from app.db.migrations import PROJECT_ROOT


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.upper().startswith("AUTH_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return home


def test_zero_configuration_defaults(clean_environment: Path) -> None:
    settings = Settings()
    assert settings.env is Environment.DEVELOPMENT
    assert (settings.host, settings.port) == ("127.0.0.1", 5000)
    assert settings.migrate_on_start is True
    assert settings.database_type is DatabaseType.SQLITE
    assert settings.tenant_registration is Registration.OPEN
    assert settings.sqlite_path == clean_environment / ".auth.sqlite3"
    assert settings.database.url.render_as_string() == (
        f"sqlite+aiosqlite:///{clean_environment}/.auth.sqlite3"
    )
    assert settings.secrets_state_dir == clean_environment


def test_prefixed_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_PORT", "6001")
    monkeypatch.setenv("AUTH_HOST", "::1")
    monkeypatch.setenv("AUTH_MIGRATE_ON_START", "false")
    monkeypatch.setenv("AUTH_TENANT_REGISTRATION", "closed")
    monkeypatch.setenv("AUTH_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("PORT", "7000")  # unprefixed: ignored
    settings = Settings()
    assert (settings.port, settings.host) == (6001, "::1")
    assert settings.migrate_on_start is False
    assert settings.tenant_registration is Registration.CLOSED
    assert settings.log_level == "debug"


def test_keyword_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_PORT", "6001")
    assert Settings(port=6002).port == 6002


def test_dotenv_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("AUTH_PORT=6003\n", encoding="utf-8")
    assert Settings().port == 6003


def test_secrets_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "auth_key_hash_secret").write_text("from-a-secret-file", encoding="utf-8")
    monkeypatch.setenv("AUTH_SECRETS_DIR", str(secrets))
    settings = load_settings()
    assert settings.key_hash_secret is not None
    assert settings.key_hash_secret.get_secret_value() == "from-a-secret-file"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTH_PORT", "0"),
        ("AUTH_PORT", "65536"),
        ("AUTH_LOG_LEVEL", "verbose"),
        ("AUTH_DATABASE_TYPE", "mysql"),
        ("AUTH_ENV", "staging"),
    ],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_sqlite_path_expands_home(monkeypatch: pytest.MonkeyPatch, clean_environment: Path) -> None:
    monkeypatch.setenv("AUTH_SQLITE_PATH", "~/data/auth.db")
    settings = Settings()
    assert settings.sqlite_path == clean_environment / "data" / "auth.db"
    assert settings.database.url.database == f"{clean_environment}/data/auth.db"
    assert settings.secrets_state_dir == clean_environment / "data"


def test_state_dir_expands_home(monkeypatch: pytest.MonkeyPatch, clean_environment: Path) -> None:
    monkeypatch.setenv("AUTH_STATE_DIR", "~/state")
    assert Settings().secrets_state_dir == clean_environment / "state"


def test_postgresql_type_without_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_DATABASE_TYPE", "postgresql")
    settings = Settings()
    with pytest.raises(
        ValueError, match=r"^AUTH_DATABASE_TYPE=postgresql needs AUTH_POSTGRESQL_URL"
    ):
        _ = settings.database


def test_postgresql_type_with_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_DATABASE_TYPE", "postgresql")
    monkeypatch.setenv("AUTH_POSTGRESQL_URL", "postgresql://u:pw@db/auth?sslmode=require")
    target = Settings().database
    assert target.redacted() == "postgresql+asyncpg://u:***@db/auth"
    assert target.connect_args == {"ssl": "require"}


def test_database_url_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AUTH_DATABASE_URL", "postgres://u:pw@db/auth")
    monkeypatch.setenv("AUTH_DATABASE_TYPE", "sqlite")
    monkeypatch.setenv("AUTH_SQLITE_PATH", str(tmp_path / "ignored.sqlite3"))
    assert Settings().database.redacted() == "postgresql+asyncpg://u:***@db/auth"


def test_secrets_stay_out_of_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_DATABASE_URL", "postgresql://u:database-password@db/auth")
    monkeypatch.setenv("AUTH_KEY_HASH_SECRET", "key-hash-secret-value")
    text = repr(Settings())
    assert "database-password" not in text
    assert "key-hash-secret-value" not in text


def test_production_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_ENV", "production")
    assert Settings().is_production is True


DOCUMENTED_FILES = [
    "alembic.ini",
    "alembic/env.py",
    *sorted(str(path.relative_to(PROJECT_ROOT)) for path in (PROJECT_ROOT / "app").rglob("*.py")),
]
NOT_SETTINGS = {"AUTH_SECRETS_DIR"}  # read by load_settings itself


@pytest.mark.parametrize("relative", DOCUMENTED_FILES)
def test_documented_variables_exist(relative: str) -> None:
    """Every ``AUTH_*`` name the code's docs and messages mention is a real setting."""
    settings_names = {f"AUTH_{name.upper()}" for name in Settings.model_fields}
    text = (PROJECT_ROOT / relative).read_text(encoding="utf-8")
    mentioned = set(re.findall(r"\bAUTH_[A-Z][A-Z0-9_]*[A-Z0-9]\b", text))
    assert mentioned - settings_names - NOT_SETTINGS == set()


@pytest.mark.parametrize(
    ("variable", "value", "attribute", "expected"),
    [
        ("AUTH_WORKERS", "4", "workers", 4),
        ("AUTH_DB_POOL_SIZE", "20", "db_pool_size", 20),
        ("AUTH_DB_MAX_OVERFLOW", "0", "db_max_overflow", 0),
        ("AUTH_DB_POOL_TIMEOUT", "2.5", "db_pool_timeout", 2.5),
        ("AUTH_DB_POOL_RECYCLE", "-1", "db_pool_recycle", -1),
        ("AUTH_SQLITE_BUSY_TIMEOUT_MS", "250", "sqlite_busy_timeout_ms", 250),
        ("auth_port", "6004", "port", 6004),  # names are case-insensitive
    ],
)
def test_variable_table(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, attribute: str, expected: object
) -> None:
    monkeypatch.setenv(variable, value)
    assert getattr(Settings(), attribute) == expected
