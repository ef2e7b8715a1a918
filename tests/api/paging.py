"""Walking paged listings by their ``Link: <...>; rel="next"`` headers."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from app.models import Role
from app.state import AppState

NEXT_LINK = re.compile(r'^<(/[^>]*)>; rel="next"$')

Extract = Callable[[dict[str, Any]], list[Any]]


def bare_items(body: dict[str, Any]) -> list[Any]:
    items: list[Any] = body["result"]
    return items


def data_items(body: dict[str, Any]) -> list[Any]:
    items: list[Any] = body["data"]
    return items


def data_member(member: str) -> Extract:
    def extract(body: dict[str, Any]) -> list[Any]:
        items: list[Any] = body["data"][member]
        return items

    return extract


@dataclass(frozen=True)
class Answer:
    items: list[Any]
    next_link: str | None
    cursor: str | None
    body: dict[str, Any]


def read_page(response: httpx.Response, extract: Extract) -> Answer:
    """One 200 listing answer; its next link must carry a ``cursor`` parameter."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    link = response.headers.get("link")
    cursor = None
    if link is not None:
        match = NEXT_LINK.match(link)
        assert match, link
        link = match.group(1)
        cursors = parse_qs(urlsplit(link).query)["cursor"]
        assert len(cursors) == 1
        cursor = cursors[0]
    return Answer(extract(body), link, cursor, body)


async def walk(
    api: httpx.AsyncClient,
    path: str,
    extract: Extract,
    *,
    limit: int | None = None,
    max_pages: int = 10_000,
    **params: Any,
) -> list[Answer]:
    """Every page of a listing, following each answer's next link to the end."""
    query = dict(params)
    if limit is not None:
        query["limit"] = limit
    answer = read_page(await api.get(path, params=query or None), extract)
    pages = [answer]
    while answer.next_link is not None:
        assert len(pages) < max_pages, "the listing never ends"
        answer = read_page(await api.get(answer.next_link), extract)
        pages.append(answer)
    return pages


def flatten(pages: list[Answer]) -> list[Any]:
    return [item for page in pages for item in page.items]


def state(app: Any) -> AppState:
    value: AppState = app.state.auth
    return value


async def seed_roles(app: Any, tenant_id: int, names: list[str], description: str) -> None:
    """Insert roles straight into the database (sealed like the service seals them)."""
    cipher = state(app).cipher
    async with state(app).database.transaction() as session:
        session.add_all(
            Role(tenant_id=tenant_id, name=name, description=cipher.seal_description(description))
            for name in names
        )
