"""Admin operations on the engine: each is an event or a sale mark, audited with who did it."""

from __future__ import annotations

import pytest

from bidwire.domain.commands import Accepted, Actor, PlaceBid
from bidwire.domain.lot import LotSpec, Refusal
from bidwire.domain.sale import SaleSpec
from bidwire.engine.queries import Queries
from bidwire.errors import BadRequest, UnknownLot, UnknownSale
from tests.engine.test_house import lot_now, make_house, settle

ANN, BOB = Actor("ann"), Actor("bob")


def held_sale() -> tuple[SaleSpec, list[LotSpec]]:
    lots = [LotSpec(id="p", title="P"), LotSpec(id="q", title="Q")]
    return SaleSpec("h", "Held", ("p", "q"), held=True, gap_ms=1_000), lots


async def test_an_admin_sale_waits_for_its_start() -> None:
    house, rec, clock, store = await make_house()
    sale, lots = held_sale()
    await house.create_sale(sale, lots, by="root")
    await settle(house, rec.feed)
    assert house.lots["p"].status == "scheduled"
    await house.start_sale("h", by="root", at_ms=clock.now_ms() + 5_000)
    await settle(house, rec.feed)
    assert house.lots["p"].status == "scheduled"
    clock.advance(5_000)
    house.run_due()
    await settle(house, rec.feed)
    lot = house.lots["p"]  # a fresh name: mypy would keep the "scheduled" narrowed above
    assert lot.status == "open"
    actions = [entry[2] for entry in await store.audit_log(10)]
    assert actions == ["schedule-sale", "create-sale"]


async def test_pause_keeps_the_time_left_and_refuses_bids() -> None:
    house, rec, clock, _store = await make_house()
    clock.advance(1_000)
    await house.place_bid(PlaceBid(ANN, "a", 100))
    clock.advance(4_000)  # 6 s left of the 10 s window
    await house.pause_sale("s", by="root")
    refused = await house.place_bid(PlaceBid(BOB, "a", 500))
    assert isinstance(refused, Refusal) and "paused" in refused.message
    clock.advance(60_000)
    house.run_due()
    await settle(house, rec.feed)
    assert house.lots["a"].status == "paused"  # the deadline did not run out while paused
    await house.resume_sale("s", by="root")
    assert house.lots["a"].ends_at == clock.now_ms() + 10_000  # at least a full window
    assert isinstance(await house.place_bid(PlaceBid(BOB, "a", 500)), Accepted)
    await settle(house, rec.feed)
    kinds = [m["type"] for m in rec.messages]
    assert "lot_paused" in kinds and "sale_paused" in kinds and "lot_resumed" in kinds
    with pytest.raises(BadRequest):
        await house.resume_sale("s", by="root")


async def test_withdraw_closes_unsold_and_the_sale_moves_on() -> None:
    house, rec, clock, _store = await make_house()
    await house.place_bid(PlaceBid(ANN, "a", 100))
    await house.withdraw_lot("a", by="root")
    await settle(house, rec.feed)
    closed = next(m for m in rec.messages if m["type"] == "lot_closed")
    assert (closed["outcome"], closed["reason"], closed["by"]) == ("unsold", "withdrawn", "root")
    clock.advance(2_000)
    house.run_due()
    await settle(house, rec.feed)
    assert house.lots["b"].status == "open"
    with pytest.raises(BadRequest):
        await house.withdraw_lot("a", by="root")
    with pytest.raises(UnknownLot):
        await house.withdraw_lot("zz", by="root")


async def test_a_closed_lots_snapshot_says_why_it_closed_after_a_restart() -> None:
    """A page opened later reads the reason from the snapshot, not a guess: a lot withdrawn
    with no bid is "withdrawn", never "no bids"."""
    house, rec, _clock, store = await make_house()
    await house.withdraw_lot("a", by="root")
    await settle(house, rec.feed)
    again, _rec, _clock2, _store = await make_house(store, add=False)
    snapshot = await Queries(again).snapshot("a")
    assert (snapshot.state, snapshot.outcome, snapshot.reason) == ("closed", "unsold", "withdrawn")
    assert snapshot.high_bid is None


async def test_cancel_withdraws_everything_left_and_ends_the_sale() -> None:
    house, rec, clock, _store = await make_house()
    await house.cancel_sale("s", by="root")
    await settle(house, rec.feed)
    assert [(await lot_now(house, i)).status for i in ("a", "b")] == ["closed", "closed"]
    ended = [m for m in rec.messages if m["type"] == "sale_ended"]
    assert len(ended) == 1 and ended[0]["reason"] == "cancelled"
    clock.advance(60_000)
    house.run_due()
    await settle(house, rec.feed)
    assert len([m for m in rec.messages if m["type"] == "sale_ended"]) == 1
    with pytest.raises(UnknownSale):
        await house.cancel_sale("nope", by="root")


async def test_only_unopened_lots_can_be_edited() -> None:
    house, _rec, _clock, store = await make_house()
    await house.update_lot("b", LotSpec(id="b", title="B, cleaned", starting_price=900), by="r")
    assert house.lots["b"].spec.title == "B, cleaned"
    assert store.lots["b"].spec.starting_price == 900
    with pytest.raises(BadRequest, match="opened"):
        await house.update_lot("a", LotSpec(id="a", title="A2"), by="r")
