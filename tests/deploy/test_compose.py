"""docker-compose.yml and deploy/make-dev-secrets.sh: the stack's shape and its secrets.

The file is checked structurally here (PyYAML, anchors and merge keys resolved) and,
where a Compose v2 binary exists, by ``docker compose config`` too.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from cryptography.fernet import Fernet

from app.config import Environment, Registration, Settings
from app.security.secrets import load_server_secrets
from tests.e2e.server import free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
Service = dict[str, Any]


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return document


def service(name: str) -> Service:
    found: Service = compose()["services"][name]
    return found


def secret_files(entry: Service) -> dict[str, str]:
    """``/run/secrets`` file name -> Compose secret, for one service."""
    files: dict[str, str] = {}
    for secret in entry.get("secrets", []):
        if isinstance(secret, str):
            files[secret] = secret
        else:
            files[Path(secret.get("target", secret["source"])).name] = secret["source"]
    return files


def make_dev_secrets(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "deploy" / "make-dev-secrets.sh"), str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_services_and_start_order() -> None:
    services = compose()["services"]
    assert sorted(services) == ["auth1", "auth2", "migrate", "nginx", "postgres", "redis"]
    assert service("migrate")["command"] == ["migrate"]
    assert service("migrate")["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("auth1", "auth2"):
        entry = service(name)
        assert entry["image"] == service("migrate")["image"]
        assert entry["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "redis": {"condition": "service_healthy"},
        }
        assert entry["read_only"] is True
        assert entry["cap_drop"] == ["ALL"]
    assert service("nginx")["depends_on"] == {
        "auth1": {"condition": "service_healthy"},
        "auth2": {"condition": "service_healthy"},
    }
    assert "pg_isready" in " ".join(service("postgres")["healthcheck"]["test"])
    redis_check = service("redis")["healthcheck"]["test"]
    assert redis_check[0] == "CMD-SHELL"
    assert "REDISCLI_AUTH=" in redis_check[1]
    assert "redis-cli ping | grep -q PONG" in redis_check[1]
    # Only the edge publishes ports.
    assert {name for name, entry in services.items() if "ports" in entry} == {"nginx"}
    assert (
        "./deploy/nginx/auth.conf:/etc/nginx/conf.d/default.conf:ro" in service("nginx")["volumes"]
    )


def test_service_settings() -> None:
    environment = service("auth1")["environment"]
    assert environment == service("auth2")["environment"]
    assert environment["AUTH_ENV"] == "production"
    assert environment["AUTH_MIGRATE_ON_START"] == "false"
    assert environment["AUTH_TENANT_REGISTRATION"] == "closed"
    assert "AUTH_RATE_LIMIT_STORAGE_URI" not in environment  # a secret file: it has a password
    assert environment["AUTH_SECRETS_DIR"] == "/run/secrets"
    nginx_address = service("nginx")["networks"]["edge"]["ipv4_address"]
    assert environment["AUTH_FORWARDED_ALLOW_IPS"] == nginx_address
    assert {"AUTH_ALLOWED_HOSTS", "AUTH_ENABLE_AUDIT_LOGGING", "AUTH_ENABLE_ENCRYPTION"} <= set(
        environment
    )


def test_secrets_are_files_never_inline_values() -> None:
    document = compose()
    for name, secret in document["secrets"].items():
        assert secret == {"file": f"./deploy/secrets/{name}"}
    secret_names = {
        f"AUTH_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if "SecretStr" in str(field.annotation)
    }
    inline: set[str] = set()
    for name, entry in document["services"].items():
        for variable, value in entry.get("environment", {}).items():
            assert not re.search(r"PASSWORD(?!_FILE)", variable), (name, variable)
            assert not re.search(r"://[^/]*@", str(value)), (name, variable)  # no credentials
            if variable in secret_names:
                inline.add(variable)
    assert inline == set()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "auth1",
            {
                "auth_database_url": "auth_app_database_url",
                "auth_key_hash_secret": "auth_key_hash_secret",
                "auth_jwt_secret_key": "auth_jwt_secret_key",
                "auth_encryption_key": "auth_encryption_key",
                "auth_metrics_token": "auth_metrics_token",
                "auth_rate_limit_storage_uri": "auth_rate_limit_storage_uri",
            },
        ),
        ("migrate", {"auth_database_url": "auth_owner_database_url"}),
    ],
)
def test_secret_files_are_named_like_settings(name: str, expected: dict[str, str]) -> None:
    assert secret_files(service(name)) == expected
    for file_name in expected:
        assert file_name.removeprefix("auth_") in Settings.model_fields


def test_redis_requires_its_password() -> None:
    redis = service("redis")
    assert secret_files(redis) == {
        "redis_users_acl": "redis_users_acl",
        "redis_password": "redis_password",
    }
    command = redis["command"]
    assert command[command.index("--aclfile") + 1] == "/run/secrets/redis_users_acl"


def test_generated_secrets_satisfy_production(tmp_path: Path) -> None:
    """make-dev-secrets.sh writes what the stack mounts; the settings read it as
    /run/secrets, and the production checks accept it."""
    directory = tmp_path / "secrets"
    result = make_dev_secrets(directory)
    assert (result.returncode, result.stderr) == (0, "")
    assert sorted(path.name for path in directory.iterdir()) == sorted(compose()["secrets"])
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert {stat.S_IMODE(path.stat().st_mode) for path in directory.iterdir()} == {0o644}
    values = {path.name: path.read_text() for path in directory.iterdir()}
    assert values["auth_app_database_url"] == (
        f"postgresql://auth_app:{values['auth_app_password']}@postgres:5432/auth"
    )
    assert values["auth_owner_database_url"] == (
        f"postgresql://auth_owner:{values['auth_owner_password']}@postgres:5432/auth"
    )
    Fernet(values["auth_encryption_key"].encode())  # a valid Fernet key
    assert values["auth_rate_limit_storage_uri"] == (
        f"redis://:{values['redis_password']}@redis:6379/0"
    )
    assert values["redis_password"] not in values["redis_users_acl"]

    # The service's view: its mounted files, as a secrets directory.
    mounted = tmp_path / "run-secrets"
    mounted.mkdir()
    for file_name, source in secret_files(service("auth1")).items():
        (mounted / file_name).write_text(values[source])
    environment = service("auth1")["environment"]
    settings = Settings(
        _env_file=None,
        _secrets_dir=str(mounted),
        env=Environment.PRODUCTION,
        tenant_registration=environment["AUTH_TENANT_REGISTRATION"],
    )
    assert settings.database.url.username == "auth_app"
    assert settings.encryption_key is not None
    assert settings.encryption_key.get_secret_value() == values["auth_encryption_key"]
    assert settings.tenant_registration is Registration.CLOSED
    storage = settings.rate_limit_storage_uri.get_secret_value()
    assert storage == values["auth_rate_limit_storage_uri"]
    load_server_secrets(settings)  # raises on a missing, short or placeholder secret

    again = make_dev_secrets(directory)
    assert again.returncode == 0
    assert {path.name: path.read_text() for path in directory.iterdir()} == values


def test_generated_redis_acl_admits_the_service_url_only(tmp_path: Path) -> None:
    """A real redis-server with the generated ACL file: the URL the service mounts
    authenticates; no password, or another one, is refused."""
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        pytest.skip("no redis-server binary")
    directory = tmp_path / "secrets"
    assert make_dev_secrets(directory).returncode == 0
    port = free_port()
    process = subprocess.Popen(
        [
            *(redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "no", "--aclfile", str(directory / "redis_users_acl")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = (
            (directory / "auth_rate_limit_storage_uri")
            .read_text()
            .replace("@redis:6379/", f"@127.0.0.1:{port}/")
        )
        client = redis.Redis.from_url(url, socket_timeout=5)
        for _ in range(100):
            try:
                assert client.ping() is True
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            pytest.fail("redis-server did not come up")
        anonymous = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
        wrong = redis.Redis.from_url(url.replace("://:", "://:x"), socket_timeout=5)
        with pytest.raises(redis.AuthenticationError):
            wrong.ping()
        client.close()
        anonymous.close()
        wrong.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


def docker_compose() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone is not None:
        probe = subprocess.run(
            [standalone, "version"], capture_output=True, text=True, timeout=30, check=False
        )
        if probe.returncode == 0 and "v2." in probe.stdout:
            return [standalone]
    return None


def test_docker_compose_config() -> None:
    command = docker_compose()
    if command is None:
        pytest.skip(
            "no Compose v2 binary (docker compose / docker-compose); structure checked above"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTH_")}
    result = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config", "--services"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == [
        "auth1",
        "auth2",
        "migrate",
        "nginx",
        "postgres",
        "redis",
    ]
