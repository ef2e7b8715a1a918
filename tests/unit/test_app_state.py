"""``app.state``: one typed state, and no request served without it."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.db.url import resolve_database_target
from app.main import create_app
from app.state import StateMissing, app_state
from tests.conftest import make_settings


def _app_without_lifespan(tmp_path: Path) -> FastAPI:
    target = resolve_database_target(f"sqlite:///{tmp_path / 'never-opened.sqlite3'}")
    return create_app(make_settings(target, tmp_path))


def test_app_state_refuses_an_app_whose_lifespan_never_ran(tmp_path: Path) -> None:
    with pytest.raises(StateMissing, match="lifespan"):
        app_state(_app_without_lifespan(tmp_path))


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/roles", {"Authorization": "Bearer 3f0e9f36-2a2b-4f6e-9d55-0c6f3a3c7a11"}),
        ("/api/roles", {}),
    ],
)
async def test_a_request_without_state_fails_closed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, path: str, headers: dict[str, str]
) -> None:
    """Without the lifespan nothing is invented: the answer is a 500, never a
    decision, a 401 or an unlimited pass."""
    app = _app_without_lifespan(tmp_path)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    caplog.set_level(logging.ERROR, logger="app.errors")
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get(path, headers=headers)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert [r.__dict__["error_type"] for r in caplog.records] == ["StateMissing"]
