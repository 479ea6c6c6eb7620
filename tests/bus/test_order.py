"""InOrder, the subscriber's seq check: pure, no bus needed."""

from __future__ import annotations

from bidwire.bus import InOrder, Message, lot_message
from tests.bus.test_contract import bid, opened


def test_a_stream_can_start_past_one_and_restart_at_the_store_s_seq() -> None:
    order = InOrder()
    assert order.expect("lot", "w", 3) == []
    assert order.accept(lot_message(bid("w", 2))) == []  # before the start: had already
    assert order.accept(lot_message(bid("w", 4))) == []
    assert order.gaps() == {("lot", "w"): range(3, 4)}
    released = order.expect("lot", "w", 4)  # the store says 3 exists: the reload covers it
    assert [m.seq for m in released] == [4] and order.gaps() == {}


def test_what_waits_behind_a_gap_is_bounded() -> None:
    order = InOrder(max_held=3)
    order.accept(lot_message(opened("w")))
    for seq in range(3, 10):
        order.accept(lot_message(bid("w", seq)))
    assert order.gaps() == {("lot", "w"): range(2, 3)}
    passed: list[Message] = order.accept(lot_message(bid("w", 2)))
    assert [m.seq for m in passed] == [2, 3, 4, 5]  # the rest must come from the store
