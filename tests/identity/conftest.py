"""The identity suite's clients watch every answer for leaked secrets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from tests.identity.helpers import SecretWatch, watched_client


@pytest.fixture
def watch() -> Iterator[SecretWatch]:
    """The test's secret watch; a test that asked for it must have been answered."""
    watcher = SecretWatch()
    yield watcher
    assert watcher.answers > 0


@pytest.fixture
async def client(app: FastAPI, watch: SecretWatch) -> AsyncIterator[httpx.AsyncClient]:
    """An anonymous, watched client."""
    async with watched_client(app, watch) as http:
        yield http


@pytest.fixture
async def api(
    app: FastAPI, client_key: str, watch: SecretWatch
) -> AsyncIterator[httpx.AsyncClient]:
    """A watched client authenticated as the test's own tenant."""
    async with watched_client(app, watch, client_key) as http:
        yield http
