"""`bidwire serve`: the five sample items, settings from the environment, a clean stop."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.conftest import LISTENING, JsonClient, TextClient

SAMPLES = [
    ("Vintage Watch", "100.00"),
    ("Antique Vase", "50.00"),
    ("Classic Car", "5,000.00"),
    ("Gaming Laptop", "1,500.00"),
    ("Smartphone", "700.00"),
]


async def test_the_demo_serves_the_five_sample_items(server_factory: Any) -> None:
    server = server_factory("--demo")
    person = await TextClient.connect(server.port)
    await person.expect(r"Welcome to bidwire")
    await person.expect(r"On the block: Vintage Watch")
    await person.say(b"lots\n")
    for title, price in SAMPLES[1:]:
        line = await person.expect(re_title(title))
        assert f"starting at {price} USD" in line


def re_title(title: str) -> str:
    return rf"Coming up: {title} "


async def test_environment_mirrors_the_flags(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIDWIRE_")}
    env.update(
        BIDWIRE_TCP_PORT="0",
        BIDWIRE_HTTP_PORT="0",
        BIDWIRE_DEMO="1",
        BIDWIRE_DATA_DIR=str(tmp_path / "data"),
        BIDWIRE_OPENING_SECONDS="45",
        PYTHONUNBUFFERED="1",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bidwire", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 15)
        match = LISTENING.search(line)
        assert match, line
        assert (tmp_path / "data" / "bidwire.db").exists()
        client = await JsonClient.connect(int(match.group(1)), "env")
        snapshot = await client.wait_for(lambda m: m["type"] in ("snapshot", "lot_opened"))
        assert 44_000 <= snapshot["ends_at"] - snapshot["ts"] <= 45_000
        await client.close()
    finally:
        proc.kill()
        proc.communicate(timeout=10)


def test_bad_settings_are_refused_clearly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIDWIRE_")}
    env["BIDWIRE_EXTEND_SECONDS"] = "soon"
    done = subprocess.run(
        [sys.executable, "-m", "bidwire", "serve", "--tcp-port", "0"],
        env=env,
        capture_output=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert done.returncode != 0
    assert b"BIDWIRE_EXTEND_SECONDS" in done.stderr
    assert b"Traceback" not in done.stderr


async def test_sigterm_finishes_bids_in_flight_and_tells_clients(server_factory: Any) -> None:
    server = server_factory("--demo")
    clients = [await JsonClient.connect(server.port, f"c{i}") for i in range(2)]
    snapshot = await clients[0].wait_for(lambda m: m["type"] in ("snapshot", "lot_opened"))
    lot = snapshot["lot"]
    acks = []
    amount = snapshot["min_amount"]
    for n in range(20):
        acks.append(clients[n % 2].send({"type": "bid", "id": n, "lot": lot, "amount": amount}))
        amount += 10_000
    await asyncio.gather(*acks)
    output = await asyncio.to_thread(server.terminate)
    assert "bidwire stopped" in output and "Traceback" not in output
    for client in clients:
        goodbye = await client.wait_for(lambda m: m["type"] == "server_closing")
        assert "shutting down" in goodbye["message"]
    accepted = [m for c in clients for m in c.messages if m["type"] == "bid_accepted"]
    restarted = server_factory("--demo", store=server.store)
    watcher = await JsonClient.connect(restarted.port, "w")
    after = await watcher.wait_for(lambda m: m["type"] == "snapshot" and m["lot"] == lot)
    assert after["high_bid"]["amount"] == max(m["amount"] for m in accepted)
    await watcher.close()


async def test_the_demo_comes_back_once_its_sale_is_over(server_factory: Any) -> None:
    """The next run of the five items follows by itself, a pause after the end (issue 12)."""
    fast = ("--demo", "--opening-seconds", "0.2", "--lot-gap-seconds", "0")
    server = server_factory(*fast, "--demo-pause-seconds", "1")
    watcher = await JsonClient.connect(server.port, "w")
    await watcher.wait_for(lambda m: m["type"] == "sale_ended", timeout=15)
    await watcher.close()
    person = await TextClient.connect(server.port)  # a newcomer during the pause
    await person.expect(r"On the block: Vintage Watch \(lot vintage-watch-2\)")
