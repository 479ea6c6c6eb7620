"""200 TCP clients race on one lot against a real server process."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from tests.e2e.conftest import JsonClient, write_catalog

CLIENTS = 200
BIDS_EACH = 3


async def test_two_hundred_clients_race_on_one_lot(server_factory: Any, tmp_path: Any) -> None:
    catalog = write_catalog(
        tmp_path,
        [{"id": "prize", "title": "Prize", "starting_price": 1, "increment": 0.01}],
    )
    server = server_factory(
        "--catalog", catalog, "--opening-seconds", "30", "--extend-seconds", "2"
    )
    clients = await asyncio.gather(
        *(JsonClient.connect(server.port, f"racer{i}") for i in range(CLIENTS))
    )
    rng = random.Random(7)
    acks: list[dict[str, Any]] = []

    async def race(client: JsonClient, index: int) -> None:
        for n in range(BIDS_EACH):
            await asyncio.sleep(rng.random() * 0.3)
            seen = [m for m in client.lot_events("prize") if "min_amount" in m]
            least = seen[-1]["min_amount"] if seen else 100
            reply = await client.request(
                {
                    "type": "bid",
                    "id": f"{index}-{n}",
                    "lot": "prize",
                    "amount": least + rng.randrange(3),
                }
            )
            assert reply["type"] in ("bid_accepted", "bid_rejected"), reply
            if reply["type"] == "bid_accepted":
                acks.append(reply)
            else:
                assert reply["code"] in ("too_low", "already_leading"), reply

    await asyncio.wait_for(asyncio.gather(*(race(c, i) for i, c in enumerate(clients))), 60)
    await asyncio.wait_for(
        asyncio.gather(*(c.wait_for(lambda m: m["type"] == "lot_closed", 30) for c in clients)),
        40,
    )
    starts = []
    for client in clients:
        snapshot = next(m for m in client.messages if m["type"] == "snapshot")
        seqs = [m["seq"] for m in client.lot_events("prize")]
        assert seqs == list(range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(seqs))), "gap"
        starts.append(snapshot["seq"])
    common = max(starts)
    streams = [
        [
            (m["seq"], m["type"], m.get("amount", 0))
            for m in c.lot_events("prize")
            if m["seq"] > common
        ]
        for c in clients
    ]
    reference = streams[0]
    assert all(stream == reference for stream in streams), "clients saw different streams"
    placed = {seq: amount for seq, kind, amount in reference if kind == "bid_placed"}
    assert len(acks) >= 10
    for ack in acks:
        assert placed.get(ack["seq"]) == ack["amount"], ack
    amounts = [amount for _, kind, amount in reference if kind == "bid_placed"]
    assert amounts == sorted(amounts) and len(set(amounts)) == len(amounts)
    closes = [m for m in clients[0].lot_events("prize") if m["type"] == "lot_closed"]
    assert len(closes) == 1
    assert closes[0]["outcome"] == "sold" and closes[0]["amount"] == max(amounts)
    for client in clients:
        await client.close()
