"""A client that stops reading must not delay anyone else; it gets a snapshot when it wakes."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from tests.e2e.conftest import JsonClient, check_stream, write_catalog

BIDS = 3_000


async def test_a_client_that_stops_reading_does_not_hold_up_the_others(
    server_factory: Any, tmp_path: Any
) -> None:
    description = "x" * 4_000  # large snapshots fill a stalled socket quickly
    catalog = write_catalog(
        tmp_path,
        [
            {
                "id": "w",
                "title": "W",
                "description": description,
                "starting_price": 1,
                "increment": 0.01,
            }
        ],
    )
    server = server_factory(
        "--catalog",
        catalog,
        "--opening-seconds",
        "120",
        "--bid-rate",
        "1e6",
        "--bid-burst",
        "10000",
    )

    # The sleeper: a tiny receive buffer, says hello, then never reads.
    sleeper = socket.socket()
    sleeper.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sleeper.connect(("127.0.0.1", server.port))
    sleeper.sendall(b'{"type":"hello","name":"sleeper"}\n')

    watcher = await JsonClient.connect(server.port, "watcher")
    bidders = [await JsonClient.connect(server.port, f"b{i}") for i in range(2)]
    amount = 100
    for n in range(BIDS):
        amount += 1
        reply = await bidders[n % 2].request(
            {"type": "bid", "id": n, "lot": "w", "amount": amount}, timeout=10
        )
        assert reply["type"] == "bid_accepted", reply
    await watcher.wait_for(lambda m: m["type"] == "bid_placed" and m["amount"] == amount, 10)
    seqs = [m["seq"] for m in watcher.lot_events("w")]
    assert seqs == list(range(seqs[0], BIDS + 2)), "the watcher missed or reordered events"

    # The sleeper wakes up: it gets its backlog cut short, then a fresh snapshot.
    sleeper.setblocking(False)
    received = b""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while loop.time() < deadline:
        try:
            chunk = sleeper.recv(1 << 20)
            if not chunk:
                break
            received += chunk
            if f'"amount":{amount}'.encode() in received.split(b"\n")[-2]:
                break
        except BlockingIOError:
            await asyncio.sleep(0.02)
    sleeper.close()
    messages = check_stream(received, "w")
    bids_seen = [m for m in messages if m["type"] == "bid_placed"]
    assert len(bids_seen) < BIDS, "the stalled client was sent its whole backlog"
    latest = messages[-1]
    assert latest["type"] in ("snapshot", "bid_placed")
    assert latest.get("high_bid", latest).get("amount") == amount
    assert any(m["type"] == "snapshot" and m["seq"] > 1 for m in messages), "no conflation"
    for client in [watcher, *bidders]:
        await client.close()
