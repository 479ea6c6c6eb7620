"""What only SQLite has: durability settings, migrations, group commit."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import msgspec
import pytest

from bidwire.domain.events import (
    BidPlaced,
    LotEvent,
    LotOpened,
    SaleEnded,
    SalePaused,
    SaleResumed,
    SaleStarted,
)
from bidwire.domain.lot import Lot, LotSpec, Refusal
from bidwire.domain.sale import SaleSpec
from bidwire.errors import Conflict, SeqConflict, StoreUnavailable
from bidwire.store import load_house
from bidwire.store.base import sale_spec_to_record
from bidwire.store.sqlite import MIGRATIONS, SqliteStore, sqlite_path


def test_sqlite_urls() -> None:
    assert sqlite_path("sqlite:///rel/x.db") == "rel/x.db"
    assert sqlite_path("sqlite:////abs/x.db") == "/abs/x.db"


async def test_wal_full_sync_and_schema_version(tmp_path: Path) -> None:
    path = str(tmp_path / "x.db")
    async with SqliteStore(path):
        pass
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


async def test_group_commit_batches_concurrent_appends(tmp_path: Path) -> None:
    async with SqliteStore(str(tmp_path / "x.db")) as store:
        await store.add_sale(SaleSpec("s", "S", ("w",)), [LotSpec(id="w", title="W")])
        await store.append([LotOpened("w", 1, "s", "W", "", "USD", 100, 100, 9, 1)])
        before = store.commits
        futures = [
            store.append([BidPlaced("w", seq, seq, "a", 9, seq + 1, 2)]) for seq in range(2, 2002)
        ]
        await asyncio.gather(*futures)
        commits = store.commits - before
        assert commits < 200, f"2000 appends took {commits} commits: no group commit"


async def test_reopening_keeps_everything(tmp_path: Path) -> None:
    path = str(tmp_path / "x.db")
    async with SqliteStore(path) as store:
        await store.add_sale(SaleSpec("s", "S", ("w",)), [LotSpec(id="w", title="W")])
        await store.append([LotOpened("w", 1, "s", "W", "", "USD", 100, 100, 9, 1)])
    async with SqliteStore(path) as store:
        house = await load_house(store)
        assert house.lots[0].events[0].seq == 1


async def test_a_lone_append_that_fails_leaves_no_transaction_open(tmp_path: Path) -> None:
    """One append in a commit runs without savepoints; its fault must still roll it back alone
    and leave the writer ready for the next one."""
    async with SqliteStore(str(tmp_path / "x.db")) as store:
        await store.add_sale(SaleSpec("s", "S", ("w",)), [LotSpec(id="w", title="W")])
        await store.append([LotOpened("w", 1, "s", "W", "", "USD", 100, 100, 9, 1)])
        await store.append([BidPlaced("w", 2, 100, "a", 9, 101, 2)], request_key="a\x00k")
        with pytest.raises(Conflict):  # the same request key twice
            await store.append([BidPlaced("w", 3, 101, "b", 9, 102, 3)], request_key="a\x00k")
        with pytest.raises(SeqConflict):
            await store.append([BidPlaced("w", 9, 101, "b", 9, 102, 3)])
        await store.append([BidPlaced("w", 3, 102, "b", 9, 103, 4)])
    async with SqliteStore(str(tmp_path / "x.db")) as store:
        house = await load_house(store)
        assert [e.seq for e in house.lots[0].events] == [1, 2, 3]
        assert [(key, bid.seq) for key, bid in house.request_keys] == [("a\x00k", 2)]


def _store_of_version_4(path: str) -> None:
    """A database as the code before snapshots left it: schema 4, state columns, no blob."""
    conn = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:4]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version=4")
    spec = '{"id":"w","title":"W","description":"","currency":"USD","starting_price":100,'
    spec += '"increment":{"fixed":1},"reserve":null,"opening_ms":30000,"extend_ms":10000,'
    spec += '"hard_end_ms":null,"buy_now":null}'
    sale = '{"id":"s","title":"S","lot_ids":["w"],"mode":"live","gap_ms":2000,'
    sale += '"starts_at":null,"held":false,"anonymous":false,"pseudonym_salt":""}'
    conn.execute("INSERT INTO sales (id, position, spec) VALUES ('s', 1, ?)", (sale,))
    conn.execute("INSERT INTO lots (id, sale_id, position, spec) VALUES ('w', 's', 0, ?)", (spec,))
    events: list[LotEvent] = [LotOpened("w", 1, "s", "W", "", "USD", 100, 100, 9, 1)]
    events += [BidPlaced("w", seq, 100 + seq, f"u{seq % 2}", 9, 101 + seq, 2) for seq in (2, 3)]
    conn.execute(
        "INSERT INTO lot_state (lot_id, seq, status, ends_at, high_amount, high_bidder)"
        " VALUES ('w', 3, 'open', 9, 103, 'u1')"
    )
    conn.executemany(
        "INSERT INTO events (lot_id, seq, type, ts, body, request_key) VALUES (?,?,?,?,?,?)",
        [
            (e.lot, e.seq, e.__struct_config__.tag, e.ts, msgspec.json.encode(e), None)
            for e in events
        ],
    )
    conn.close()


async def test_a_store_from_before_snapshots_migrates_and_loads_by_replay(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    _store_of_version_4(path)
    async with SqliteStore(path) as store:
        house = await load_house(store)
        (old,) = house.lots
        assert old.snapshot is None and [e.seq for e in old.events] == [1, 2, 3]
        lot = Lot(old.spec, old.sale, old.mode)
        for event in old.events:
            lot.apply(event)
        assert (lot.high_amount, lot.bid_count) == (103, 2)
        bidding = lot.decide_bid("u0", 200, 5)
        assert not isinstance(bidding, Refusal)
        bid = bidding.own
        lot.apply(bid)
        await store.append([bid], snapshot=lot.snapshot())
    async with SqliteStore(path) as store:
        logged = await store.lot_log("w")
        assert logged.snapshot == lot.snapshot() and logged.events == []
    conn = sqlite3.connect(path)
    columns = [row[1] for row in conn.execute("PRAGMA table_info(lot_state)")]
    assert columns == ["lot_id", "seq", "status", "snapshot"]
    assert conn.execute("SELECT status FROM lot_state").fetchone() == ("open",)


async def test_a_lot_stored_before_estimates_loads_without_one(tmp_path: Path) -> None:
    """A lot's spec is a JSON record: one written before the estimate fields reads as a lot
    with no estimate, with no migration of the table."""
    path = str(tmp_path / "old.db")
    _store_of_version_4(path)  # its spec has no estimate_low / estimate_high
    async with SqliteStore(path) as store:
        (entry,) = await store.catalog_lots(["w"])
        assert (entry.spec.estimate_low, entry.spec.estimate_high) == (None, None)
        await store.save_specs(None, [replace(entry.spec, estimate_low=500, estimate_high=900)])
    async with SqliteStore(path) as store:
        (entry,) = await store.catalog_lots(["w"])
        assert (entry.spec.estimate_low, entry.spec.estimate_high) == (500, 900)


async def test_request_keys_are_read_by_their_time_index_not_a_scan(tmp_path: Path) -> None:
    path = str(tmp_path / "x.db")
    async with SqliteStore(path):
        pass
    conn = sqlite3.connect(path)
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT request_key, body FROM events"
        " WHERE request_key IS NOT NULL AND ts > 5 ORDER BY ts DESC LIMIT 10"
    ).fetchall()
    assert any("events_keyed_ts" in row[-1] for row in plan), plan


async def test_an_unreadable_snapshot_falls_back_to_the_whole_log(tmp_path: Path) -> None:
    path = str(tmp_path / "x.db")
    async with SqliteStore(path) as store:
        await store.add_sale(SaleSpec("s", "S", ("w",)), [LotSpec(id="w", title="W")])
        lot = Lot(LotSpec(id="w", title="W"), "s")
        opened = lot.decide_open(1)
        assert isinstance(opened, LotOpened)
        lot.apply(opened)
        await store.append([opened], snapshot=lot.snapshot())
    conn = sqlite3.connect(path)
    conn.execute("UPDATE lot_state SET snapshot = x'c1'")  # not msgpack of a snapshot
    conn.commit()
    conn.close()
    async with SqliteStore(path) as store:
        logs = await store.lot_logs()
        assert logs["w"].snapshot is None and logs["w"].events == [opened]


async def test_a_read_after_the_store_closed_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    """A reload can still be reading when the server shuts the store: the close waits for the
    read, and a read after it is StoreUnavailable, never sqlite3's error or a crashed process."""
    store = SqliteStore(str(tmp_path / "x.db"))
    async with store:
        await store.add_sale(SaleSpec("s", "S", ("w",)), [LotSpec(id="w", title="W")])
        reading = asyncio.ensure_future(store.events_since("w", 0, 10))
    (raced,) = await asyncio.gather(reading, return_exceptions=True)
    assert raced == [] or isinstance(raced, StoreUnavailable), raced  # whichever came first
    with pytest.raises(StoreUnavailable):
        await store.events_since("w", 0, 10)
    with pytest.raises(StoreUnavailable):
        await store.lot_log("w")


