"""The activity reads and writes of a PostgresStore (store/activity.py's contract), as a mixin:
writes go through ``self._submit(run)`` (the store's one writer, in order with the appends;
``run`` may run twice, in a batch and then alone, so it starts each time afresh), reads
through ``await self._read(read)`` on a pooled connection.

Why expression indexes on the log (``events_bidder``, ``events_winner``, in
store/postgres_schema.py) and not a ``bidder`` column: the append path stays SQLite's, and
PostgreSQL keeps the partial indexes itself. Each read repeats the index's very expression
(``event_doc(body) ->> 'bidder'``) so the planner can use it; unlike SQLite's, PostgreSQL's
planner has statistics and needs no ``INDEXED BY`` (``tests/store/test_postgres_plans.py``
checks the plans on an analysed store of many bids).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bidwire.store.activity import BidCursor, NewNotice, NoticeRow

BIDDER = "event_doc(body) ->> 'bidder'"
WINNER = "event_doc(body) ->> 'winner'"
BIDS_WHERE = f"stream = 'lot' AND type IN ('bid_placed', 'max_raised') AND {BIDDER} = $1"
WON_WHERE = f"stream = 'lot' AND type = 'lot_closed' AND {WINNER} = $1"

OLDER = ' AND ts <= $2 AND (ts < $2 OR lot_id COLLATE "C" < $3 OR (lot_id = $3 AND seq < $4))'
"""Strictly older than the cursor (ts, lot, seq), $2 to $4; ``ts <= $2`` bounds the index."""
NEWEST = ' ORDER BY ts DESC, lot_id COLLATE "C" DESC, seq DESC LIMIT '
"""Newest first by (ts, lot, seq), lots by code point as SQLite and Python order them."""

BIDS_SQL = f"SELECT body FROM events WHERE {BIDS_WHERE}" + NEWEST + "$2"
BIDS_BEFORE_SQL = f"SELECT body FROM events WHERE {BIDS_WHERE}" + OLDER + NEWEST + "$5"
BEST_SQL = (
    "SELECT lot_id, MAX((event_doc(body) ->> 'amount')::bigint) FROM events"
    f" WHERE {BIDS_WHERE} AND ts >= $2 AND lot_id = ANY($3::text[]) GROUP BY lot_id"
)
WON_SQL = f"SELECT body FROM events WHERE {WON_WHERE} ORDER BY ts DESC LIMIT $2"
OWED_SQL = (
    "SELECT l.spec ->> 'currency', SUM((event_doc(e.body) ->> 'amount')::bigint)::bigint"
    " FROM events e JOIN lots l ON l.id = e.lot_id WHERE e.stream = 'lot'"
    " AND e.type = 'lot_closed' AND event_doc(e.body) ->> 'winner' = $1 GROUP BY 1"
)

READS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "bids_by": (BIDS_SQL, ("ann", 10)),
    "bids_by before": (BIDS_BEFORE_SQL, ("ann", 5, "lot", 3, 10)),
    "best_bids": (BEST_SQL, ("ann", 0, ["lot"])),
    "won_by": (WON_SQL, ("ann", 10)),
    "owed_by": (OWED_SQL, ("ann",)),
}
"""Every read of a person's events, with parameters, for the test of their plans."""

FAR = 2**62
"""Above every seq and id."""


def storable(text: str) -> bool:
    """Whether PostgreSQL's text can hold ``text``: it cannot hold a NUL, so no stored name or
    id has one, and a read for one (a crafted URL) finds nothing, as on SQLite, instead of a
    driver error that a caller would report as the store being unavailable."""
    return "\x00" not in text


def storable_ids(ids: Sequence[str]) -> list[str]:
    """``ids`` once each, in order, less those no stored one can be (``storable``)."""
    return [i for i in dict.fromkeys(ids) if storable(i)]


def storable_cursor(before: tuple[int, str, int]) -> tuple[int, str, int]:
    """The same bound as ``before`` with a lot that text can hold: a stored lot x (no NUL)
    sorts before a lot L = P + NUL + ... exactly when x <= P (a longer x starting with P has a
    character above NUL where L has the NUL), so (ts, L, seq) bounds as (ts, P, FAR) does."""
    ts, lot, _ = before
    if storable(lot):
        return before
    return ts, lot[: lot.index("\x00")], FAR


USER_ID = "(SELECT id FROM users WHERE username = $1)"
"""The account's id (``username`` compares without case: its column's collation)."""


