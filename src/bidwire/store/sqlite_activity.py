"""The activity tables of a SqliteStore (store/activity.py's contract), as a mixin: writes go
through the store's one writer, reads through its reader.

Why expression indexes on the log and not a ``bidder`` column: the append path (group commit,
bench/README.md) stays as it is; SQLite keeps these partial indexes itself, and a query using
the very same expression reads a person's events by them (``tests/store/test_activity_store``
checks the plan: a search of the index, never a scan of the log).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from bidwire.store.activity import BidCursor, NewNotice, NoticeRow

BIDDER = "json_extract(CAST(body AS TEXT), '$.bidder')"
WINNER = "json_extract(CAST(body AS TEXT), '$.winner')"
BIDS_WHERE = f"stream = 'lot' AND type IN ('bid_placed', 'max_raised') AND {BIDDER} = ?"
WON_WHERE = f"stream = 'lot' AND type = 'lot_closed' AND {WINNER} = ?"

MIGRATION = f"""
    CREATE INDEX events_bidder ON events({BIDDER}, ts)
        WHERE stream = 'lot' AND type IN ('bid_placed', 'max_raised');
    CREATE INDEX events_winner ON events({WINNER}, ts)
        WHERE stream = 'lot' AND type = 'lot_closed';
    CREATE TABLE watches (
        user_id INTEGER NOT NULL REFERENCES users(id),
        lot_id TEXT NOT NULL,
        since INTEGER NOT NULL,
        PRIMARY KEY (user_id, lot_id)
    ) WITHOUT ROWID;
    CREATE INDEX watches_lot ON watches(lot_id);
    CREATE TABLE notices (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        ts INTEGER NOT NULL,
        read INTEGER NOT NULL DEFAULT 0,
        body BLOB NOT NULL
    );
    CREATE INDEX notices_user ON notices(user_id, id);
"""
"""Migration 11: a person's bids and wins by index, watch lists and inboxes."""

USER_ID = "(SELECT id FROM users WHERE username = ?)"

# A person's reads name their index. Why: without statistics (the store never runs ANALYZE)
# SQLite prefers the log's primary key prefix (stream = 'lot') to a partial expression index,
# and so read every lot event of the store for one person: on a million bids (bench/pages.py)
# "my activity" took 2 to 6 s, its first page of bids 4 s and the lots outbid 2 s; by the
# index each read takes under a millisecond. ``stream`` in the ORDER BY (one value here) is
# the index's own order after ts, so a page sorts only the ties of one ts.
BY_BIDDER = "FROM events INDEXED BY events_bidder"
BY_WINNER = "FROM events INDEXED BY events_winner"
BIDS_ORDER = " ORDER BY ts DESC, stream DESC, lot_id DESC, seq DESC LIMIT ?"
BIDS_SQL = f"SELECT body {BY_BIDDER} WHERE {BIDS_WHERE}" + BIDS_ORDER
BIDS_BEFORE_SQL = (
    f"SELECT body {BY_BIDDER} WHERE {BIDS_WHERE} AND ts <= ?"
    " AND (ts < ? OR lot_id < ? OR (lot_id = ? AND seq < ?))" + BIDS_ORDER
)
BEST_SQL = (
    f"SELECT lot_id, MAX(json_extract(CAST(body AS TEXT), '$.amount')) {BY_BIDDER}"
    f" WHERE {BIDS_WHERE} AND ts >= ? GROUP BY lot_id"
)
WON_SQL = f"SELECT body {BY_WINNER} WHERE {WON_WHERE} ORDER BY ts DESC LIMIT ?"
OWED_SQL = (
    "SELECT json_extract(l.spec, '$.currency'), SUM(w.amount) FROM"
    " (SELECT lot_id, json_extract(CAST(body AS TEXT), '$.amount') AS amount"
    f" {BY_WINNER} WHERE {WON_WHERE}) w JOIN lots l ON l.id = w.lot_id GROUP BY 1"
)
READS = {"bids_by": BIDS_SQL, "bids_by before": BIDS_BEFORE_SQL, "best_bids": BEST_SQL,
         "won_by": WON_SQL, "owed_by": OWED_SQL}  # fmt: skip
"""Every read of a person's events, for the test of their plans."""


