"""Example-based rules of one lot; the invariants are in test_lot_properties.py."""

from bidwire.domain.events import BidPlaced, LotClosed, LotOpened
from bidwire.domain.lot import Bidding, Lot, LotSpec, Refusal
from bidwire.domain.money import FixedIncrement

T0 = 1_000_000


def open_lot(mode: str = "live", **spec: object) -> Lot:
    lot = Lot(LotSpec(id="w", title="Watch", starting_price=100, **spec), "s", mode)  # type: ignore[arg-type]
    opened = lot.decide_open(T0)
    assert isinstance(opened, LotOpened)
    lot.apply(opened)
    return lot


def bid(lot: Lot, who: str, amount: int, at: int) -> BidPlaced | Refusal:
    """A plain bid: one event, its own."""
    decision = lot.decide_bid(who, amount, at)
    if isinstance(decision, Refusal):
        return decision
    assert isinstance(decision, Bidding) and len(decision.events) == 1
    placed = decision.own
    assert isinstance(placed, BidPlaced)
    lot.apply(placed)
    return placed


def test_first_bid_must_reach_starting_price() -> None:
    lot = open_lot()
    low = bid(lot, "a", 99, T0 + 1)
    assert isinstance(low, Refusal) and low.code == "too_low" and low.min_amount == 100
    assert isinstance(bid(lot, "a", 100, T0 + 1), BidPlaced)


def test_later_bids_need_the_increment_and_leader_cannot_outbid_self() -> None:
    lot = open_lot(increment=FixedIncrement(10))
    bid(lot, "a", 100, T0 + 1)
    again = bid(lot, "a", 500, T0 + 2)
    assert isinstance(again, Refusal) and again.code == "already_leading"
    short = bid(lot, "b", 109, T0 + 3)
    assert isinstance(short, Refusal) and short.min_amount == 110
    assert isinstance(bid(lot, "b", 110, T0 + 4), BidPlaced)


def test_live_bid_resets_countdown_even_in_the_final_seconds() -> None:
    """The seed's first defect: a bid in the last seconds did not restart the countdown."""
    lot = open_lot()
    bid(lot, "a", 100, T0 + 1_000)
    late = T0 + 1_000 + 9_999  # 1 ms before the end
    placed = bid(lot, "b", 200, late)
    assert isinstance(placed, BidPlaced) and placed.ends_at == late + 10_000
    assert lot.decide_close(late + 9_999) is None
    assert isinstance(lot.decide_close(late + 10_000), LotClosed)


def test_no_bid_after_sold_and_no_second_sale() -> None:
    """The seed's second defect: a bid just after SOLD reopened the lot and sold it again."""
    lot = open_lot()
    bid(lot, "a", 100, T0 + 1)
    closing = lot.decide_close(T0 + 1 + 10_000)
    assert isinstance(closing, LotClosed) and closing.outcome == "sold"
    lot.apply(closing)
    after = bid(lot, "b", 1_000, T0 + 1 + 10_001)
    assert isinstance(after, Refusal) and after.code == "lot_not_open"
    assert lot.decide_close(T0 + 100_000) is None


def test_bid_exactly_at_deadline_is_late() -> None:
    lot = open_lot()
    assert lot.ends_at == T0 + 30_000
    late = bid(lot, "a", 100, T0 + 30_000)
    assert isinstance(late, Refusal) and late.code == "lot_not_open"


def test_unmet_reserve_means_unsold_and_no_bids_means_unsold() -> None:
    lot = open_lot(reserve=500)
    bid(lot, "a", 100, T0 + 1)
    closed = lot.decide_close(T0 + 20_000)
    assert closed is not None and closed.outcome == "unsold" and closed.reason == "reserve_not_met"
    quiet = open_lot()
    closed = quiet.decide_close(T0 + 30_000)
    assert closed is not None and closed.outcome == "unsold" and closed.reason == "no_bids"


def test_timed_mode_only_moves_the_end_later() -> None:
    lot = open_lot(mode="timed", opening_ms=60_000)
    placed = bid(lot, "a", 100, T0 + 1_000)
    assert isinstance(placed, BidPlaced) and placed.ends_at == T0 + 60_000
    placed = bid(lot, "b", 200, T0 + 55_000)
    assert isinstance(placed, BidPlaced) and placed.ends_at == T0 + 65_000


def test_hard_end_caps_the_extensions() -> None:
    lot = open_lot(hard_end_ms=12_000)
    placed = bid(lot, "a", 100, T0 + 5_000)
    assert isinstance(placed, BidPlaced) and placed.ends_at == T0 + 12_000


def test_resume_after_outage_gives_a_fresh_window() -> None:
    lot = open_lot()
    assert lot.ends_at is not None
    extension = lot.decide_resume(lot.ends_at + 60_000)
    assert extension is not None and extension.ends_at == lot.ends_at + 70_000
    assert lot.decide_resume(T0) is None  # a full window is left: nothing to do
