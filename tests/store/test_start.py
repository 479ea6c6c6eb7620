"""A start rebuilds each lot from its stored snapshot and the events after it, and remembers
only the request keys of the window (issue 10, room "store")."""

from __future__ import annotations

import gc
import sqlite3
import time
import tracemalloc
from pathlib import Path

import pytest

from bidwire.clock import FakeClock
from bidwire.domain.commands import Accepted, Actor, PlaceBid
from bidwire.domain.lot import LotSpec
from bidwire.domain.money import FixedIncrement
from bidwire.domain.sale import SaleSpec
from bidwire.engine.house import REQUEST_KEY_WINDOW_MS, AuctionHouse
from bidwire.engine.queries import Queries
from bidwire.store.sqlite import SqliteStore
from tests.engine.test_house import Recorder, house_and_feed, lot_now

HOUR_MS = 3_600_000
LOTS = [
    LotSpec(id=lot, title=lot, increment=FixedIncrement(1), opening_ms=30 * HOUR_MS)
    for lot in ("a", "b")
]


async def _house(path: Path, clock: FakeClock) -> tuple[AuctionHouse, SqliteStore]:
    store = SqliteStore(str(path), synchronous="OFF")
    await store.__aenter__()
    house, _feed = house_and_feed(store, clock)
    await house.load()
    return house, store


async def _bid(house: AuctionHouse, who: str, lot: str, amount: int, key: str | None) -> None:
    result = await house.place_bid(PlaceBid(Actor(who), lot, amount, request_id=key))
    assert isinstance(result, Accepted), result


async def _open_all(house: AuctionHouse) -> None:
    house.start()
    await house.settled()  # the sale's start commits; then its lots open
    assert all(lot.status == "open" for lot in house.lots.values())


@pytest.mark.timeout(20)
async def test_a_restart_rebuilds_lots_from_snapshots_without_the_older_events(
    tmp_path: Path,
) -> None:
    path, clock = tmp_path / "x.db", FakeClock()
    house, store = await _house(path, clock)
    await house.add_sale(SaleSpec("s", "S", ("a", "b"), mode="timed"), LOTS)
    await _open_all(house)
    for n in range(30):
        await _bid(house, ("ann", "bob")[n % 2], "a", 100 + n, None)
    clock.advance(30 * HOUR_MS)
    house.run_due()  # both lots close: "a" sold, "b" unsold
    await house.stop()
    assert not house.lots  # both closed: the store has them
    before = {lot_id: await lot_now(house, lot_id) for lot_id in ("a", "b")}
    assert {lot.status for lot in before.values()} == {"closed"}
    await store.__aexit__(None, None, None)
    # the log before each snapshot is not what a start reads: take it away and start again
    conn = sqlite3.connect(path)
    conn.execute(
        "DELETE FROM events WHERE seq < (SELECT seq FROM lot_state WHERE lot_id = events.lot_id)"
    )
    conn.commit()
    conn.close()
    again, store = await _house(path, clock)
    try:
        assert again.lots == {} and again.views.lots == {}
        assert {lot_id: await lot_now(again, lot_id) for lot_id in before} == before
        shown = (await Queries(again).snapshot("a")).bids
        assert [b.amount for b in shown] == list(range(129, 109, -1))
    finally:
        await store.__aexit__(None, None, None)


@pytest.mark.timeout(20)
async def test_a_restart_remembers_the_request_keys_of_the_window_only(tmp_path: Path) -> None:
    path, clock = tmp_path / "x.db", FakeClock()
    house, store = await _house(path, clock)
    await house.add_sale(SaleSpec("s", "S", ("a", "b"), mode="timed"), LOTS)
    await _open_all(house)
    await _bid(house, "ann", "a", 100, "old")
    clock.advance(2 * HOUR_MS)
    await _bid(house, "bob", "a", 101, "new")
    await house.stop()
    await store.__aexit__(None, None, None)
    clock.advance(REQUEST_KEY_WINDOW_MS - HOUR_MS)  # "old" is 25 h old, "new" 23 h
    again, store = await _house(path, clock)
    try:
        assert list(again._request_keys) == ["bob\x00new"]
        repeat = await again.place_bid(PlaceBid(Actor("bob"), "a", 101, request_id="new"))
        assert isinstance(repeat, Accepted) and repeat.seq == 3, "a repeat was bid again"
        assert again.lots["a"].seq == 3
    finally:
        await store.__aexit__(None, None, None)


