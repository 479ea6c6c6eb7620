"""The wire's snapshot and resync of a lot that closed at runtime, once neither the views nor
the house keep it (engine/closed.py: read from the store when asked)."""

from __future__ import annotations

import json

import pytest

from bidwire.domain.commands import Accepted, Actor, PlaceBid
from bidwire.domain.events import LotOpened
from bidwire.engine.views import snapshot_of
from tests.engine.test_house import lot_now, settle
from tests.transports.test_session_bids import answers, json_session, until

pytestmark = pytest.mark.timeout(20)


async def test_a_closed_lot_s_snapshot_and_resync_on_the_wire() -> None:
    session, outlet, store = await json_session()
    house = session.ctx.house
    for who, amount in (("bob", 100), ("cy", 150), ("bob", 200)):
        placed = await house.place_bid(PlaceBid(Actor(who), "a", amount))
        assert isinstance(placed, Accepted), placed
    house.clock.advance(3_600_000)  # type: ignore[attr-defined]
    house.run_due()
    await settle(house, session.ctx.feed)
    views = session.ctx.feed.published
    assert "a" not in views.lots and "a" not in house.lots and "a" in house.closed
    replayed = store.lots["a"].events
    seq = replayed[-1].seq
    outlet.sent.clear()
    session.on_message(b'{"type":"subscribe","id":"s","lots":["a"]}')
    await until(outlet, lambda: any(m["type"] == "snapshot" for m in outlet.sent))
    (snapshot,) = [m for m in outlet.sent if m["type"] == "snapshot"]
    assert (snapshot["state"], snapshot["seq"], snapshot["outcome"]) == ("closed", seq, "sold")
    assert [b["amount"] for b in snapshot["bids"]] == [200, 150, 100]
    expected = snapshot_of(await lot_now(house, "a"), snapshot["ts"])
    assert snapshot["high_bid"] == {"amount": 200, "bidder": expected.high_bid.bidder}  # type: ignore[union-attr]
    outlet.sent.clear()
    session.on_message(b'{"type":"resync","id":"r","lot":"a","since_seq":1}')
    session.on_message(json.dumps({"type": "resync", "lot": "a", "since_seq": seq}).encode())
    session.on_message(b'{"type":"ping","id":"p"}')
    await until(outlet, lambda: ("p", "pong") in answers(outlet))
    assert [m["type"] for m in outlet.sent] == ["snapshot", "pong"], outlet.sent
    assert [b["amount"] for b in outlet.sent[0]["bids"]] == [200, 150, 100]
    # a bus that delivers an old event again: dropped, and no gap is made of it
    opened = replayed[0]
    assert isinstance(opened, LotOpened)
    house.bus.publish(opened)
    await settle(house, session.ctx.feed)
    assert views.order.gaps() == {} and views.pending() == 0
