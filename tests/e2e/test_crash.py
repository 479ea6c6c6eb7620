"""kill -9 during a bid storm, then restart on the same store."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

from tests.e2e.conftest import JsonClient, write_catalog

BIDDERS = 30


async def test_kill_during_a_bid_storm_loses_no_acknowledged_bid(
    server_factory: Any, tmp_path: Any
) -> None:
    catalog = write_catalog(
        tmp_path, [{"id": "storm", "title": "Storm", "starting_price": 1, "increment": 0.01}]
    )
    args = ("--catalog", catalog, "--opening-seconds", "60", "--extend-seconds", "3")
    server = server_factory(*args)
    clients = await asyncio.gather(
        *(JsonClient.connect(server.port, f"b{i}") for i in range(BIDDERS))
    )
    acks: list[dict[str, Any]] = []
    stop = asyncio.Event()

    async def storm(client: JsonClient, index: int) -> None:
        n = 0
        while not stop.is_set() and n < 2_000:
            n += 1
            events = [m for m in client.lot_events("storm") if "min_amount" in m]
            least = events[-1]["min_amount"] if events else 100
            try:
                reply = await client.request(
                    {"type": "bid", "id": f"{index}-{n}", "lot": "storm", "amount": least + index},
                    timeout=5,
                )
            except (ConnectionError, TimeoutError, OSError):
                return
            if reply["type"] == "bid_accepted":
                acks.append(reply)

    tasks = [asyncio.ensure_future(storm(c, i)) for i, c in enumerate(clients)]
    await asyncio.sleep(1.5)
    server.kill()  # SIGKILL, mid-storm
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 20)
    assert len(acks) >= 20, "the storm was too small to prove anything"

    db = sqlite3.connect(str(tmp_path / "bidwire.db"))
    stored = {
        seq: json.loads(body)
        for seq, body in db.execute("SELECT seq, body FROM events WHERE lot_id = 'storm'")
    }
    db.close()
    for ack in acks:
        assert stored.get(ack["seq"], {}).get("amount") == ack["amount"], ack
    assert not any(e["type"] == "lot_closed" for e in stored.values())
    last_bid = max(e["ts"] for e in stored.values() if e["type"] == "bid_placed")

    restarted = server_factory(*args)
    watcher = await JsonClient.connect(restarted.port, "watcher")
    snapshot = await watcher.wait_for(lambda m: m["type"] == "snapshot")
    assert snapshot["seq"] == max(stored) + 1  # the restart extension follows the log
    assert snapshot["state"] == "open"
    mark = len(watcher.messages)
    await watcher.send({"type": "resync", "lot": "storm", "since_seq": 0})
    caught_up = await watcher.wait_for(lambda m: m["type"] == "snapshot", start=mark)
    assert caught_up["seq"] >= snapshot["seq"]
    closed = await watcher.wait_for(lambda m: m["type"] == "lot_closed", timeout=15)
    assert closed["ts"] >= last_bid + 3_000, "closed early"
    await asyncio.sleep(0.5)
    db = sqlite3.connect(str(tmp_path / "bidwire.db"))
    closes = db.execute(
        "SELECT COUNT(*) FROM events WHERE lot_id = 'storm' AND type = 'lot_closed'"
    ).fetchone()[0]
    extension = db.execute(
        "SELECT body FROM events WHERE lot_id = 'storm' AND type = 'lot_extended'"
    ).fetchone()
    db.close()
    assert closes == 1
    assert json.loads(extension[0])["reason"] == "restart"
    for client in [*clients, watcher]:
        await client.close()
