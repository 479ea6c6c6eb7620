"""What only SQLite has: durability settings, migrations, group commit."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bidwire.domain.events import BidPlaced, LotOpened
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.errors import SeqConflict
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
        house = await store.load()
        assert house.lots[0].events[0].seq == 1


async def test_a_lone_append_that_fails_leaves_no_transaction_open(tmp_path: Path) -> None:
    """One append in a commit runs without savepoints; its fault must still roll it back alone
    and leave the writer ready for the next one."""
    async with SqliteStore(str(tmp_path / "x.db")) as store:
        await store.add_sale(SaleSpec("s", "S", ("w",)), [LotSpec(id="w", title="W")])
        await store.append([LotOpened("w", 1, "s", "W", "", "USD", 100, 100, 9, 1)])
        await store.append([BidPlaced("w", 2, 100, "a", 9, 101, 2)], request_key="a\x00k")
        with pytest.raises(ValueError):  # the same request key twice
            await store.append([BidPlaced("w", 3, 101, "b", 9, 102, 3)], request_key="a\x00k")
        with pytest.raises(SeqConflict):
            await store.append([BidPlaced("w", 9, 101, "b", 9, 102, 3)])
        await store.append([BidPlaced("w", 3, 102, "b", 9, 103, 4)])
    async with SqliteStore(str(tmp_path / "x.db")) as store:
        house = await store.load()
        assert [e.seq for e in house.lots[0].events] == [1, 2, 3]
        assert house.request_keys == {"a\x00k": ("w", 2)}
