"""The read layer (engine/queries.py): what HTTP, the CLI and tests read, from one place."""

from __future__ import annotations

import msgspec
import pytest

from bidwire.domain.commands import Accepted, Actor, PlaceBid
from bidwire.domain.lot import Lot, LotSpec
from bidwire.domain.privacy import pseudonym
from bidwire.domain.sale import SaleSpec
from bidwire.engine.queries import LISTING_VERSION, Queries
from bidwire.engine.views import lot_state_of, snapshot_of
from bidwire.errors import StoreUnavailable, UnknownLot
from bidwire.store.base import ListingEntry
from bidwire.store.memory import MemoryStore
from tests.engine.test_house import make_house, settle


async def anonymous_house() -> tuple[Queries, str]:
    house, rec, _clock, _store = await make_house(add=False)
    sale = SaleSpec("x", "Quiet sale", ("q",), anonymous=True)
    await house.create_sale(sale, [LotSpec(id="q", title="Q", starting_price=100)], by="root")
    await settle(house, rec.feed)
    for who, amount in (("ann", 100), ("bob", 200)):
        await house.place_bid(PlaceBid(Actor(who), "q", amount))
    await settle(house, rec.feed)
    return Queries(house), house.sales["x"].spec.pseudonym_salt


async def test_the_public_reads_pseudonyms_everywhere_and_admins_read_names() -> None:
    queries, salt = await anonymous_house()
    ann, bob = pseudonym(salt, "ann"), pseudonym(salt, "bob")
    page = await queries.bids("q", None, 10)
    assert [(b.amount, b.bidder) for b in page.bids] == [(200, bob), (100, ann)]
    every = await queries.bids("q", None, 10, admin=True)
    assert [b.bidder for b in every.bids] == ["bob", "ann"]
    high = (await queries.snapshot("q")).high_bid
    assert high is not None and (high.amount, high.bidder) == (200, bob)
    assert [b.bidder for b in (await queries.snapshot("q", admin=True)).bids] == ["bob", "ann"]
    (sale,) = (await queries.sales()).sales
    assert (sale.sale, sale.state) == ("x", "running")
    assert sale.lots[0].high_bid is not None and sale.lots[0].high_bid.bidder == bob
    (lot,) = [state for state in (await queries.lots()).lots if state.lot == "q"]
    assert lot.high_bid is not None and lot.high_bid.bidder == bob
    text = msgspec.json.encode(await queries.sales()) + msgspec.json.encode(await queries.lots())
    assert b'"ann"' not in text and b'"bob"' not in text


async def test_pages_go_back_by_seq() -> None:
    queries, _salt = await anonymous_house()
    first = await queries.bids("q", None, 1, admin=True)
    assert [b.bidder for b in first.bids] == ["bob"] and first.next_before_seq is not None
    older = await queries.bids("q", first.next_before_seq, 1, admin=True)
    assert [b.bidder for b in older.bids] == ["ann"] and older.next_before_seq is None


