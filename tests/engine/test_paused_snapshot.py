"""A paused lot's picture carries the time left on its stopped clock (issue 12, defect 2): a page
opened while the sale is paused shows that time, not a deadline that no longer counts."""

from __future__ import annotations

import msgspec

from bidwire.domain.commands import Actor, PlaceBid
from bidwire.engine.queries import Queries
from tests.engine.test_house import make_house, settle

ANN = Actor("ann")


async def test_a_paused_snapshot_says_how_much_time_is_left() -> None:
    house, rec, clock, _store = await make_house()
    queries = Queries(house)
    clock.advance(1_000)
    await house.place_bid(PlaceBid(ANN, "a", 100))
    clock.advance(4_000)  # 6 s left of the 10 s window
    await settle(house, rec.feed)
    running = await queries.snapshot("a")
    assert (running.state, running.remaining_ms, running.extend_ms) == ("open", None, 10_000)

    await house.pause_sale("s", by="root")
    await settle(house, rec.feed)
    clock.advance(60_000)  # a long pause: the time left does not run down
    paused = await queries.snapshot("a")
    assert (paused.state, paused.remaining_ms) == ("paused", 6_000)
    told = next(m for m in rec.messages if m["type"] == "lot_paused")
    assert told["remaining_ms"] == paused.remaining_ms
    wire = msgspec.json.decode(msgspec.json.encode(paused))
    assert wire["type"] == "snapshot" and wire["remaining_ms"] == 6_000
    listed = (await queries.sales()).sales[0].lots[0]
    assert (listed.state, listed.remaining_ms, listed.extend_ms) == ("paused", 6_000, 10_000)
    scheduled = (await queries.sales()).sales[0].lots[1]
    assert (scheduled.state, scheduled.remaining_ms) == ("scheduled", None)

    await house.resume_sale("s", by="root")
    await settle(house, rec.feed)
    resumed = await queries.snapshot("a")
    assert (resumed.state, resumed.remaining_ms) == ("open", None)
    assert resumed.ends_at == clock.now_ms() + 10_000
