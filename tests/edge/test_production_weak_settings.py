"""Production refuses the weak settings an attack review started it with, all of them
in one message, and warns loudly about the ones it tolerates."""

from __future__ import annotations

import logging
import secrets
import uuid
from pathlib import Path

import pytest

from app.security.production import (
    ProductionReadinessError,
    check_production_readiness,
    production_advisories,
    production_problems,
)
from app.security.secrets import weakness
from tests.e2e.server import free_port, run_cli, server_env
from tests.edge.test_production import STRONG, production

FIX = "generate one with `openssl rand -base64 32`"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a" * 36, "is a repeated pattern, not a random value"),
        ("changeme" * 4, "is a repeated pattern, not a random value"),
        ("ab" * 20 + "c", "is a repeated pattern, not a random value"),
        ("passwordpasswordpassword12345678", "is a repeated pattern, not a random value"),
        ("a" * 31 + "bb", "is a repeated pattern, not a random value"),
        (
            "abbabaabbbabaababbbaabababbbaaabbabbaaba",
            "has too little entropy (under 80 bits estimated)",
        ),
    ],
)
def test_low_entropy_and_repeated_secrets(value: str, reason: str) -> None:
    assert weakness(value) == reason


@pytest.mark.parametrize(
    "generate",
    [
        lambda: secrets.token_hex(16),
        lambda: secrets.token_urlsafe(32),
        lambda: secrets.token_urlsafe(48),
        lambda: str(uuid.uuid4()),
    ],
    ids=["hex-16", "urlsafe-32", "urlsafe-48", "uuid4"],
)
def test_random_secrets_pass(generate: object) -> None:
    assert callable(generate)
    for _ in range(2000):
        value = generate()
        assert weakness(value) is None, value


def test_the_reviewed_configuration_is_refused_in_one_message(tmp_path: Path) -> None:
    settings = production(
        tmp_path,
        key_hash_secret="a" * 36,
        jwt_secret_key="changeme" * 4,
        forwarded_allow_ips="*",
        allow_cors=True,
        cors_origins="null,http://*",
        rate_limit_enabled=False,
        enable_encryption=False,
    )
    with pytest.raises(ProductionReadinessError) as caught:
        check_production_readiness(settings)
    assert caught.value.problems == [
        f"AUTH_KEY_HASH_SECRET is a repeated pattern, not a random value: {FIX}",
        f"AUTH_JWT_SECRET_KEY is a repeated pattern, not a random value: {FIX}",
        "AUTH_CORS_ORIGINS contains 'null', the origin of sandboxed frames and local files, "
        "which any page can take on: remove it",
        "AUTH_CORS_ORIGINS contains 'http://*': origins are matched exactly, never as "
        "patterns; list each origin, e.g. https://app.example.com",
        "AUTH_FORWARDED_ALLOW_IPS contains '*', so any client can forge X-Forwarded-For and "
        "choose the address its budgets and audit rows name: list the proxy's addresses, "
        "e.g. AUTH_FORWARDED_ALLOW_IPS=10.0.0.5",
    ]
    message = str(caught.value)
    assert all(problem in message for problem in caught.value.problems)
    assert "a" * 36 not in message
    assert "changeme" not in message
    assert production_advisories(settings)[-3:] == [
        "AUTH_RATE_LIMIT_ENABLED=false: nothing limits failed authentications or runaway "
        "clients here; keep it on unless the proxy limits every address",
        "AUTH_ENABLE_ENCRYPTION=false: user ids, permission names and API-key labels are "
        "stored in plain text; set AUTH_ENABLE_ENCRYPTION=true with AUTH_ENCRYPTION_KEY",
        "AUTH_CORS_ORIGINS allows 'http://*' over plain HTTP: serve the frontend over HTTPS",
    ]


@pytest.mark.parametrize("network", ["0.0.0.0/0", "::/0"])
def test_every_address_as_a_proxy_is_a_wildcard(tmp_path: Path, network: str) -> None:
    problems = production_problems(production(tmp_path, forwarded_allow_ips=f"10.0.0.5,{network}"))
    assert len(problems) == 1
    assert problems[0].startswith(f"AUTH_FORWARDED_ALLOW_IPS contains '{network}'")


def test_one_secret_in_two_settings_is_refused(tmp_path: Path) -> None:
    shared = STRONG["key_hash_secret"]
    settings = production(
        tmp_path, jwt_secret_key=shared, audit_key=shared, metrics_token=STRONG["jwt_secret_key"]
    )
    assert production_problems(settings) == [
        "AUTH_KEY_HASH_SECRET and AUTH_JWT_SECRET_KEY and AUTH_AUDIT_KEY have the same value: "
        f"each secret must be generated on its own ({FIX})",
    ]
    previous = production(tmp_path, jwt_previous_secret_keys=STRONG["key_hash_secret"])
    assert production_problems(previous) == [
        "AUTH_KEY_HASH_SECRET and AUTH_JWT_PREVIOUS_SECRET_KEYS have the same value: "
        f"each secret must be generated on its own ({FIX})",
    ]


def test_tolerated_settings_are_advised_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = production(tmp_path, rate_limit_enabled=False)
    assert production_problems(settings) == []
    caplog.set_level(logging.WARNING, logger="app.security.production")
    check_production_readiness(settings)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(line.startswith("AUTH_RATE_LIMIT_ENABLED=false") for line in warned)
    assert any(line.startswith("AUTH_ENABLE_ENCRYPTION=false") for line in warned)


def test_serve_lists_every_problem_at_once(tmp_path: Path) -> None:
    env = server_env(
        tmp_path / "home",
        AUTH_ENV="production",
        AUTH_SQLITE_PATH=str(tmp_path / "auth.sqlite3"),
        AUTH_KEY_HASH_SECRET="a" * 36,
        AUTH_JWT_SECRET_KEY="a" * 36,
        AUTH_FORWARDED_ALLOW_IPS="*",
        AUTH_ALLOW_CORS="true",
        AUTH_CORS_ORIGINS="null",
        AUTH_PORT=str(free_port()),
    )
    result = run_cli(["serve"], env, tmp_path)
    assert result.returncode == 2
    for fragment in (
        "AUTH_KEY_HASH_SECRET is a repeated pattern",
        "AUTH_JWT_SECRET_KEY is a repeated pattern",
        "AUTH_KEY_HASH_SECRET and AUTH_JWT_SECRET_KEY have the same value",
        "AUTH_CORS_ORIGINS contains 'null'",
        "AUTH_FORWARDED_ALLOW_IPS contains '*'",
    ):
        assert fragment in result.stderr, fragment
    assert "a" * 36 not in result.stderr
    assert not (tmp_path / "auth.sqlite3").exists()