async def test_unknown_lots_and_unreadable_stores_are_errors_of_the_tree(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queries, _salt = await anonymous_house()
    with pytest.raises(UnknownLot):
        await queries.snapshot("nope")
    with pytest.raises(UnknownLot):
        await queries.bids("nope", None, 10)

    async def broken(*args: object) -> list[bytes]:
        raise OSError("disk gone")

    monkeypatch.setattr(queries.house.store, "bid_history", broken)
    with pytest.raises(StoreUnavailable):
        await queries.bids("q", None, 10)


async def test_a_closed_lot_is_read_from_the_store_and_every_read_answers_as_its_log_says() -> None:
    """Closed at runtime and after a start alike: neither the house nor the views keep it,
    and the snapshot, the lot lists, the sales and the history still show what replaying its
    log shows, with pseudonyms for the public."""
    house, rec, clock, store = await make_house(add=False)
    sale = SaleSpec("x", "Quiet sale", ("q", "r"), mode="timed", anonymous=True)
    specs = [LotSpec(id=i, title=i.upper(), starting_price=100) for i in ("q", "r")]
    await house.create_sale(sale, specs, by="root")
    await settle(house, rec.feed)
    for n in range(25):  # more than a snapshot shows
        amount = house.lots["q"].min_amount()
        placed = await house.place_bid(PlaceBid(Actor(("bob", "ann")[n % 2]), "q", amount))
        assert isinstance(placed, Accepted), placed
    clock.advance(3_600_000)
    house.run_due()  # both close; "q" sold, "r" unsold
    await settle(house, rec.feed)
    salt = house.sales["x"].spec.pseudonym_salt

    def replayed(lot_id: str) -> Lot:
        lot = Lot(specs[lot_id == "r"], "x", "timed")
        for event in store.lots[lot_id].events:
            lot.apply(event)
        return lot

    for started in (house, (await make_house(store, clock, add=False))[0]):
        queries = Queries(started)
        assert set(started.closed) == {"q", "r"}  # known by id, kept in the store
        assert not started.lots and not started.views.lots
        now = clock.now_ms()
        for lot_id in ("q", "r"):
            lot = replayed(lot_id)
            assert lot.status == "closed"
            assert await queries.snapshot(lot_id) == snapshot_of(lot, now, salt)
            assert await queries.snapshot(lot_id, admin=True) == snapshot_of(lot, now)
        public, admin = snapshot_of(replayed("q"), now, salt), snapshot_of(replayed("q"), now)
        assert len(public.bids) == 20 and public.bids[0].bidder == pseudonym(salt, "bob")
        assert admin.bids[0].bidder == "bob"
        states = [lot_state_of(replayed(i), salt) for i in ("q", "r")]
        assert (await queries.lots()).lots == states
        assert (await queries.sales()).sales[0].lots == states
        named = [lot_state_of(replayed(i)) for i in ("q", "r")]
        assert (await queries.lots(admin=True)).lots == named
        page = await queries.bids("q", None, 2)
        assert [b.bidder for b in page.bids] == [pseudonym(salt, "bob"), pseudonym(salt, "ann")]


async def closed_quiet_sale() -> tuple[Queries, MemoryStore, str]:
    """An anonymous timed sale, over: "q" won by ann with a maximum above her price, "r"
    unsold."""
    house, rec, clock, store = await make_house(add=False)
    sale = SaleSpec("x", "Quiet sale", ("q", "r"), mode="timed", anonymous=True)
    specs = [LotSpec(id=i, title=i.upper(), starting_price=100) for i in ("q", "r")]
    await house.create_sale(sale, specs, by="root")
    await settle(house, rec.feed)
    assert isinstance(await house.place_bid(PlaceBid(Actor("bob"), "q", 100)), Accepted)
    placed = await house.place_bid(PlaceBid(Actor("ann"), "q", None, max_amount=900))
    assert isinstance(placed, Accepted) and placed.leading
    clock.advance(3_600_000)
    house.run_due()
    await settle(house, rec.feed)
    assert not house.views.lots
    return Queries(house), store, house.sales["x"].spec.pseudonym_salt


async def test_a_listing_keeps_each_closed_lots_entry_and_reads_it_back_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queries, store, salt = await closed_quiet_sale()
    first = await queries.sales()
    assert set(store.listing) == {"q", "r"}  # kept by the first listing
    high = first.sales[0].lots[0].high_bid
    assert high is not None and high.bidder == pseudonym(salt, "ann") and high.max_amount is None

    async def no_log_read(lot_ids: object) -> None:
        raise AssertionError("a kept entry is read, not the lot's log")

    monkeypatch.setattr(queries.house.closed, "read_many", no_log_read)
    again = await queries.sales()
    assert again.sales == first.sales and (await queries.lots()).lots == first.sales[0].lots
    assert b'"ann"' not in msgspec.json.encode(again)  # the pseudonym, as before
    monkeypatch.undo()
    # Admins read the lots themselves: names, not the kept pseudonyms.
    named = (await queries.sales(admin=True)).sales[0].lots[0].high_bid
    assert named is not None and named.bidder == "ann" and named.max_amount == 900


async def test_the_winner_still_sees_the_maximum_an_entry_hides() -> None:
    queries, store, _salt = await closed_quiet_sale()
    await queries.sales()
    assert store.listing["q"].leader == "ann" and store.listing["r"].leader is None
    mine = (await queries.sales(viewer="ann")).sales[0].lots[0].high_bid
    assert mine is not None and mine.max_amount == 900
    theirs = (await queries.sales(viewer="bob")).sales[0].lots[0].high_bid
    assert theirs is not None and theirs.max_amount is None


async def test_an_entry_of_another_shape_is_made_again() -> None:
    queries, store, _salt = await closed_quiet_sale()
    expected = (await queries.lots()).lots
    old = store.listing["q"]
    store.listing["q"] = ListingEntry("q", "an older shape", b"\x81\xa3lot\xa1q", old.leader)
    store.listing["r"] = ListingEntry("r", LISTING_VERSION, b"not msgpack", None)
    assert (await queries.lots()).lots == expected
    assert store.listing["q"] == old and store.listing["r"].entry != b"not msgpack"


async def test_an_ended_sale_says_why_it_ended_and_a_restart_keeps_it() -> None:
    _queries, store, _salt = await closed_quiet_sale()  # ended by itself: done
    house, rec, clock, _ = await make_house(store, add=False)
    await house.create_sale(
        SaleSpec("y", "Other sale", ("z",)), [LotSpec(id="z", title="Z")], by="root"
    )
    await settle(house, rec.feed)
    assert [(s.sale, s.reason) for s in (await Queries(house).sales()).sales] == [
        ("x", "done"),
        ("y", None),  # running
    ]
    await house.cancel_sale("y", "root")
    await settle(house, rec.feed)
    for started in (house, (await make_house(store, clock, add=False))[0]):
        reasons = [(s.sale, s.state, s.reason) for s in (await Queries(started).sales()).sales]
        assert reasons == [("x", "ended", "done"), ("y", "ended", "cancelled")]
