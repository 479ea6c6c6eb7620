"""`bidwire serve --bus redis://...` as a real process: it serves on the Redis bus (its own
bids come back to its watchers, the shared limits on the same Redis under a prefix of the test's
own, removed after), and a Redis that does not answer is refused at start in words."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.bus.redis_helpers import delete_keys, free_port, fresh_channel, require_redis
from tests.e2e.conftest import JsonClient, ServerProcess, write_catalog

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A key prefix for the server's shared limits, and the removal of what it made."""
    url = require_redis()
    mine = f"bidwire-test-{secrets.token_hex(6)}:"
    yield mine
    await delete_keys(url, f"{mine}*")


async def test_a_node_on_a_redis_bus_serves_and_is_ready(tmp_path: Path, prefix: str) -> None:
    catalog = write_catalog(tmp_path, [{"id": "w", "title": "Watch", "starting_price": 100}])
    bus = f"{require_redis()}?channel={fresh_channel()}&prefix={prefix}"
    server = ServerProcess(tmp_path, "--catalog", catalog, "--bus", bus).start()
    try:
        ann = await JsonClient.connect(server.port, "ann")
        bob = await JsonClient.connect(server.port, "bob")
        placed = await ann.request({"type": "bid", "id": 1, "lot": "w", "amount": 10_000})
        assert placed["type"] == "bid_accepted"
        heard = await bob.wait_for(lambda m: m.get("type") == "bid_placed")
        assert heard["amount"] == 10_000 and heard["seq"] == placed["seq"]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}") as http:
            ready = await http.get("/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        await ann.close()
        await bob.close()
        printed = server.terminate()
    finally:
        server.kill()
    assert "Traceback" not in printed and "bidwire stopped" in printed


def test_a_redis_that_does_not_answer_is_refused_at_start_in_words(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIDWIRE_")}
    url = f"redis://127.0.0.1:{free_port()}/0?connect_seconds=0.5"
    ports = ["--tcp-port", "0", "--http-port", "0"]
    done = subprocess.run(
        [sys.executable, "-m", "bidwire", "serve", *ports, "--store", "memory://", "--bus", url],
        env=env,
        capture_output=True,
        timeout=60,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert b"Traceback" not in done.stderr + done.stdout
    assert "did not answer within 0.5s" in (done.stderr + done.stdout).decode()
