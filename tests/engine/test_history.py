"""engine/history.py's rules, pure: cursors, limits, pages, and who is named how."""

from __future__ import annotations

import msgspec
import pytest

from bidwire.domain.events import BidPlaced, BidVoided
from bidwire.engine.history import (
    MAX_PAGE,
    History,
    LotInfo,
    check_limit,
    cursor_text,
    entries,
    page_of,
    parse_cursor,
    parse_seq,
    voided_of,
)
from bidwire.errors import BadRequest


def bid(lot: str, seq: int, who: str, ts: int, *, auto: bool = False) -> BidPlaced:
    return BidPlaced(lot, seq, 100 * seq, who, 90_000, 100 * seq + 10, ts, auto, 900)


LOTS = {"w": LotInfo("Watch", "s", "USD"), "r": LotInfo("Ring", "quiet", "EUR")}


def test_a_cursor_reads_back_and_a_lot_id_may_hold_colons() -> None:
    for cursor in ((1_700_000_000_000, "w", 3), (0, "lot:with:colons", 12)):
        assert parse_cursor(cursor_text(cursor)) == cursor
    assert parse_seq("17") == 17


@pytest.mark.parametrize("bad", ["", "x", "1:2", "1:2:", "-1:2:w", "1:-2:w", "1" * 300 + ":1:w"])
def test_a_bad_cursor_is_refused_in_words(bad: str) -> None:
    with pytest.raises(BadRequest, match="next_before"):
        parse_cursor(bad)


@pytest.mark.parametrize("bad", ["", "0", "-3", "x", "1" * 30])
def test_a_bad_lot_cursor_is_refused_in_words(bad: str) -> None:
    with pytest.raises(BadRequest, match="next_before"):
        parse_seq(bad)


def test_every_page_is_bounded() -> None:
    assert check_limit(1) == 1 and check_limit(MAX_PAGE) == MAX_PAGE
    for bad in (0, -1, MAX_PAGE + 1):
        with pytest.raises(BadRequest, match="limit"):
            check_limit(bad)


def test_a_page_ends_with_the_cursor_of_its_last_bid_only_when_more_follow() -> None:
    bids = [bid("w", s, "ann", 1_000 + s) for s in (5, 4, 3)]
    shown, after = page_of(bids, 2)
    assert [b.seq for b in shown] == [5, 4] and after == (1_004, "w", 4)
    shown, after = page_of(bids, 3)
    assert len(shown) == 3 and after is None
    assert page_of([], 5) == ([], None)


def test_entries_name_mark_and_hide_as_told() -> None:
    bids = [bid("r", 3, "ann", 30, auto=True), bid("w", 2, "bob", 20), bid("gone", 1, "x", 1)]
    voids = [BidVoided("w", 4, [2], None, None, 100, 0, 90_000, "root", 40)]
    voided = voided_of(voids)
    assert voided == {("w", 2)}

    def pseudonym(sale: str, bidder: str) -> str:
        return f"Bidder-{bidder[0]}" if sale == "quiet" else bidder

    public = entries(bids, LOTS, voided, pseudonym, maxima=False)
    assert [(e.lot, e.bidder, e.auto, e.voided, e.max_amount) for e in public] == [
        ("r", "Bidder-a", True, False, None),
        ("w", "bob", False, True, None),
    ]  # a bid of a lot no longer known is left out
    assert (public[0].title, public[0].sale, public[0].currency) == ("Ring", "quiet", "EUR")

    def alias(sale: str, bidder: str) -> str | None:
        shown = pseudonym(sale, bidder)
        return shown if shown != bidder else None

    own = entries(bids, LOTS, voided, lambda s, b: b, maxima=True, alias=alias)
    assert [(e.bidder, e.alias, e.max_amount) for e in own] == [
        ("ann", "Bidder-a", 900),
        ("bob", None, 900),
    ]


def test_the_shape_on_the_wire_leaves_out_what_is_not_there() -> None:
    page = History(
        "sale",
        entries([bid("w", 2, "bob", 20)], LOTS, set(), lambda s, b: b, maxima=False),
        None,
        50,
        sale="s",
    )
    wire = msgspec.json.decode(msgspec.json.encode(page))
    assert wire["type"] == "history" and wire["next_before"] is None
    assert "lot" not in wire and "id" not in wire
    assert set(wire["bids"][0]) == {
        "lot",
        "title",
        "sale",
        "currency",
        "seq",
        "amount",
        "bidder",
        "ts",
    }
