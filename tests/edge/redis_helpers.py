"""The real Redis the shared-budget tests use.

``AUTH_TEST_REDIS_URL`` (default: the local server, database 0). Each test writes
under a key prefix of its own and deletes it afterwards, so parallel runs and other
users of the database are unaffected. When Redis is unreachable the tests that need
it are skipped, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import os

import pytest
import redis

REDIS_URL = os.environ.get("AUTH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_redis() -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required under CI=true but unreachable: {exc}")
        pytest.skip(f"Redis unreachable ({type(exc).__name__}); set AUTH_TEST_REDIS_URL")
    finally:
        client.close()


def delete_prefix(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        names = list(client.scan_iter(f"{prefix}:*"))
        if names:
            client.delete(*names)
    finally:
        client.close()