def _store_of_version_5_with_marks(path: str) -> None:
    """A database as the code before sale events left it: each sale's progress as marks."""
    _store_of_version_4(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(MIGRATIONS[4])
    conn.execute("PRAGMA user_version=5")
    for position, sale_id in enumerate(("done", "cancelled", "held"), start=2):
        spec = SaleSpec(sale_id, sale_id.title(), (f"{sale_id}-lot",))
        conn.execute(
            "INSERT INTO sales (id, position, spec) VALUES (?, ?, ?)",
            (sale_id, position, json.dumps(sale_spec_to_record(spec))),
        )
    marks = [("s", 1, 2, None), ("done", 3, None, 5), ("cancelled", 4, 6, 7)]
    for sale_id, started_at, paused_at, ended_at in marks:
        conn.execute(
            "UPDATE sales SET started_at = ?, paused_at = ?, ended_at = ? WHERE id = ?",
            (started_at, paused_at, ended_at, sale_id),
        )
    audit = [("alice", "pause-sale", "s"), ("bob", "pause-sale", "cancelled")]
    audit += [("bob", "cancel-sale", "cancelled")]
    conn.executemany("INSERT INTO audit (ts, actor, action, detail) VALUES (1, ?, ?, ?)", audit)
    conn.close()


async def test_a_store_with_sale_marks_migrates_them_into_each_sales_first_events(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "old.db")
    _store_of_version_5_with_marks(path)
    for _ in range(2):  # once: a second open finds the events and adds none
        async with SqliteStore(path) as store:
            house = await load_house(store)
            logs = {sale.spec.id: sale.events for sale in house.sales}
            assert logs == {
                "s": [SaleStarted("s", 1, "S", "live", ["w"], 1), SalePaused("s", 2, "alice", 2)],
                "done": [
                    SaleStarted("done", 1, "Done", "live", ["done-lot"], 3),
                    SaleEnded("done", 2, 5, "done"),
                ],
                "cancelled": [
                    SaleStarted("cancelled", 1, "Cancelled", "live", ["cancelled-lot"], 4),
                    SalePaused("cancelled", 2, "bob", 6),
                    SaleEnded("cancelled", 3, 7, "cancelled"),
                ],
                "held": [],
            }
            assert [e.seq for e in house.lots[0].events] == [1, 2, 3]  # the lot's stream
    conn = sqlite3.connect(path)
    columns = [row[1] for row in conn.execute("PRAGMA table_info(sales)")]
    conn.close()
    assert columns == ["id", "position", "spec", "seq"]
    async with SqliteStore(path) as store:  # each stream goes on from its migrated seq
        await store.append([SaleResumed("s", 3, "alice", 8)])
        with pytest.raises(SeqConflict):
            await store.append([SaleEnded("done", 2, 9)])
        assert [e.seq for e in await store.sale_log("s")] == [1, 2, 3]
