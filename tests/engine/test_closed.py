"""Closed lots kept in the store (engine/closed.py): what the house knows of one, and every
read and decision that needs more asking the store, after a restart as at runtime."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from bidwire.clock import FakeClock
from bidwire.domain.commands import Accepted, Actor, PlaceBid
from bidwire.domain.lot import LotSpec, Refusal
from bidwire.domain.sale import SaleSpec
from bidwire.engine.house import AuctionHouse
from bidwire.engine.queries import Queries
from bidwire.errors import BadRequest, StoreUnavailable, UnknownLot
from bidwire.store.base import CatalogLot
from bidwire.store.memory import MemoryStore
from tests.engine.test_house import lot_now, make_house

pytestmark = pytest.mark.timeout(20)


async def closed_then_restarted() -> tuple[AuctionHouse, FakeClock, MemoryStore]:
    """Lot "a" sold to bob and closed, "b" opening 2 s later (the live sale's gap); then a
    restart in the gap, so the new house never held "a"."""
    house, _rec, clock, store = await make_house()
    for who, amount in (("ann", 100), ("bob", 150)):
        assert isinstance(await house.place_bid(PlaceBid(Actor(who), "a", amount)), Accepted)
    clock.advance(10_000)
    house.run_due()
    await house.stop()
    assert "a" in house.closed and "a" not in house.lots
    clock.advance(500)  # 1.5 s of the gap left
    again, _rec, _clock, _store = await make_house(store, clock, add=False)
    return again, clock, store


async def test_a_restart_keeps_a_closed_lot_in_the_store_and_its_sale_s_gap_from_it() -> None:
    house, clock, _store = await closed_then_restarted()
    assert set(house.closed) == {"a"} and set(house.lots) == {"b"}
    assert house.closed.cached("a") is None  # nothing read yet
    assert house.lots["b"].status == "scheduled"
    clock.advance(1_499)  # the next lot counts its gap from when "a" closed, not the start
    house.run_due()
    await house.settled()
    assert house.lots["b"].status == "scheduled"
    clock.advance(1)
    house.run_due()
    await house.settled()
    opened = house.lots["b"]  # a fresh name: mypy keeps "scheduled" narrowed above
    assert opened.status == "open"


async def test_a_bid_on_a_closed_lot_gets_its_own_refusal_read_from_the_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    house, _clock, store = await closed_then_restarted()
    refused = await house.place_bid(PlaceBid(Actor("cy"), "a", 500))
    assert refused == Refusal("lot_not_open", "A is closed")
    assert house.closed.cached("a") is not None  # read once; the next refusal is at once
    unknown = await house.place_bid(PlaceBid(Actor("cy"), "zz", 500))
    assert isinstance(unknown, Refusal) and unknown.code == "unknown_lot"
    house.closed._lru.clear()

    async def unreadable(lot_ids: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(store, "catalog_lots", unreadable)
    refused = await house.place_bid(PlaceBid(Actor("cy"), "a", 500))
    assert refused == Refusal("lot_not_open", "lot 'a' is closed")  # closed all the same


async def test_reads_of_a_closed_lot_ask_the_store_and_say_so_when_it_cannot_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    house, _clock, store = await closed_then_restarted()
    queries = Queries(house)
    snapshot = await queries.snapshot("a")
    assert (snapshot.state, snapshot.outcome, [b.amount for b in snapshot.bids]) == (
        "closed",
        "sold",
        [150, 100],
    )
    assert [s.lot for s in (await queries.lots()).lots] == ["a", "b"]
    house.closed._lru.clear()

    async def unreadable(lot_ids: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(store, "catalog_lots", unreadable)
    with pytest.raises(StoreUnavailable):
        await queries.snapshot("a")
    # the listing kept its entries of the closed lots: it answers from them...
    assert [lot.lot for lot in (await queries.sales()).sales[0].lots] == ["a", "b"]

    async def unlisted(lot_ids: object, version: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(store, "listing_entries", unlisted)
    with pytest.raises(StoreUnavailable):  # ... until the store cannot give those either
        await queries.sales()
    with pytest.raises(UnknownLot):
        await queries.snapshot("zz")  # no store read for a lot that never was


async def test_admin_changes_to_a_closed_lot_are_refused_as_before() -> None:
    house, _clock, _store = await closed_then_restarted()
    with pytest.raises(BadRequest, match="already closed"):
        await house.withdraw_lot("a", "root")
    with pytest.raises(BadRequest, match="opened"):
        await house.update_lot("a", LotSpec(id="a", title="A again"), "root")
    with pytest.raises(UnknownLot):
        await house.withdraw_lot("zz", "root")
    await house.cancel_sale("s", "root")  # withdraws "b"; "a" has nothing left to withdraw
    await house.settled()
    assert set(house.closed) == {"a", "b"} and not house.lots
    assert (await lot_now(house, "b")).outcome == "unsold"


async def test_only_the_last_few_closed_lots_read_are_kept_whole() -> None:
    house, rec, clock, store = await make_house(add=False)
    house.closed.kept = 2
    ids = tuple(f"l{n}" for n in range(5))
    lots = [LotSpec(id=i, title=i.upper()) for i in ids]
    await house.add_sale(SaleSpec("t", "Timed", ids, mode="timed"), lots)
    house.run_due()
    await house.settled()
    clock.advance(60_000)
    house.run_due()  # all five close at once
    await house.settled()
    assert not house.lots and set(house.closed) == set(ids)
    assert [i for i in ids if house.closed.cached(i) is not None] == ["l3", "l4"]
    reads: list[list[str]] = []
    catalog_lots = store.catalog_lots

    async def counted(lot_ids: Sequence[str]) -> list[CatalogLot]:
        reads.append(list(lot_ids))
        return await catalog_lots(lot_ids)

    store.catalog_lots = counted  # type: ignore[method-assign]
    assert (await lot_now(house, "l0")).status == "closed"  # read, and kept: "l3" goes
    assert (await lot_now(house, "l0")).status == "closed"
    assert reads == [["l0"]]
    assert [i for i in ids if house.closed.cached(i) is not None] == ["l0", "l4"]
    assert rec.types().count("lot_closed") == 5


async def test_snapshots_of_several_closed_lots_are_one_read_and_in_the_order_asked() -> None:
    house, _rec, clock, store = await make_house(add=False)
    ids = ("l0", "l1", "l2")
    lots = [LotSpec(id=i, title=i.upper()) for i in ids]
    await house.add_sale(SaleSpec("t", "Timed", ids, mode="timed"), lots)
    house.run_due()
    await house.settled()
    clock.advance(60_000)
    house.run_due()
    await house.settled()
    again, _rec, _clock, _store = await make_house(store, clock, add=False)
    reads: list[list[str]] = []
    catalog_lots = store.catalog_lots

    async def counted(lot_ids: Sequence[str]) -> list[CatalogLot]:
        reads.append(list(lot_ids))
        return await catalog_lots(lot_ids)

    store.catalog_lots = counted  # type: ignore[method-assign]
    queries = Queries(again)
    shown = await queries.snapshots(["l2", "l0", "l1"])
    assert [(s.lot, s.state) for s in shown] == [
        ("l2", "closed"),
        ("l0", "closed"),
        ("l1", "closed"),
    ]
    assert reads == [["l2", "l0", "l1"]]
    assert await queries.snapshots(["l1"]) == [await queries.snapshot("l1")]  # kept: no read
    assert len(reads) == 1
    with pytest.raises(UnknownLot):
        await queries.snapshots(["l0", "zz"])