class PostgresActivity:
    def _submit(self, run: Callable[[Any], Awaitable[None]]) -> asyncio.Future[None]:
        raise NotImplementedError

    async def _read(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        raise NotImplementedError

    async def _rows(self, sql: str, *args: Any) -> list[Any]:
        async def read(conn: Any) -> list[Any]:
            return list(await conn.fetch(sql, *args))

        result: list[Any] = await self._read(read)
        return result

    async def bids_by(self, bidder: str, before: BidCursor | None, limit: int) -> list[bytes]:
        if not storable(bidder):
            return []
        if before is None:
            rows = await self._rows(BIDS_SQL, bidder, limit)
        else:
            ts, lot_id, seq = storable_cursor(before)
            rows = await self._rows(BIDS_BEFORE_SQL, bidder, ts, lot_id, seq, limit)
        return [bytes(row[0]) for row in rows]

    async def best_bids(self, bidder: str, lot_ids: Sequence[str], since_ms: int) -> dict[str, int]:
        ids = storable_ids(lot_ids)
        if not ids or not storable(bidder):
            return {}
        rows = await self._rows(BEST_SQL, bidder, since_ms, ids)
        return {str(lot): int(best) for lot, best in rows if best is not None}

    async def won_by(self, winner: str, limit: int) -> list[bytes]:
        if not storable(winner):
            return []
        return [bytes(row[0]) for row in await self._rows(WON_SQL, winner, limit)]

    async def owed_by(self, winner: str) -> dict[str, int]:
        if not storable(winner):
            return {}
        rows = await self._rows(OWED_SQL, winner)
        return {str(currency): int(total) for currency, total in rows if total is not None}

    async def watches(self, username: str) -> list[str]:
        if not storable(username):
            return []
        rows = await self._rows(
            f"SELECT lot_id FROM watches WHERE user_id = {USER_ID}"
            ' ORDER BY since, lot_id COLLATE "C"',
            username,
        )
        return [str(row[0]) for row in rows]

    async def set_watch(self, username: str, lot_id: str, on: bool, now_ms: int) -> None:
        if not (storable(username) and storable(lot_id)):
            return  # no account has such a name, no lot such an id

        async def run(conn: Any) -> None:
            if on:
                await conn.execute(
                    "INSERT INTO watches (user_id, lot_id, since)"
                    " SELECT id, $2, $3 FROM users WHERE username = $1 ON CONFLICT DO NOTHING",
                    username,
                    lot_id,
                    now_ms,
                )
            else:
                await conn.execute(
                    f"DELETE FROM watches WHERE user_id = {USER_ID} AND lot_id = $2",
                    username,
                    lot_id,
                )

        await self._submit(run)

    async def watchers(self, lot_id: str) -> list[str]:
        if not storable(lot_id):
            return []
        rows = await self._rows(
            "SELECT u.username FROM watches w JOIN users u ON u.id = w.user_id"
            " WHERE w.lot_id = $1 ORDER BY u.id",
            lot_id,
        )
        return [str(row[0]) for row in rows]

    async def add_notices(self, notices: Sequence[NewNotice], keep: int) -> list[int | None]:
        ids: list[int | None] = []

        async def run(conn: Any) -> None:
            ids.clear()  # a job run again (alone, after its batch failed) starts afresh
            touched: set[int] = set()
            for notice in notices:
                if not storable(notice.username):
                    ids.append(None)
                    continue
                user_id = await conn.fetchval(
                    "SELECT id FROM users WHERE username = $1", notice.username
                )
                if user_id is None:
                    ids.append(None)
                    continue
                ids.append(
                    await conn.fetchval(
                        "INSERT INTO notices (user_id, ts, body) VALUES ($1, $2, $3) RETURNING id",
                        user_id,
                        notice.ts,
                        notice.body,
                    )
                )
                touched.add(int(user_id))
            for user_id in sorted(touched):
                await conn.execute(
                    "DELETE FROM notices WHERE user_id = $1 AND id <= (SELECT id FROM notices"
                    " WHERE user_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
                    user_id,
                    keep,
                )

        await self._submit(run)
        return list(ids)

    async def notices(self, username: str, limit: int) -> list[NoticeRow]:
        if not storable(username):
            return []
        rows = await self._rows(
            f"SELECT id, read, body FROM notices WHERE user_id = {USER_ID}"
            " ORDER BY id DESC LIMIT $2",
            username,
            limit,
        )
        return [NoticeRow(int(i), bool(r), bytes(b)) for i, r, b in rows]

    async def unread_notices(self, username: str) -> int:
        if not storable(username):
            return 0
        rows = await self._rows(
            f"SELECT COUNT(*) FROM notices WHERE user_id = {USER_ID} AND read = 0", username
        )
        return int(rows[0][0])

    async def mark_notices_read(self, username: str, up_to: int | None) -> int:
        marked = [0]
        if not storable(username):
            return 0

        async def run(conn: Any) -> None:
            status = await conn.execute(
                f"UPDATE notices SET read = 1 WHERE user_id = {USER_ID} AND read = 0 AND id <= $2",
                username,
                up_to if up_to is not None else FAR,
            )
            marked[0] = int(status.split()[-1])  # "UPDATE n"

        await self._submit(run)
        return marked[0]
