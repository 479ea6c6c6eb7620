"""After a restart the house holds no closed lot (engine/closed.py): a closed lot's snapshot
over TCP and the WebSocket (subscribe, resync) and over HTTP is read from the store, and says
what replaying its log says, with pseudonyms for the public."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from tests.engine.test_house import house_and_feed
from web_helpers import Client, TcpJson, WsJson, hello, recv_until, running_server

from bidwire.clock import FakeClock
from bidwire.domain.commands import Accepted, Actor, PlaceBid
from bidwire.domain.lot import Lot, LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.engine.views import lot_state_of, snapshot_of
from bidwire.store.base import EVENT_DECODER
from bidwire.store.sqlite import SqliteStore

pytestmark = pytest.mark.timeout(60)

HOUR_MS = 3_600_000
CLOSED = ("q", "r")  # "q" sold after 25 bids (more than a snapshot shows), "r" unsold


async def build(path: Path) -> dict[str, Any]:
    """An anonymous timed sale closed an hour ago, and another sale's lot still open. Returns
    each closed lot as its whole log replays it, and the salt."""
    clock = FakeClock(int(time.time() * 1000) - HOUR_MS)
    async with SqliteStore(str(path)) as store:
        house, _feed = house_and_feed(store, clock)
        await house.load()
        quiet = SaleSpec("x", "Quiet sale", CLOSED, mode="timed", anonymous=True)
        specs = [LotSpec(id=i, title=i.upper(), opening_ms=60_000) for i in CLOSED]
        await house.add_sale(quiet, specs)
        await house.add_sale(
            SaleSpec("o", "Open sale", ("o1",), mode="timed"),
            [LotSpec(id="o1", title="O1", opening_ms=10 * HOUR_MS)],
        )
        house.start()
        await house.settled()
        for n in range(25):
            amount = house.lots["q"].min_amount()
            placed = await house.place_bid(PlaceBid(Actor(("bob", "ann")[n % 2]), "q", amount))
            assert isinstance(placed, Accepted), placed
        clock.advance(10 * 60_000)
        house.run_due()
        await house.settled()
        await house.stop()
        assert set(house.closed) == set(CLOSED) and house.sales["x"].status == "ended"
        replayed = {}
        for spec in specs:
            lot = Lot(spec, "x", "timed")
            for body in await store.events_since(spec.id, 0, 1_000):
                lot.apply(EVENT_DECODER.decode(body))
            replayed[spec.id] = lot
        salt = house.sales["x"].spec.pseudonym_salt
    assert replayed["q"].outcome == "sold" and replayed["r"].outcome == "unsold"
    return {"lots": replayed, "salt": salt}


def wire(struct: Any) -> dict[str, Any]:
    """As the wire sends it, but its moment."""
    shown: dict[str, Any] = msgspec.to_builtins(struct)
    shown.pop("ts", None)
    return shown


def untimed(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != "ts"}


async def subscribe_and_resync(client: Client, expected: dict[str, dict[str, Any]]) -> None:
    await hello(client, "carol")
    await client.send({"type": "subscribe", "id": "s", "lots": ["q", "o1", "r"]})
    subscribed, _ = await recv_until(client, "subscribed")
    assert subscribed["lots"] == ["o1", "q", "r"]
    await client.send({"type": "ping", "id": "p1"})
    _pong, after = await recv_until(client, "pong")
    assert [m["lot"] for m in after] == ["q", "o1", "r"]  # one snapshot each, in order asked
    assert [m["state"] for m in after] == ["closed", "open", "closed"]
    assert untimed(after[0]) == expected["q"] and untimed(after[2]) == expected["r"]
    seq = expected["q"]["seq"]
    for since in (1, seq, seq + 1):
        await client.send({"type": "resync", "id": f"r{since}", "lot": "q", "since_seq": since})
    await client.send({"type": "ping", "id": "p2"})
    _pong, after = await recv_until(client, "pong")
    assert [m["type"] for m in after] == ["snapshot", "error"]  # at its last seq: nothing
    assert untimed(after[0]) == expected["q"]
    assert (after[1]["id"], after[1]["code"]) == (f"r{seq + 1}", "bad_request")


async def test_a_closed_lot_after_a_restart_over_tcp_websocket_and_http(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    built = await build(path)
    lots, salt = built["lots"], built["salt"]
    expected = {i: wire(snapshot_of(lots[i], 0, salt)) for i in CLOSED}
    assert len(expected["q"]["bids"]) == 20 and "bob" not in str(expected["q"])
    async with running_server(store=f"sqlite:///{path}", demo=False) as ports:
        tcp = await TcpJson.connect(ports.tcp)
        ws = await WsJson.connect(ports.http)
        try:
            await subscribe_and_resync(tcp, expected)
            await subscribe_and_resync(ws, expected)
        finally:
            await tcp.close()
            await ws.close()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports.http}") as http:
            for lot_id in CLOSED:
                shown = (await http.get(f"/api/lots/{lot_id}")).json()
                assert untimed(shown) == expected[lot_id]
            sales = (await http.get("/api/sales")).json()["sales"]
            assert [(s["sale"], s["state"]) for s in sales] == [("x", "ended"), ("o", "running")]
            states = [wire(lot_state_of(lots[i], salt)) for i in CLOSED]
            assert sales[0]["lots"] == states
            listed = (await http.get("/api/lots")).json()["lots"]
            assert [s["lot"] for s in listed] == ["q", "r", "o1"] and listed[:2] == states
            assert (await http.get("/healthz")).json()["lots"] == 3
            bids = (await http.get("/api/lots/q/bids", params={"limit": 3})).json()["bids"]
            assert [b["amount"] for b in bids] == [b["amount"] for b in expected["q"]["bids"][:3]]
            missing = await http.get("/api/lots/zz")
            assert (missing.status_code, missing.json()["code"]) == (404, "unknown_lot")
