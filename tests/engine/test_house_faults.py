"""A store that cannot commit: the scheduler backs off per lot and the log stays readable."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from bidwire.domain.commands import Accepted, PlaceBid
from bidwire.domain.events import LotEvent, SaleEvent
from bidwire.domain.lot import LotSpec, Refusal
from bidwire.domain.sale import SaleSpec
from bidwire.engine.house import RETRY_FIRST_MS, RETRY_MAX_MS, AuctionHouse, LogThrottle
from bidwire.errors import StoreUnavailable, TooLate
from bidwire.transports.broadcast import Feed
from tests.engine.test_house import ANN, BOB, lot_now, make_house, settle


async def settled(house: AuctionHouse, feed: Feed | None) -> None:
    """The reload awaited, then two loop turns for any timer it armed for "now": a retry made
    too soon shows as an attempt in them (what did not happen cannot be awaited)."""
    await settle(house, feed)
    for _ in range(2):
        await asyncio.sleep(0)


async def test_a_close_that_cannot_commit_waits_longer_each_time_then_commits() -> None:
    house, rec, clock, store = await make_house()
    attempts: list[str] = []
    append = store.append

    def counted(
        events: Sequence[LotEvent] | Sequence[SaleEvent],
        request_key: str | None = None,
        snapshot: Any = None,
    ) -> asyncio.Future[None]:
        attempts.append(type(events[0]).__name__)
        return append(events, request_key, snapshot)

    store.append = counted  # type: ignore[method-assign]
    store.fail_appends = True
    ends_at = house.lots["a"].ends_at
    assert ends_at is not None
    clock.set(ends_at)
    house.run_due()
    await settled(house, rec.feed)
    assert attempts == ["LotClosed"], "a failed close was retried at once"
    clock.advance(RETRY_FIRST_MS)
    house.run_due()
    await settled(house, rec.feed)
    assert len(attempts) == 2
    clock.advance(RETRY_FIRST_MS)  # the wait doubled: not yet
    house.run_due()
    await settled(house, rec.feed)
    assert len(attempts) == 2
    store.fail_appends = False
    clock.advance(RETRY_MAX_MS)
    house.run_due()
    await settled(house, rec.feed)
    # the store was away at the deadline: the retries give a fresh window (the test below),
    # and the lot closes at its end
    assert attempts == ["LotClosed", "LotExtended", "LotExtended"]
    assert "lot_extended" in rec.types() and "lot_closed" not in rec.types()
    clock.advance(house.lots["a"].spec.extend_ms)
    house.run_due()
    await settled(house, rec.feed)
    assert attempts[-1] == "LotClosed" and (await lot_now(house, "a")).status == "closed"
    assert "lot_closed" in rec.types()


def test_the_fault_log_keeps_one_line_a_second_and_counts_the_rest() -> None:
    throttle = LogThrottle(1_000)
    assert throttle.allow(0) == 0
    assert [throttle.allow(ms) for ms in (1, 500, 999)] == [None, None, None]
    assert throttle.allow(1_000) == 3
    assert throttle.allow(1_500) is None
    assert throttle.allow(9_000) == 1


async def test_a_sale_pause_that_cannot_commit_is_refused_and_the_sale_is_the_stores() -> None:
    house, rec, _clock, store = await make_house()
    assert (house.sales["s"].seq, house.lots["a"].status) == (1, "open")
    store.fail_appends = True
    with pytest.raises(StoreUnavailable):
        await house.pause_sale("s", "root")
    await house.settled()  # the lot's reload
    assert (house.sales["s"].status, house.sales["s"].seq) == ("running", 1)
    assert house.lots["a"].status == "open" and "sale_paused" not in rec.types()
    store.fail_appends = False
    await house.pause_sale("s", "root")  # decided again, at the same seq
    paused = await rec.wait_for(lambda m: m["type"] == "sale_paused", timeout=2)
    assert paused["seq"] == 2 and [e.seq for e in store.sales["s"].events] == [1, 2]


async def test_a_sale_start_that_cannot_commit_opens_nothing_and_is_retried() -> None:
    house, rec, clock, store = await make_house(add=False)
    store.fail_appends = True
    lots = [LotSpec(id="a", title="A")]
    await house.add_sale(SaleSpec("s", "Sale", ("a",)), lots)
    house.run_due()
    await house.settled()  # the failed start, and the sale's reload
    assert (house.sales["s"].status, house.sales["s"].seq) == ("scheduled", 0)
    assert house.lots["a"].status == "scheduled" and rec.types() == []
    store.fail_appends = False
    clock.advance(RETRY_MAX_MS)
    house.run_due()
    await rec.wait_for(lambda m: m["type"] == "lot_opened", timeout=2)
    assert rec.types() == ["sale_started", "lot_opened"]
    assert [e.seq for e in store.sales["s"].events] == [1]


async def test_a_deadline_passed_while_the_store_could_not_commit_gets_a_fresh_window() -> None:
    """Bids refused `unavailable` up to the deadline: when the store is back the lot reopens
    for a full window (as after a restart), not sold to whoever led before the outage."""
    house, rec, clock, store = await make_house()
    clock.advance(1_000)
    assert isinstance(await house.place_bid(PlaceBid(ANN, "a", 100)), Accepted)
    await settled(house, rec.feed)
    store.fail_appends = True
    clock.advance(5_000)
    refused = await house.place_bid(PlaceBid(BOB, "a", 200))  # bob is turned away
    assert isinstance(refused, Refusal) and refused.code == "unavailable"
    await settled(house, rec.feed)
    ends_at = house.lots["a"].ends_at
    assert ends_at is not None
    clock.set(ends_at)
    house.run_due()
    await settled(house, rec.feed)
    store.fail_appends = False
    clock.advance(RETRY_MAX_MS)
    house.run_due()
    await settled(house, rec.feed)
    lot = house.lots["a"]
    assert lot.status == "open" and lot.ends_at == clock.now_ms() + lot.spec.extend_ms
    assert "lot_closed" not in rec.types()
    extended = rec.messages[-1]
    assert extended["type"] == "lot_extended" and extended["reason"] == "restart"
    assert isinstance(await house.place_bid(PlaceBid(BOB, "a", 200)), Accepted)


async def test_a_late_bid_the_store_refused_gives_no_fresh_window() -> None:
    """Only an outage reopens a lot: a bid the database's clock found late (TooLate) is a
    refusal, and the lot closes at its deadline."""
    house, rec, clock, store = await make_house()
    clock.advance(1_000)
    assert isinstance(await house.place_bid(PlaceBid(ANN, "a", 100)), Accepted)
    await settled(house, rec.feed)
    store.fail_appends = TooLate("the database's clock says the deadline passed")
    refused = await house.place_bid(PlaceBid(BOB, "a", 200))
    assert isinstance(refused, Refusal) and refused.code == "lot_not_open"
    await settled(house, rec.feed)
    store.fail_appends = False
    ends_at = house.lots["a"].ends_at
    assert ends_at is not None
    clock.set(ends_at + RETRY_MAX_MS)
    house.run_due()
    await settled(house, rec.feed)
    assert (await lot_now(house, "a")).status == "closed"
    assert "lot_extended" not in rec.types()
