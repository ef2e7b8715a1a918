"""Server secrets: refused when weak in production, generated once in development."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from app.config import Settings
from app.security.secrets import SECRETS_FILE_NAME, SecretsError, key_id, load_server_secrets

GOOD = "a-perfectly-random-looking-secret-0123456789"
VARIABLES = {"key_hash_secret": "AUTH_KEY_HASH_SECRET", "jwt_secret_key": "AUTH_JWT_SECRET_KEY"}
OTHER_VARIABLES = (
    "AUTH_JWT_PREVIOUS_SECRET_KEYS",
    "AUTH_ENV",
    "AUTH_STATE_DIR",
    "AUTH_BLIND_INDEX_KEY",
    "AUTH_AUDIT_KEY",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*VARIABLES.values(), *OTHER_VARIABLES):
        monkeypatch.delenv(name, raising=False)


def _settings(state_dir: Path, **values: object) -> Settings:
    return Settings(_env_file=None, state_dir=state_dir, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", list(VARIABLES))
@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("short-but-random-9f8e7d", id="short"),
        pytest.param("x" * 31, id="31-characters"),
        pytest.param("dev-secret-key", id="dev-secret-key"),
        pytest.param("changeme", id="changeme"),
        pytest.param("CHANGEME", id="changeme-upper"),
        pytest.param("<changeme>", id="changeme-bracketed"),
    ],
)
def test_production_refuses_weak_secrets(tmp_path: Path, field: str, value: str | None) -> None:
    values: dict[str, object] = dict.fromkeys(VARIABLES, GOOD)
    values[field] = value
    settings = _settings(tmp_path, env="production", **values)
    with pytest.raises(SecretsError) as refused:
        load_server_secrets(settings)
    message = str(refused.value)
    assert VARIABLES[field] in message
    other = next(name for name in VARIABLES.values() if name != VARIABLES[field])
    assert other not in message
    assert GOOD not in message
    if value:
        assert value not in message
    assert not (tmp_path / SECRETS_FILE_NAME).exists()


def test_production_refuses_a_weak_previous_jwt_secret(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        env="production",
        key_hash_secret=GOOD,
        jwt_secret_key=GOOD,
        jwt_previous_secret_keys=f"{GOOD}-old,changeme",
    )
    with pytest.raises(SecretsError, match="AUTH_JWT_PREVIOUS_SECRET_KEYS"):
        load_server_secrets(settings)


def test_production_accepts_strong_secrets(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        env="production",
        key_hash_secret=GOOD,
        jwt_secret_key=GOOD + "-jwt",
        jwt_previous_secret_keys=GOOD + "-old",
    )
    secrets = load_server_secrets(settings)
    assert secrets.key_hash == GOOD.encode()
    assert secrets.jwt_signing.secret == GOOD + "-jwt"
    assert secrets.jwt_signing.kid == key_id(GOOD + "-jwt")
    assert set(secrets.jwt_verification) == {key_id(GOOD + "-jwt"), key_id(GOOD + "-old")}
    assert GOOD not in repr(secrets)
    assert not (tmp_path / SECRETS_FILE_NAME).exists()


def test_development_generates_secrets_once(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    first = load_server_secrets(_settings(state_dir))
    path = state_dir / SECRETS_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert set(stored) == {"key_hash", "jwt_secret"}
    assert all(len(value) >= 32 for value in stored.values())
    assert stored["key_hash"] != stored["jwt_secret"]
    second = load_server_secrets(_settings(state_dir))
    assert second.key_hash == first.key_hash == stored["key_hash"].encode()
    assert second.jwt_signing == first.jwt_signing
    assert first.jwt_signing.secret == stored["jwt_secret"]


def test_development_generates_only_what_is_missing(tmp_path: Path) -> None:
    secrets = load_server_secrets(_settings(tmp_path, jwt_secret_key=GOOD))
    stored = json.loads((tmp_path / SECRETS_FILE_NAME).read_text())
    assert set(stored) == {"key_hash"}
    assert secrets.jwt_signing.secret == GOOD
    assert secrets.key_hash == stored["key_hash"].encode()


def test_development_tolerates_weak_configured_secrets(tmp_path: Path) -> None:
    settings = _settings(tmp_path, key_hash_secret="changeme", jwt_secret_key="dev-secret-key")
    secrets = load_server_secrets(settings)
    assert secrets.key_hash == b"changeme"
    assert not (tmp_path / SECRETS_FILE_NAME).exists()
