"""Anonymous sales: the public sees a stable pseudonym per bidder; admins see who."""

from __future__ import annotations

from bidwire.domain.commands import Actor, PlaceBid
from bidwire.domain.events import LotClosed
from bidwire.domain.lot import LotSpec
from bidwire.domain.privacy import pseudonym
from bidwire.domain.sale import SaleSpec
from bidwire.wire.batch import Batch
from tests.engine.test_house import Recorder, make_house, settle


class AdminRecorder(Recorder):
    def deliver(self, batch: Batch) -> None:
        super().deliver(batch.for_admins)


async def test_public_sees_pseudonyms_admins_see_names() -> None:
    house, public, clock, store = await make_house(add=False)
    admin = AdminRecorder()
    feed = public.feed
    assert feed is not None
    feed.subscribe_house(admin)
    sale = SaleSpec("x", "Quiet sale", ("q",), anonymous=True)
    await house.create_sale(sale, [LotSpec(id="q", title="Q")], by="root")
    await settle(house, public.feed)
    salt = house.sales["x"].spec.pseudonym_salt
    assert len(salt) == 32 and store.sales["x"].spec.pseudonym_salt == salt
    await house.place_bid(PlaceBid(Actor("ann"), "q", 100))
    await house.place_bid(PlaceBid(Actor("bob"), "q", 200))
    await house.place_bid(PlaceBid(Actor("ann"), "q", 300))
    await settle(house, public.feed)
    seen = [m["bidder"] for m in public.messages if m["type"] == "bid_placed"]
    assert "ann" not in seen and "bob" not in seen
    assert seen[0] == seen[2] != seen[1] == pseudonym(salt, "bob")
    assert [m["bidder"] for m in admin.messages if m["type"] == "bid_placed"] == [
        "ann",
        "bob",
        "ann",
    ]
    shown = feed.snapshot("q")
    assert shown.high_bid is not None and shown.high_bid.bidder == pseudonym(salt, "ann")
    assert all(b.bidder.startswith("Bidder ") for b in shown.bids)
    real = feed.snapshot("q", admin=True)
    assert real.high_bid is not None and real.high_bid.bidder == "ann"
    replay = feed.events_since("q", 1)
    assert replay is not None and b'"ann"' not in b"".join(replay)
    admin_replay = feed.events_since("q", 1, admin=True)
    assert admin_replay is not None and b'"ann"' in b"".join(admin_replay)
    assert house.public_name("x", "ann") == pseudonym(salt, "ann")
    clock.advance(20_000)
    house.run_due()
    await settle(house, public.feed)
    closed = next(m for m in public.messages if m["type"] == "lot_closed")
    assert closed["winner"] == pseudonym(salt, "ann")
    last = store.lots["q"].events[-1]
    assert isinstance(last, LotClosed) and last.winner == "ann"  # the log keeps who won


async def test_named_sales_show_names() -> None:
    house, public, *_ = await make_house()
    await house.place_bid(PlaceBid(Actor("ann"), "a", 100))
    await settle(house, public.feed)
    assert [m["bidder"] for m in public.messages if m["type"] == "bid_placed"] == ["ann"]
