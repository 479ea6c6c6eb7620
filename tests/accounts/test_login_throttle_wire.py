"""The login throttle as a person meets it: a real server, many connections guessing at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.conftest import JsonClient, ServerProcess, write_catalog

GUESSES = 60


@pytest.mark.timeout(60)
async def test_sixty_guesses_at_once_over_the_wire_get_ten_answers(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path, [{"id": "w", "title": "Watch", "starting_price": 100}])
    server = ServerProcess(tmp_path, "--catalog", catalog).start()
    clients: list[JsonClient] = []
    try:
        owner = await JsonClient.connect(server.port)
        clients.append(owner)
        made = await owner.request(
            {"type": "register", "id": "r", "username": "laura", "password": "the right one"}
        )
        assert made["type"] == "welcome", made
        clients += await asyncio.gather(*(JsonClient.connect(server.port) for _ in range(GUESSES)))
        guess = {"type": "login", "id": "g", "username": "laura", "password": "a wrong guess"}
        replies = await asyncio.gather(*(c.request(guess, timeout=30) for c in clients[1:]))
        codes = Counter(reply["code"] for reply in replies)
        assert codes["not_authenticated"] <= 10, codes
        assert codes["rate_limited"] == GUESSES - codes["not_authenticated"], codes
        throttled = next(r for r in replies if r["code"] == "rate_limited")
        assert "too many failed logins" in throttled["message"]
    finally:
        for client in clients:
            await client.close()
        server.kill()
