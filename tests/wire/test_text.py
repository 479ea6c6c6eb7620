"""Text mode, sans-I/O: typed lines in, the lines a person reads out."""

from __future__ import annotations

from bidwire.domain.events import (
    BidPlaced,
    BidVoided,
    LotClosed,
    LotOpened,
    LotPaused,
    LotResumed,
    MaxRaised,
)
from bidwire.domain.lot import Lot, LotSpec
from bidwire.domain.privacy import public_event
from bidwire.wire.batch import text_line
from bidwire.wire.text import describe_lot, parse_line, render_event


def test_bare_numbers_bid_and_words_are_commands() -> None:
    assert parse_line("150").verb == "bid"
    assert parse_line(" 150.50 \r").arg == "150.50"
    assert parse_line("QUIT").verb == "quit"
    assert parse_line("lot vase").arg == "vase"
    assert parse_line("").verb == "empty"
    assert parse_line("dance").verb == "unknown"


# -- maximums, buy-now, reserves, voids, closes: rendered from the public events ------------


TS = 1_000_000


def opened_lot(**spec: object) -> Lot:
    lot = Lot(LotSpec(id="p", title="Oil Painting", starting_price=10_000, **spec), "s")  # type: ignore[arg-type]
    lot.apply(
        LotOpened(
            "p",
            1,
            "s",
            "Oil Painting",
            "",
            "USD",
            10_000,
            10_000,
            TS + 30_000,
            TS,
            reserve="reserve" in spec,
            buy_now=lot.spec.buy_now,
        )
    )
    return lot


def placed(lot: Lot, amount: int, bidder: str, **more: object) -> BidPlaced:
    event = BidPlaced("p", lot.seq + 1, amount, bidder, TS + 10_000, amount + 250, TS, **more)  # type: ignore[arg-type]
    lot.apply(event)
    return event


def test_parse_max_and_buy() -> None:
    assert parse_line("max 400").verb == "max" and parse_line("MAX 400.50").arg == "400.50"
    assert parse_line("max").arg == ""
    assert parse_line("buy").verb == parse_line("buy now").verb == "buy"
    assert parse_line("buy a vase").verb == "unknown"


def test_the_bid_that_meets_the_reserve_says_so_once() -> None:
    lot = opened_lot(reserve=30_000)
    below = placed(lot, 20_000, "bob", reserve_met=False)
    met = placed(lot, 30_000, "ann", auto=True, reserve_met=True)
    after = placed(lot, 30_500, "bob", reserve_met=True)
    assert render_event(below, lot).endswith("10 s left. Reserve not met yet.")
    assert render_event(met, lot) == (
        "New high bid: 300.00 USD by ann (automatic, for a maximum) on Oil Painting."
        " Next bid at least 302.50 USD. 10 s left. The reserve has been met."
    )
    assert "reserve" not in render_event(after, lot)
    assert "The reserve has been met." in describe_lot(lot, TS)


def test_a_first_bid_at_the_reserve_meets_it_and_no_reserve_says_nothing() -> None:
    lot = opened_lot(reserve=10_000)
    assert "The reserve has been met." in render_event(
        placed(lot, 10_000, "ann", reserve_met=True), lot
    )
    plain = opened_lot()
    assert "eserve" not in render_event(placed(plain, 10_000, "ann"), plain)


def test_a_maximum_never_reaches_the_text_line() -> None:
    """The line is rendered from the public event; the lot's own private maximum stays out."""
    lot = opened_lot(reserve=30_000)
    secret = 47_300
    private = BidPlaced("p", 2, 30_000, "ann", TS + 10_000, 30_500, TS, False, secret, True)
    lot.apply(private)
    assert lot.high_max == secret
    line = text_line(public_event(private, None), lot).decode()
    assert "473" not in line and "New high bid: 300.00 USD by ann" in line
    assert "473" not in describe_lot(lot, TS)
    raised = MaxRaised("p", 3, TS, "ann", 60_000)
    lot.apply(raised)
    assert text_line(public_event(raised, None), lot) == b""  # nothing, not a blank line


def test_opening_offers_buy_now_and_tells_of_a_reserve() -> None:
    lot = opened_lot(reserve=30_000, buy_now=80_000)
    line = render_event(
        LotOpened(
            "p",
            1,
            "s",
            "Oil Painting",
            "",
            "USD",
            10_000,
            10_000,
            TS + 30_000,
            TS,
            reserve=True,
            buy_now=80_000,
        ),
        lot,
    )
    assert line.endswith("It has a reserve. Buy now for 800.00 USD: type buy.")
    assert "Buy now for 800.00 USD" in describe_lot(lot, TS)
    placed(lot, 10_000, "ann", reserve_met=False)
    assert "Buy now" not in describe_lot(lot, TS)  # no longer offered once a bid stands


def closed(lot: Lot, outcome: str, winner: str | None, amount: int | None, reason: str) -> str:
    return render_event(LotClosed("p", lot.seq + 1, outcome, winner, amount, TS, reason), lot)  # type: ignore[arg-type]


def test_every_close_reason_in_words() -> None:
    lot = opened_lot()
    assert closed(lot, "sold", "ann", 15_000, "hammer") == (
        "SOLD! Oil Painting: sold to ann for 150.00 USD."
    )
    assert closed(lot, "sold", "bob", 80_000, "buy_now") == (
        "SOLD! Oil Painting: bought now by bob for 800.00 USD."
    )
    assert closed(lot, "unsold", None, None, "reserve_not_met") == (
        "Oil Painting: not sold: the reserve was not met."
    )
    assert closed(lot, "unsold", None, None, "no_bids") == "Oil Painting: not sold: no bids."
    assert closed(lot, "unsold", None, None, "withdrawn") == (
        "Oil Painting: withdrawn by the auctioneer."
    )


def test_a_void_says_where_the_lot_stands() -> None:
    lot = opened_lot(buy_now=80_000)
    placed(lot, 10_000, "ann")
    placed(lot, 12_000, "bob")
    back = BidVoided("p", 4, [3], 10_000, "ann", 10_250, 1, TS + 10_000, "admin", TS)
    lot.apply(back)
    assert render_event(back, lot) == (
        "The auctioneer voided a bid on Oil Painting: the high bid is now 100.00 USD by ann;"
        " next bid at least 102.50 USD."
    )
    none = BidVoided("p", 5, [2], None, None, 10_000, 0, TS + 10_000, "admin", TS)
    lot.apply(none)
    assert render_event(none, lot) == (
        "The auctioneer voided a bid on Oil Painting: no bids stand; bids start at 100.00 USD."
        " Buy now for 800.00 USD: type buy."
    )


def test_a_pause_says_who_paused_it_and_the_time_kept_and_a_resume_the_new_clock() -> None:
    """Issue 12, defect 2 in text mode: a paused lot is not left looking live."""
    lot = opened_lot()
    paused = LotPaused("p", 2, 12_400, "root", TS + 5_000)
    line = render_event(paused, lot)
    assert "paused by the auctioneer" in line and "13 s left on the clock" in line
    assert "bids wait until it resumes" in line
    resumed = LotResumed("p", 3, TS + 70_000, "root", TS + 60_000)
    assert "resumes: 10 s left" in render_event(resumed, lot)