class SqliteActivity:
    def _submit(self, run: Callable[[sqlite3.Connection], None]) -> asyncio.Future[None]:
        raise NotImplementedError

    async def _read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        raise NotImplementedError

    async def bids_by(self, bidder: str, before: BidCursor | None, limit: int) -> list[bytes]:
        if before is None:
            sql = BIDS_SQL
            params: tuple[Any, ...] = (bidder,)
        else:
            ts, lot_id, seq = before
            sql = BIDS_BEFORE_SQL
            params = (bidder, ts, ts, lot_id, lot_id, seq)

        def read(conn: sqlite3.Connection) -> list[bytes]:
            return [bytes(row[0]) for row in conn.execute(sql, (*params, limit))]

        result: list[bytes] = await self._read(read)
        return result

    async def best_bids(self, bidder: str, lot_ids: Sequence[str], since_ms: int) -> dict[str, int]:
        wanted = set(lot_ids)
        if not wanted:
            return {}

        def read(conn: sqlite3.Connection) -> dict[str, int]:
            cur = conn.execute(BEST_SQL, (bidder, since_ms))
            return {str(lot): int(best) for lot, best in cur if lot in wanted and best is not None}

        result: dict[str, int] = await self._read(read)
        return result

    async def won_by(self, winner: str, limit: int) -> list[bytes]:
        def read(conn: sqlite3.Connection) -> list[bytes]:
            cur = conn.execute(WON_SQL, (winner, limit))
            return [bytes(row[0]) for row in cur]

        result: list[bytes] = await self._read(read)
        return result

    async def owed_by(self, winner: str) -> dict[str, int]:
        def read(conn: sqlite3.Connection) -> dict[str, int]:
            cur = conn.execute(OWED_SQL, (winner,))
            return {str(currency): int(total) for currency, total in cur if total is not None}

        result: dict[str, int] = await self._read(read)
        return result

    async def watches(self, username: str) -> list[str]:
        def read(conn: sqlite3.Connection) -> list[str]:
            cur = conn.execute(
                f"SELECT lot_id FROM watches WHERE user_id = {USER_ID} ORDER BY since, lot_id",
                (username,),
            )
            return [str(row[0]) for row in cur]

        result: list[str] = await self._read(read)
        return result

    async def set_watch(self, username: str, lot_id: str, on: bool, now_ms: int) -> None:
        def run(conn: sqlite3.Connection) -> None:
            if on:
                conn.execute(
                    "INSERT OR IGNORE INTO watches (user_id, lot_id, since)"
                    " SELECT id, ?, ? FROM users WHERE username = ?",
                    (lot_id, now_ms, username),
                )
            else:
                conn.execute(
                    f"DELETE FROM watches WHERE user_id = {USER_ID} AND lot_id = ?",
                    (username, lot_id),
                )

        await self._submit(run)

    async def watchers(self, lot_id: str) -> list[str]:
        def read(conn: sqlite3.Connection) -> list[str]:
            cur = conn.execute(
                "SELECT u.username FROM watches w JOIN users u ON u.id = w.user_id"
                " WHERE w.lot_id = ? ORDER BY u.id",
                (lot_id,),
            )
            return [str(row[0]) for row in cur]

        result: list[str] = await self._read(read)
        return result

    async def add_notices(self, notices: Sequence[NewNotice], keep: int) -> list[int | None]:
        ids: list[int | None] = []

        def run(conn: sqlite3.Connection) -> None:
            ids.clear()  # a retried job starts again
            touched: set[int] = set()
            for notice in notices:
                row = conn.execute(
                    "SELECT id FROM users WHERE username = ?", (notice.username,)
                ).fetchone()
                if row is None:
                    ids.append(None)
                    continue
                cur = conn.execute(
                    "INSERT INTO notices (user_id, ts, body) VALUES (?, ?, ?)",
                    (row[0], notice.ts, notice.body),
                )
                ids.append(cur.lastrowid)
                touched.add(int(row[0]))
            for user_id in touched:
                conn.execute(
                    "DELETE FROM notices WHERE user_id = ? AND id <= (SELECT id FROM notices"
                    " WHERE user_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (user_id, user_id, keep),
                )

        await self._submit(run)
        return list(ids)

    async def notices(self, username: str, limit: int) -> list[NoticeRow]:
        def read(conn: sqlite3.Connection) -> list[NoticeRow]:
            cur = conn.execute(
                f"SELECT id, read, body FROM notices WHERE user_id = {USER_ID}"
                " ORDER BY id DESC LIMIT ?",
                (username, limit),
            )
            return [NoticeRow(int(i), bool(r), bytes(b)) for i, r, b in cur]

        result: list[NoticeRow] = await self._read(read)
        return result

    async def unread_notices(self, username: str) -> int:
        def read(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                f"SELECT COUNT(*) FROM notices WHERE user_id = {USER_ID} AND read = 0",
                (username,),
            ).fetchone()
            return int(row[0])

        result: int = await self._read(read)
        return result

    async def mark_notices_read(self, username: str, up_to: int | None) -> int:
        marked: list[int] = [0]

        def run(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                f"UPDATE notices SET read = 1 WHERE user_id = {USER_ID} AND read = 0 AND id <= ?",
                (username, up_to if up_to is not None else 2**62),
            )
            marked[0] = cur.rowcount

        await self._submit(run)
        return marked[0]
