"""200 TCP clients race buy-nows against bids on one lot of a real server process: one outcome."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import msgspec

from bidwire.domain.events import LotEvent
from bidwire.domain.lot import LotSpec
from bidwire.domain.privacy import public_event
from bidwire.domain.sale import SaleSpec
from bidwire.store import open_store
from bidwire.store.base import EVENT_DECODER
from bidwire.wire.batch import encode_event
from tests.e2e.conftest import JsonClient

CLIENTS = 200
BUY_NOW = 50_000


async def stored_events(url: str) -> list[LotEvent]:
    async with open_store(url) as store:
        return [EVENT_DECODER.decode(body) for body in await store.events_since("prize", 0, 1_000)]


REPLIES = ("snapshot", "bought", "bid_accepted", "bid_rejected", "notice")
"""Messages to one connection, not the lot's stream (a ``notice`` tells the winner)."""


def race_stream(client: JsonClient) -> list[dict[str, Any]]:
    """The lot's events as this client heard them (its own replies and snapshots left out)."""
    return [m for m in client.messages if m.get("lot") == "prize" and m["type"] not in REPLIES]


async def test_buy_nows_race_bids_with_one_outcome(server_factory: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    async with open_store(url) as store:  # the catalog has no buy-now column here: the store
        await store.add_sale(
            SaleSpec("race", "Race", ("prize",)),
            [LotSpec(id="prize", title="Prize", buy_now=BUY_NOW, extend_ms=2_000)],
        )
    server = server_factory(store=url)
    clients = await asyncio.gather(
        *(JsonClient.connect(server.port, f"racer{i}") for i in range(CLIENTS))
    )
    for client in clients:  # each saw the lot open, with its buy-now still offered
        snapshot = await client.wait_for(lambda m: m["type"] == "snapshot")
        assert (snapshot["lot"], snapshot["state"], snapshot["buy_now"]) == (
            "prize",
            "open",
            BUY_NOW,
        )
        assert snapshot["high_bid"] is None
    rng = random.Random(11)
    buyers = set(rng.sample(range(CLIENTS), CLIENTS // 2))

    def request(i: int) -> dict[str, Any]:
        if i in buyers:
            return {"type": "buy_now", "id": f"b{i}", "lot": "prize"}
        return {"type": "bid", "id": f"r{i}", "lot": "prize", "amount": 100 + rng.randrange(50)}

    requests = [request(i) for i in range(CLIENTS)]
    replies = await asyncio.wait_for(
        asyncio.gather(*(c.request(r) for c, r in zip(clients, requests, strict=True))), 30
    )
    by_kind: dict[str, list[dict[str, Any]]] = {
        "bought": [],
        "bid_accepted": [],
        "bid_rejected": [],
    }
    for reply in replies:
        by_kind[reply["type"]].append(reply)
    bought, accepted = by_kind["bought"], by_kind["bid_accepted"]
    closes = await asyncio.wait_for(
        asyncio.gather(*(c.wait_for(lambda m: m["type"] == "lot_closed", 20) for c in clients)), 30
    )
    close = closes[0]
    if bought:  # a buy-now came first: it alone stands; no bid was taken
        assert len(bought) == 1 and not accepted, (bought, accepted)
        assert close["reason"] == "buy_now" and close["amount"] == BUY_NOW
        assert close["seq"] == bought[0]["seq"] == 2
        assert close["winner"] == f"racer{int(bought[0]['id'][1:])}"
        refused_codes = {"lot_not_open", "not_offered"}
    else:  # a bid came first: every buy-now was refused as no longer offered
        assert accepted and close["reason"] == "hammer"
        refused_codes = {"not_offered", "too_low", "already_leading"}
    for reply, req in zip(replies, requests, strict=True):
        if reply["type"] == "bid_rejected":
            assert reply["code"] in refused_codes, reply
            if req["type"] == "buy_now" and not bought:
                assert reply["code"] == "not_offered", reply
    # one stream for everybody, and it is what the store keeps (still after a restart)
    reference = race_stream(clients[0])
    assert [m["seq"] for m in reference] == list(range(2, len(reference) + 2))
    for client in clients:
        assert race_stream(client) == reference
    placed = {m["seq"]: m for m in reference if m["type"] == "bid_placed"}
    for ack in accepted:
        assert placed[ack["seq"]]["amount"] == ack["amount"]
    assert len(placed) == len(accepted)
    for client in clients:
        await client.close()
    server.terminate()
    stored = await stored_events(url)
    assert [
        msgspec.json.decode(encode_event(public_event(e, None))) for e in stored[1:]
    ] == reference
    again = server_factory(store=url)
    viewer = await JsonClient.connect(again.port, "viewer")
    await viewer.send({"type": "subscribe", "id": "s", "lots": ["prize"]})
    snapshot = await viewer.wait_for(lambda m: m["type"] == "snapshot")
    assert (snapshot["state"], snapshot["seq"], snapshot["outcome"]) == (
        "closed",
        close["seq"],
        "sold",
    )
    assert snapshot["buy_now"] is None
    assert snapshot["high_bid"] == {"amount": close["amount"], "bidder": close["winner"]}
    assert snapshot["bid_count"] == len(placed)
    await viewer.close()