@pytest.mark.timeout(20)
async def test_a_store_from_before_snapshots_is_replayed_once_then_read_by_snapshot(
    tmp_path: Path,
) -> None:
    from tests.store.test_sqlite import _store_of_version_4

    path, clock = tmp_path / "old.db", FakeClock(5)  # before the old lot's deadline (9)
    _store_of_version_4(str(path))
    house, store = await _house(path, clock)  # migrates, replays, keeps each lot's snapshot
    replayed = dict(house.lots)
    await store.__aexit__(None, None, None)
    async with SqliteStore(str(path)) as reopened:
        logged = await reopened.lot_log("w")
    assert logged.snapshot == replayed["w"].snapshot() and logged.events == []
    again, store = await _house(path, clock)
    try:
        assert again.lots == replayed
    finally:
        await store.__aexit__(None, None, None)


CLOSED_LOT_BYTES = 128
"""What a closed lot may cost after a start: its id in its sale's ``lot_ids`` (~66 bytes) and
its entry in the house's index of closed lots (~26): ~100. Its catalog entry, final state and
recent bids stay in the store. When the house kept each closed lot compacted: ~1,465; before
that, ~5,200."""


@pytest.mark.timeout(60)
async def test_a_closed_lot_costs_little_memory_after_a_start(tmp_path: Path) -> None:
    from tests.bench.test_loadgen import load

    lots, path = 1_000, tmp_path / "x.db"
    load("start").build(path, lots=lots, bids=25, open_lots=0, open_bids=0)
    async with SqliteStore(str(path), synchronous="OFF") as store:
        # the built history is a month old: no request key of it is in the window
        house, _feed = house_and_feed(store, FakeClock(int(time.time() * 1000)))
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            await house.load()
            gc.collect()
            after, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert house.lot_count() == lots and not house.lots  # all closed: left in the store
        per_lot, peak_per_lot = (after - before) / lots, (peak - before) / lots
        assert per_lot < CLOSED_LOT_BYTES, f"{per_lot:.0f} bytes per closed lot"
        # at the peak also the sales' events (a start names every lot) and catalog records
        assert peak_per_lot < 2 * CLOSED_LOT_BYTES, f"{peak_per_lot:.0f} bytes at the peak"
        # what was left out is still there for whoever asks
        shown = (await Queries(house).snapshot("s00-00007")).bids
        assert [b.amount for b in shown] == list(range(124, 104, -1))


@pytest.mark.timeout(20)
async def test_a_restart_brings_a_paused_sale_back_paused_and_an_ended_one_ended(
    tmp_path: Path,
) -> None:
    path, clock = tmp_path / "x.db", FakeClock()
    house, store = await _house(path, clock)
    await house.add_sale(SaleSpec("p", "P", ("a",), mode="timed"), LOTS[:1])
    await house.add_sale(SaleSpec("e", "E", ("b",), mode="timed"), LOTS[1:])
    await _open_all(house)
    await house.pause_sale("p", "root")
    await house.cancel_sale("e", "root")
    await house.stop()
    before = dict(house.sales)
    assert [(s.status, s.seq) for s in before.values()] == [("paused", 2), ("ended", 2)]
    await store.__aexit__(None, None, None)

    store = SqliteStore(str(path), synchronous="OFF")
    await store.__aenter__()
    try:
        again, feed = house_and_feed(store, clock)
        await again.load()
        assert again.sales == before
        assert again.lots["a"].status == "paused" and "b" not in again.lots
        assert (await lot_now(again, "b")).status == "closed"
        watcher = Recorder()
        feed.subscribe_house(watcher)
        again.start()
        clock.advance(40 * HOUR_MS)  # past every deadline: a paused lot waits, nothing else
        again.run_due()
        await again.resume_sale("p", "root")  # the sale's stream goes on at seq 3
        resumed = await watcher.wait_for(lambda m: m["type"] == "sale_resumed", timeout=2)
        assert (resumed["sale"], resumed["seq"]) == ("p", 3)
        assert [e.seq for e in await store.sale_log("p")] == [1, 2, 3]
        assert again.sales["e"] == before["e"]
        await again.stop()
    finally:
        await store.__aexit__(None, None, None)
