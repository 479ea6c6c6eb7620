"""Idempotency keys (issue 10, hole 2): a repeated request_id is the same bid, answered only
with the first bid's own answer, once it has one; a key reused for another bid is refused."""

from __future__ import annotations

import asyncio

from bidwire.domain.commands import Accepted, Actor, PlaceBid
from bidwire.domain.events import BidPlaced
from bidwire.domain.lot import Refusal
from bidwire.engine.house import MAX_REQUEST_KEYS, REQUEST_KEY_WINDOW_MS
from tests.engine.test_house import make_house, settle

ANN, BOB = Actor("ann"), Actor("bob")


def placed(store: object, lot: str) -> list[BidPlaced]:
    events = store.lots[lot].events  # type: ignore[attr-defined]
    return [e for e in events if isinstance(e, BidPlaced)]


async def test_a_repeat_waits_for_the_first_answer_and_gets_the_same_failure() -> None:
    house, _rec, _clock, store = await make_house()
    store.fail_appends = True
    first = asyncio.ensure_future(house.place_bid(PlaceBid(ANN, "a", 100, request_id="k")))
    await asyncio.sleep(0)  # the first is decided and waits for its commit
    again = await house.place_bid(PlaceBid(ANN, "a", 100, request_id="k"))
    original = await first
    assert isinstance(original, Refusal) and original.code == "unavailable"
    assert again == original, "the repeat was told something the first was not"
    assert placed(store, "a") == []


async def test_a_repeat_sent_while_the_first_commits_is_the_same_acceptance() -> None:
    house, _rec, _clock, store = await make_house()
    first, again = await asyncio.gather(
        house.place_bid(PlaceBid(ANN, "a", 100, request_id="k")),
        house.place_bid(PlaceBid(ANN, "a", 100, request_id="k")),
    )
    assert isinstance(first, Accepted) and again == first
    assert len(placed(store, "a")) == 1


async def test_after_a_failure_the_key_can_be_tried_again() -> None:
    house, _rec, _clock, store = await make_house()
    store.fail_appends = True
    failed = await house.place_bid(PlaceBid(ANN, "a", 100, request_id="k"))
    assert isinstance(failed, Refusal) and failed.code == "unavailable"
    store.fail_appends = False
    await house.settled()  # the lot reloads from the store after the failure
    retried = await house.place_bid(PlaceBid(ANN, "a", 100, request_id="k"))
    assert isinstance(retried, Accepted)


async def test_a_key_reused_for_another_lot_or_amount_is_refused_not_answered() -> None:
    house, _rec, _clock, store = await make_house()
    house.run_due()
    first = await house.place_bid(PlaceBid(ANN, "a", 100, request_id="k"))
    assert isinstance(first, Accepted)
    other_amount = await house.place_bid(PlaceBid(ANN, "a", 500, request_id="k"))
    assert isinstance(other_amount, Refusal) and other_amount.code == "bad_request"
    other_lot = await house.place_bid(PlaceBid(ANN, "b", 100, request_id="k"))
    assert isinstance(other_lot, Refusal) and other_lot.code == "bad_request"
    assert len(placed(store, "a")) == 1
    # another bidder's key is theirs: the same id names a different bid
    bob = await house.place_bid(PlaceBid(BOB, "a", 500, request_id="k"))
    assert isinstance(bob, Accepted) and bob.seq == 3


async def test_keys_are_kept_for_a_bounded_window() -> None:
    house, rec, clock, _store = await make_house()
    first = await house.place_bid(PlaceBid(ANN, "a", 100, request_id="old"))
    assert isinstance(first, Accepted)
    clock.advance(REQUEST_KEY_WINDOW_MS + 1)  # lot a closes; b opens after the gap
    for _ in range(2):
        house.run_due()
        await settle(house, rec.feed)
        clock.advance(2_000)
    later = await house.place_bid(PlaceBid(BOB, "b", 200, request_id="new"))
    assert isinstance(later, Accepted)
    assert list(house._request_keys) == ["bob\x00new"]


def test_the_number_of_keys_is_bounded_too() -> None:
    assert 0 < MAX_REQUEST_KEYS <= 1_000_000
