"""Online key rotation: ``auth-server encryption rotate`` beside a live server.

The data is encrypted under key A and a real server runs with
``AUTH_ENCRYPTION_KEY="B,A"``. While ``encryption rotate --batch-size 10`` (a real
process) rewrites every value under B in short transactions, a reader thread keeps
asking the server for decisions and listings: every answer must be exactly right,
with no error and no false denial. Afterwards key B alone opens every value.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import ServerProcess, free_port
from tests.protection.dataset import Answer, populate, with_extra_viewers
from tests.protection.helpers import KEY_A, KEY_B, PrivateDatabase, http_client, running
from tests.protection.test_reencryption import stored_under

pytestmark = pytest.mark.e2e

CLIENT_KEY = "7c1d9e2a-4b3f-4a6e-8d5c-1e2f3a4b5c6d"
EXTRA_VIEWERS = 240


@dataclass(frozen=True)
class Observation:
    at: float
    path: str
    status: int
    correct: bool


@dataclass
class Reader:
    """Asks the server the given questions in a loop until stopped."""

    url: str
    answers: list[Answer]
    seen: list[Observation] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=10.0) as http:
            index = 0
            while not self.stop.is_set():
                answer = self.answers[index % len(self.answers)]
                response = http.get(answer.path)
                self.seen.append(
                    Observation(
                        time.monotonic(),
                        answer.path,
                        response.status_code,
                        answer.matches(response),
                    )
                )
                index += 1


async def test_rotation_while_serving(private_database: PrivateDatabase, tmp_path: Path) -> None:
    database = private_database
    data = with_extra_viewers(EXTRA_VIEWERS)
    settings_a = database.settings(enable_encryption=True, encryption_key=KEY_A)
    async with running(settings_a) as app, http_client(app, CLIENT_KEY) as api:
        await populate(api, data)

    answers = data.answers()
    random.Random(7).shuffle(answers)
    both = {"AUTH_ENABLE_ENCRYPTION": "true", "AUTH_ENCRYPTION_KEY": f"{KEY_B},{KEY_A}"}
    env = database.env(AUTH_PORT=str(free_port()), AUTH_LOG_LEVEL="warning", **both)
    with ServerProcess(tmp_path, env) as server:
        reader = Reader(server.url, answers)
        thread = threading.Thread(target=reader.run, daemon=True)
        thread.start()
        started = time.monotonic()
        try:
            rotated = await asyncio.to_thread(
                database.cli, "encryption", "rotate", "--batch-size", "10", **both
            )
        finally:
            finished = time.monotonic()
            reader.stop.set()
            await asyncio.to_thread(thread.join, 30)
        assert rotated.returncode == 0, rotated.stderr
        total = sum(data.counts().values())
        assert rotated.stdout == f"{total} value(s) now encrypted under the newest key\n"

        during = [seen for seen in reader.seen if started <= seen.at <= finished]
        assert len(during) >= 20
        wrong = Counter((seen.path, seen.status) for seen in reader.seen if not seen.correct)
        assert wrong == Counter()

    settings_b = database.settings(enable_encryption=True, encryption_key=KEY_B)
    async with running(settings_b) as app:
        assert await stored_under(app, KEY_B) == Counter(data.counts())
