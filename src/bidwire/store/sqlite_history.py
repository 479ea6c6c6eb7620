"""The bid-history reads of a SqliteStore (store/history.py's contract), as a mixin.

How each read finds its rows (``tests/store/test_history_store.py`` checks the plans):
- A sale's bids go by the log's primary key (stream, lot_id, seq): one range per lot of the
  sale, then a sort of those rows by (ts, lot, seq) that keeps only the page (SQLite's sorter
  with a LIMIT keeps the top N). A sale of 10,000 bids is read in milliseconds; the cost is
  the sale's size, never the log's.
- A bidder's bids go by the expression index ``events_bidder`` (bidder, ts) of migration 11:
  the query repeats its expression and its WHERE clause exactly, and names the index
  (``INDEXED BY``): without statistics SQLite's planner would rather walk the whole log by
  the primary key's ``stream`` to save the sort (it does so for activity's ``bids_by``).
- Voids go by the primary key's (stream, lot_id) prefix of each lot asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bidwire.store.history import HistoryCursor
from bidwire.store.sqlite_activity import BIDS_WHERE

CHUNK = 500
"""Lot ids per ``IN (...)``: well under SQLite's parameter limit."""

_OLDER = " AND ts <= ? AND (ts < ? OR lot_id < ? OR (lot_id = ? AND seq < ?))"
_ORDER = " ORDER BY ts DESC, lot_id DESC, seq DESC LIMIT ?"


def _older(before: HistoryCursor | None) -> tuple[str, tuple[Any, ...]]:
    if before is None:
        return "", ()
    ts, lot_id, seq = before
    return _OLDER, (ts, ts, lot_id, lot_id, seq)


def sale_bids_sql(count: int, with_cursor: bool, *, keyed: bool = False) -> str:
    marks = ",".join("?" * count)
    columns = "ts, lot_id, seq, body" if keyed else "body"
    return (
        f"SELECT {columns} FROM events WHERE stream = 'lot' AND type = 'bid_placed'"
        f" AND lot_id IN ({marks})" + (_OLDER if with_cursor else "") + _ORDER
    )


def bidder_bids_sql(with_cursor: bool) -> str:
    return (
        f"SELECT body FROM events INDEXED BY events_bidder WHERE {BIDS_WHERE}"
        " AND type = 'bid_placed'" + (_OLDER if with_cursor else "") + _ORDER
    )


class SqliteHistory:
    async def _read(self, fn: Callable[[Any], Any]) -> Any:
        raise NotImplementedError

    async def bids_of_lots(
        self, lot_ids: Sequence[str], before: HistoryCursor | None, limit: int
    ) -> list[bytes]:
        ids = list(dict.fromkeys(lot_ids))
        if not ids or limit <= 0:
            return []
        _, cursor_params = _older(before)

        def read(conn: Any) -> list[bytes]:
            # A sale of more lots than one IN holds: each chunk's newest ``limit``, merged.
            rows: list[tuple[int, str, int, bytes]] = []
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                sql = sale_bids_sql(len(chunk), before is not None, keyed=True)
                cur = conn.execute(sql, (*chunk, *cursor_params, limit))
                rows += [(int(t), str(lot), int(s), bytes(b)) for t, lot, s, b in cur]
            if len(ids) > CHUNK:
                rows.sort(key=lambda row: row[:3], reverse=True)
            return [row[3] for row in rows[:limit]]

        result: list[bytes] = await self._read(read)
        return result

    async def bids_placed_by(
        self, bidder: str, before: HistoryCursor | None, limit: int
    ) -> list[bytes]:
        if limit <= 0:
            return []
        _, cursor_params = _older(before)
        sql = bidder_bids_sql(before is not None)

        def read(conn: Any) -> list[bytes]:
            cur = conn.execute(sql, (bidder, *cursor_params, limit))
            return [bytes(row[0]) for row in cur]

        result: list[bytes] = await self._read(read)
        return result

    async def voids_of(self, lot_ids: Sequence[str]) -> list[bytes]:
        ids = list(dict.fromkeys(lot_ids))
        if not ids:
            return []

        def read(conn: Any) -> list[bytes]:
            found: list[bytes] = []
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                marks = ",".join("?" * len(chunk))
                cur = conn.execute(
                    "SELECT body FROM events WHERE stream = 'lot' AND type = 'bid_voided'"
                    f" AND lot_id IN ({marks})",
                    chunk,
                )
                found += [bytes(row[0]) for row in cur]
            return found

        result: list[bytes] = await self._read(read)
        return result
