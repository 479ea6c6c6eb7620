"""The writer's merged commit (one UPDATE per lot, multi-row INSERTs), added for the contention
benchmark: it must keep every behaviour of the one-statement-per-append path it shortcuts."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bidwire.domain.events import BidPlaced, LotOpened
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.errors import Conflict, SeqConflict
from bidwire.store import load_house
from bidwire.store.sqlite import SqliteStore


async def _open(store: SqliteStore, lots: tuple[str, ...]) -> None:
    await store.add_sale(SaleSpec("s", "S", lots), [LotSpec(id=lot, title=lot) for lot in lots])
    for lot in lots:
        await store.append([LotOpened(lot, 1, "s", lot, "", "USD", 100, 100, 9, 1)])


def _rows(path: Path) -> list[tuple[str, int, str | None]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT lot_id, seq, request_key FROM events ORDER BY 1, 2").fetchall()
    finally:
        conn.close()


async def test_appends_on_several_lots_merge_and_keep_every_row(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    async with SqliteStore(str(path)) as store:
        await _open(store, ("a", "b"))
        futures = [
            store.append(
                [BidPlaced(lot, seq, 100 + seq, f"u{seq}", 9, 101 + seq, 2)],
                request_key=f"k-{lot}-{seq}",
            )
            for seq in range(2, 1002)
            for lot in ("a", "b")
        ]
        await asyncio.gather(*futures)
        loaded = await load_house(store)
    rows = _rows(path)
    assert len(rows) == 2 * 1001
    assert rows[-1] == ("b", 1001, "k-b-1001")
    state = {lot.spec.id: lot.events[-1].seq for lot in loaded.lots}
    assert state == {"a": 1001, "b": 1001}


async def test_a_conflict_in_a_batch_fails_only_its_own_append(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    async with SqliteStore(str(path)) as store:
        await _open(store, ("a",))
        good = [store.append([BidPlaced("a", seq, seq, "u", 9, seq + 1, 2)]) for seq in (2, 3)]
        stale = store.append([BidPlaced("a", 3, 50, "v", 9, 51, 2)])  # seq 3 again: a conflict
        more = store.append([BidPlaced("a", 4, 4, "u", 9, 5, 2)])
        results = await asyncio.gather(*good, stale, more, return_exceptions=True)
    assert results[:2] == [None, None]
    assert isinstance(results[2], SeqConflict)
    assert results[3] is None
    assert [seq for _, seq, _ in _rows(path)] == [1, 2, 3, 4]


async def test_a_duplicate_request_key_fails_only_its_own_append(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    async with SqliteStore(str(path)) as store:
        await _open(store, ("a",))
        first = store.append([BidPlaced("a", 2, 2, "u", 9, 3, 2)], request_key="same")
        again = store.append([BidPlaced("a", 3, 3, "u", 9, 4, 2)], request_key="same")
        results = await asyncio.gather(first, again, return_exceptions=True)
    assert results[0] is None
    assert isinstance(results[1], Conflict)
    assert [seq for _, seq, _ in _rows(path)] == [1, 2]


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])
async def test_the_wal_is_presized_only_where_commits_fsync(
    tmp_path: Path, synchronous: str
) -> None:
    path = tmp_path / "x.db"
    async with SqliteStore(str(path), synchronous=synchronous):
        size = (tmp_path / "x.db-wal").stat().st_size
        tables = sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall()
    assert ("_wal_presize",) not in tables
    assert (size > 4_000_000) == (synchronous == "FULL")
