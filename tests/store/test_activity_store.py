"""The store's activity part (store/activity.py), one contract over every scheme: a person's
bids and wins by who, watch lists and inboxes; and SQLite reads them by index."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from bidwire.domain.events import BidPlaced, LotClosed, LotEvent, LotOpened, MaxRaised
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.store import Store, open_store
from bidwire.store.activity import NewNotice
from bidwire.store.base import EVENT_DECODER
from bidwire.store.sqlite import MIGRATIONS, connect, migrate
from bidwire.store.sqlite_activity import BIDS_WHERE, WON_WHERE
from tests.store.any_store import KINDS, store_of, store_url

LOTS = [LotSpec(id="w", title="Watch"), LotSpec(id="v", title="Vase", currency="EUR")]
SALE = SaleSpec("s", "Sale", ("w", "v"), mode="timed")


def opened(lot: str) -> LotOpened:
    return LotOpened(lot, 1, "s", lot, "", "USD", 100, 100, 90_000, 1_000)


def bid(lot: str, seq: int, amount: int, who: str, ts: int, top: int | None = None) -> BidPlaced:
    return BidPlaced(lot, seq, amount, who, 90_000, amount + 10, ts, max_amount=top)


async def append(store: Store, events: list[LotEvent]) -> None:
    await store.append(events)


@pytest.fixture(params=KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with store_of(request.param, tmp_path) as opened_store:
        await opened_store.add_sale(SALE, LOTS)
        await opened_store.create_user("ann", "bidder", "x", 0)
        await opened_store.create_user("bob", "bidder", "x", 0)
        yield opened_store


async def log_two_lots(store: Store) -> None:
    await append(
        store, [opened("w"), bid("w", 2, 100, "ann", 2_000), bid("w", 3, 200, "bob", 3_000)]
    )
    await append(store, [MaxRaised("w", 4, 3_500, "bob", 900)])
    await append(store, [LotClosed("w", 5, "sold", "bob", 200, 9_000)])
    await append(store, [opened("v"), bid("v", 2, 500, "ann", 3_000, top=700)])
    await append(store, [bid("v", 3, 600, "bob", 4_000), bid("v", 4, 610, "ann", 4_000)])
    await append(store, [LotClosed("v", 5, "sold", "ann", 610, 9_500)])


def seqs(bodies: list[bytes]) -> list[tuple[str, int]]:
    events = [EVENT_DECODER.decode(body) for body in bodies]
    return [(e.lot, e.seq) for e in events]


async def test_a_persons_bids_newest_first_a_page_at_a_time(store: Store) -> None:
    await log_two_lots(store)
    assert seqs(await store.bids_by("ann", None, 10)) == [("v", 4), ("v", 2), ("w", 2)]
    assert seqs(await store.bids_by("bob", None, 10)) == [("v", 3), ("w", 4), ("w", 3)]
    first = seqs(await store.bids_by("ann", None, 1))
    assert first == [("v", 4)]
    # the same ms on two bids: the cursor is (ts, lot, seq), so none is lost or repeated
    assert seqs(await store.bids_by("ann", (4_000, "v", 4), 10)) == [("v", 2), ("w", 2)]
    assert seqs(await store.bids_by("bob", (4_000, "v", 3), 10)) == [("w", 4), ("w", 3)]
    assert await store.bids_by("nobody", None, 10) == []
    assert await store.best_bids("ann", ["w", "v"], 0) == {"w": 100, "v": 610}
    assert await store.best_bids("ann", ["w"], 2_500) == {}


async def test_what_a_person_won_and_owes_per_currency(store: Store) -> None:
    await log_two_lots(store)
    won = [EVENT_DECODER.decode(body) for body in await store.won_by("bob", 10)]
    assert [(e.lot, e.seq) for e in won] == [("w", 5)]
    assert await store.owed_by("bob") == {"USD": 200}
    assert await store.owed_by("ann") == {"EUR": 610}
    assert await store.owed_by("nobody") == {}


async def test_watch_lists_are_accounts_own(store: Store) -> None:
    await store.set_watch("ann", "w", True, 1)
    await store.set_watch("ann", "v", True, 2)
    await store.set_watch("ann", "w", True, 3)  # already: stays first
    await store.set_watch("bob", "v", True, 4)
    await store.set_watch("guest-1", "v", True, 5)  # no such account: kept nowhere
    assert await store.watches("ann") == ["w", "v"]
    assert await store.watches("ANN") == ["w", "v"]  # a username, whatever its case
    assert sorted(await store.watchers("v")) == ["ann", "bob"]
    await store.set_watch("ann", "v", False, 6)
    assert await store.watches("ann") == ["w"]
    assert await store.watchers("v") == ["bob"]
    assert await store.watches("guest-1") == []


async def test_an_inbox_keeps_the_newest_and_marks_read(store: Store) -> None:
    body = msgspec.json.encode({"n": 1})
    ids = await store.add_notices(
        [NewNotice("ann", 1, body), NewNotice("guest-1", 1, body), NewNotice("bob", 1, body)], 3
    )
    assert ids[1] is None and ids[0] is not None and ids[2] is not None
    for step in range(4):
        await store.add_notices([NewNotice("ann", 2 + step, msgspec.json.encode(step))], 3)
    rows = await store.notices("ann", 10)
    assert [msgspec.json.decode(r.body) for r in rows] == [3, 2, 1]  # the oldest two dropped
    assert [r.id for r in rows] == sorted((r.id for r in rows), reverse=True)
    assert await store.unread_notices("ann") == 3
    assert await store.mark_notices_read("ann", rows[1].id) == 2
    assert [r.read for r in await store.notices("ann", 10)] == [False, True, True]
    assert await store.mark_notices_read("ann", None) == 1
    assert await store.unread_notices("ann") == 0
    assert await store.unread_notices("bob") == 1  # another's inbox is untouched
    assert await store.notices("guest-1", 10) == []


def plan(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> str:
    rows = conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return " | ".join(str(row[-1]) for row in rows)


def test_sqlite_finds_a_persons_events_by_index_not_by_a_scan(tmp_path: Path) -> None:
    conn = connect(str(tmp_path / "p.db"), "NORMAL")
    migrate(conn)
    bids = plan(conn, f"SELECT body FROM events WHERE {BIDS_WHERE} ORDER BY ts DESC", ("ann",))
    assert "USING INDEX events_bidder" in bids and "SCAN events" not in bids, bids
    won = plan(conn, f"SELECT body FROM events WHERE {WON_WHERE} ORDER BY ts DESC", ("ann",))
    assert "USING INDEX events_winner" in won and "SCAN events" not in won, won
    conn.close()


def test_migration_11_indexes_the_bids_logged_before_it(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    conn = connect(path, "NORMAL")
    for number, script in enumerate(MIGRATIONS[:8], start=1):
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version={number}")
    old_bid = msgspec.json.encode(bid("w", 2, 100, "ann", 2_000))
    conn.execute(
        "INSERT INTO events (stream, lot_id, seq, type, ts, body) VALUES ('lot','w',2,?,?,?)",
        ("bid_placed", 2_000, old_bid),
    )
    migrate(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) >= 11
    found = conn.execute(
        f"SELECT body FROM events INDEXED BY events_bidder WHERE {BIDS_WHERE}", ("ann",)
    ).fetchall()
    assert [bytes(row[0]) for row in found] == [old_bid]
    conn.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_watch_lists_and_inboxes_outlive_a_restart(kind: str, tmp_path: Path) -> None:
    async with store_url(kind, tmp_path) as url:
        async with open_store(url) as first:
            await first.add_sale(SALE, LOTS)
            await first.create_user("ann", "bidder", "x", 0)
            await first.set_watch("ann", "v", True, 1)
            await first.add_notices([NewNotice("ann", 2, b'{"n":1}')], 10)
        async with open_store(url) as again:
            assert await again.watches("ann") == ["v"]
            notices = await again.notices("ann", 10)
            assert [(r.body, r.read) for r in notices] == [(b'{"n":1}', False)]
