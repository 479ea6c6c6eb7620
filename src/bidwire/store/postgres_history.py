"""The bid-history reads of a PostgresStore (store/history.py's contract), as a mixin: reads
go through ``await self._read(read)`` (``async def read(conn)`` on a pooled connection).

How each read finds its rows (``tests/store/test_postgres_plans.py`` checks the plans on a
store big and analysed enough that a scan would show):
- A sale's bids go by the log's primary key (stream, lot_id, seq), one range per lot of the
  sale (``lot_id = ANY($1)``), then a top-N sort of those rows by (ts, lot, seq): the cost is
  the sale's size, never the log's. No chunks: an array is one parameter, however many lots.
- A bidder's bids go by the expression index ``events_bidder`` (bidder, ts) of
  store/postgres_schema.py, the query repeating its expression; its partial predicate (bids
  and maximums) is implied by ``type = 'bid_placed'``. Walked backwards by ts, the ties of
  one ts are sorted by (lot, seq) as they come (an incremental sort), so a page reads about
  ``limit`` index entries.
- Voids go by the primary key's (stream, lot_id) prefix of each lot asked for.

Lots compare ``COLLATE "C"`` (code points), as in SQLite and Python, so that a cursor means
the same on every store whatever the database's default collation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bidwire.store.history import HistoryCursor
from bidwire.store.postgres_activity import (
    BIDDER,
    NEWEST,
    OLDER,
    storable,
    storable_cursor,
    storable_ids,
)

SALE_BIDS_SQL = (
    "SELECT body FROM events WHERE stream = 'lot' AND type = 'bid_placed'"
    " AND lot_id = ANY($1::text[])"
)
BIDDER_BIDS_SQL = (
    f"SELECT body FROM events WHERE stream = 'lot' AND type = 'bid_placed' AND {BIDDER} = $1"
)
VOIDS_SQL = (
    "SELECT body FROM events WHERE stream = 'lot' AND type = 'bid_voided'"
    " AND lot_id = ANY($1::text[])"
)


def page_sql(where: str, before: HistoryCursor | None) -> tuple[str, tuple[Any, ...]]:
    """``where`` (whose one parameter is $1) newest first, older than ``before``: the SQL and
    the parameters after $1; the limit is the last."""
    if before is None:
        return where + NEWEST + "$2", ()
    ts, lot_id, seq = storable_cursor(before)
    return where + OLDER + NEWEST + "$5", (ts, lot_id, seq)


READS = {
    "bids_of_lots": (page_sql(SALE_BIDS_SQL, None)[0], (["a", "b"], 10)),
    "bids_of_lots before": (page_sql(SALE_BIDS_SQL, (5, "a", 3))[0], (["a", "b"], 5, "a", 3, 10)),
    "bids_placed_by": (page_sql(BIDDER_BIDS_SQL, None)[0], ("ann", 10)),
    "bids_placed_by before": (page_sql(BIDDER_BIDS_SQL, (5, "a", 3))[0], ("ann", 5, "a", 3, 10)),
}  # fmt: skip
"""Every read a page of history makes, with parameters, for the test of their plans."""


class PostgresHistory:
    async def _read(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        raise NotImplementedError

    async def _page(
        self, where: str, first: Any, before: HistoryCursor | None, limit: int
    ) -> list[bytes]:
        sql, cursor = page_sql(where, before)

        async def read(conn: Any) -> list[bytes]:
            rows = await conn.fetch(sql, first, *cursor, limit)
            return [bytes(row[0]) for row in rows]

        result: list[bytes] = await self._read(read)
        return result

    async def bids_of_lots(
        self, lot_ids: Sequence[str], before: HistoryCursor | None, limit: int
    ) -> list[bytes]:
        ids = storable_ids(lot_ids)
        if not ids or limit <= 0:
            return []
        return await self._page(SALE_BIDS_SQL, ids, before, limit)

    async def bids_placed_by(
        self, bidder: str, before: HistoryCursor | None, limit: int
    ) -> list[bytes]:
        if limit <= 0 or not storable(bidder):
            return []
        return await self._page(BIDDER_BIDS_SQL, bidder, before, limit)

    async def voids_of(self, lot_ids: Sequence[str]) -> list[bytes]:
        ids = storable_ids(lot_ids)
        if not ids:
            return []

        async def read(conn: Any) -> list[bytes]:
            return [bytes(row[0]) for row in await conn.fetch(VOIDS_SQL, ids)]

        result: list[bytes] = await self._read(read)
        return result
