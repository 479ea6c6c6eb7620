"""What only SQLite has: durability settings, migrations, group commit."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bidwire.domain.events import BidPlaced, LotOpened
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
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
