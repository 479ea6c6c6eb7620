"""Text mode (nc, the seed's client.py) with maximums, buy-now, reserves and voids: what each
person reads, and that a maximum never reaches anyone but its owner."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bidwire.accounts.limits import TokenBucket
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.engine.gate import Gate
from bidwire.transports.session import Session, SessionContext
from bidwire.wire.batch import Batch
from tests.engine.test_house import make_house, settle

pytestmark = pytest.mark.timeout(20)


class TextOutlet:
    """Records the lines a text-mode peer reads."""

    backed_up = False

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.closed = False
        self.wrote = asyncio.Event()

    def send_message(self, data: bytes) -> None:
        raise AssertionError(f"a text session got JSON: {data!r}")

    def send_batch(self, batch: Batch) -> None:
        raise AssertionError("a text session got a JSON batch")

    def send_text(self, data: bytes) -> None:
        assert data.endswith(b"\n")
        self.lines += data.decode().splitlines()
        self.wrote.set()

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


async def until(outlet: TextOutlet, words: str, timeout: float = 5.0) -> str:
    """The first line read that holds ``words``, waiting for writes (no polling)."""
    async with asyncio.timeout(timeout):
        while True:
            found = next((line for line in outlet.lines if words in line), None)
            if found is not None:
                return found
            outlet.wrote.clear()
            await outlet.wrote.wait()


class Room:
    """A house with a painting (reserve 300.00, buy-now 800.00) then a vase (buy-now 20.00),
    and text-mode people in it."""

    def __init__(self, house: Any, rec: Any, clock: Any) -> None:
        self.house, self.rec, self.clock = house, rec, clock
        assert rec.feed is not None
        self.ctx = SessionContext(
            house, rec.feed, clock, Gate(clock, bid_limiter=TokenBucket(1e6, 10**6))
        )

    @classmethod
    async def open(cls) -> Room:
        house, rec, clock, _ = await make_house(add=False)
        lots = [
            LotSpec(
                id="p", title="Oil Painting", starting_price=10_000, reserve=30_000, buy_now=80_000
            ),
            LotSpec(id="v", title="Vase", starting_price=1_000, buy_now=2_000),
        ]
        await house.add_sale(SaleSpec("s", "Sale", ("p", "v"), gap_ms=1_000), lots)
        house.run_due()
        await settle(house, rec.feed)
        return cls(house, rec, clock)

    async def person(self, name: str) -> tuple[Session, TextOutlet]:
        outlet = TextOutlet()
        session = Session(self.ctx, outlet, text_allowed=True)
        session.on_idle()  # what the seed's client gets: a greeting in text mode
        await self.say(session, outlet, f"name {name}", f"You are now {name}.")
        return session, outlet

    async def say(self, session: Session, outlet: TextOutlet, line: str, reply: str) -> str:
        """Type ``line``; the reply that holds ``reply`` (after what was read so far)."""
        already = len(outlet.lines)
        session.on_message(line.encode())
        async with asyncio.timeout(5):
            while True:
                found = next((x for x in outlet.lines[already:] if reply in x), None)
                if found is not None:
                    return found
                outlet.wrote.clear()
                await outlet.wrote.wait()

    async def settled(self) -> None:
        await settle(self.house, self.rec.feed)


async def test_maximums_buy_now_and_closes_in_words_and_no_maximum_leaks() -> None:
    room = await Room.open()
    ann, ann_out = await room.person("ann")
    bob, bob_out = await room.person("bob")
    greeting = await until(bob_out, "On the block: Oil Painting")
    assert "Reserve not met yet. Buy now for 800.00 USD: type buy." in greeting

    async def says(who: str, line: str, first_word: str) -> str:
        session, out = (ann, ann_out) if who == "ann" else (bob, bob_out)
        reply = await room.say(session, out, line, first_word)
        await room.settled()
        return reply

    assert await says("ann", "max 250", "Maximum") == (
        "Maximum of 250.00 USD left on Oil Painting: you lead at 100.00 USD."
        " Only you see your maximum."
    )
    assert await says("bob", "150", "Bid") == (
        "Bid placed: 150.00 USD on Oil Painting, but another bidder's maximum is higher:"
        " you have been outbid."
    )
    assert await until(bob_out, "152.50 USD by ann") == (
        "New high bid: 152.50 USD by ann (automatic, for a maximum) on Oil Painting."
        " Next bid at least 155.00 USD. 10 s left. Reserve not met yet."
    )
    assert await says("bob", "max 350", "Maximum") == (
        "Maximum of 350.00 USD left on Oil Painting: you lead at 300.00 USD."
        " Only you see your maximum."
    )
    assert "The reserve has been met." in await until(ann_out, "300.00 USD by bob")
    # told to ann alone, once her maximum is passed; bob was never told he lost a lead
    assert ann_out.lines[-1] == (
        "You no longer lead on Oil Painting: the high bid is 300.00 USD by bob."
    )
    assert "no longer lead" not in bob_out.text
    assert await says("ann", "max 450", "Maximum") == (
        "Maximum of 450.00 USD left on Oil Painting: you lead at 355.00 USD."
        " Only you see your maximum."
    )
    assert await says("bob", "max 400", "Maximum") == (
        "Maximum of 400.00 USD left on Oil Painting, but another bidder's maximum is higher:"
        " you have been outbid at 400.00 USD."
    )
    auto = await until(bob_out, "405.00 USD by ann")
    assert "You no longer lead on Oil Painting: the high bid is 355.00 USD by ann." in (
        bob_out.lines
    )
    assert auto.startswith("New high bid: 405.00 USD by ann (automatic, for a maximum)")
    assert "reserve" not in auto  # said once, when it was met
    before = len(bob_out.lines)
    assert await says("ann", "max 500", "Maximum") == (
        "Maximum of 500.00 USD left on Oil Painting: you lead at 405.00 USD."
        " Only you see your maximum."
    )
    assert bob_out.lines[before:] == []  # a leader's raise tells the others nothing, not a blank
    assert await says("bob", "buy", "Buy-now") == (
        "Buy-now refused: Oil Painting cannot be bought now: a bid has been placed. [not_offered]"
    )
    assert "[already_leading]" in await says("ann", "max 420", "Maximum refused")

    room.clock.advance(10_000)
    room.house.run_due()
    await room.settled()
    for out in (ann_out, bob_out):
        assert "SOLD! Oil Painting: sold to ann for 405.00 USD." in out.lines
    assert ann_out.lines[-1] == "Congratulations, Oil Painting is yours!"
    assert "Congratulations" not in bob_out.text

    room.clock.advance(1_000)  # the gap: the vase opens
    room.house.run_due()
    await room.settled()
    opened = await until(ann_out, "On the block: Vase")
    assert opened.endswith("Buy now for 20.00 USD: type buy.")
    assert await says("bob", "buy", "Bought") == "Bought now: Vase is yours for 20.00 USD."
    assert "SOLD! Vase: bought now by bob for 20.00 USD." in ann_out.lines
    assert "[lot_not_open]" in await says("ann", "buy", "Nothing is on the block")

    # ann's maximums that no bid revealed reached ann alone
    for secret in ("450.00", "500.00"):
        assert secret in ann_out.text and secret not in bob_out.text
    assert "350.00 USD left" not in ann_out.text
    assert all(line.strip() and line.isprintable() for line in ann_out.lines + bob_out.lines)


async def test_a_void_is_read_in_words() -> None:
    room = await Room.open()
    ann, ann_out = await room.person("ann")
    bob, bob_out = await room.person("bob")
    await room.say(ann, ann_out, "120", "Bid accepted")
    await room.say(bob, bob_out, "160", "Bid accepted")
    await room.settled()
    bob_bid = room.house.lots["p"].seq
    await room.house.void_bid("p", bob_bid, "admin")
    await room.settled()
    line = await until(bob_out, "voided")
    assert line == (
        "The auctioneer voided a bid on Oil Painting: the high bid is now 120.00 USD by ann;"
        " next bid at least 122.50 USD. Reserve not met."
    )
    await room.house.void_bid("p", bob_bid - 1, "admin")
    await room.settled()
    assert ann_out.lines[-1] == (
        "The auctioneer voided a bid on Oil Painting: no bids stand; bids start at 100.00 USD."
        " Buy now for 800.00 USD: type buy."
    )


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("max", "Type max and the most you would pay, such as: max 400. [bad_amount]"),
        ("max 0", "Maximum refused: a maximum must be more than zero."),
        ("max 12.345", "Maximum refused: USD amounts have at most 2 decimal places."),
        ("max lots", "Maximum refused: 'lots' is not a number."),
        ("help", "'max 400' leaves a maximum"),
    ],
)
async def test_typing_max_wrong_says_why(line: str, reply: str) -> None:
    room = await Room.open()
    ann, ann_out = await room.person("ann")
    assert reply in await room.say(ann, ann_out, line, reply.split()[0])
