"""The activity reads and writes of a PostgresStore (store/activity.py's contract), as a mixin.

A placeholder: the PostgreSQL versions of SqliteActivity's queries come here (its tables and
the ``events_bidder``/``events_winner`` indexes are in postgres_schema.py). Writes go through
``self._submit(run)`` (``run`` an ``async def run(conn)``: the store's one writer, in order with
the appends), reads through ``await self._read(read)`` (``read(conn)`` on a pooled connection).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bidwire.store.activity import BidCursor, NewNotice, NoticeRow

TODO = "not yet on PostgreSQL (store/postgres_activity.py)"


class PostgresActivity:
    def _submit(self, run: Callable[[Any], Awaitable[None]]) -> asyncio.Future[None]:
        raise NotImplementedError

    async def _read(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        raise NotImplementedError

    async def bids_by(self, bidder: str, before: BidCursor | None, limit: int) -> list[bytes]:
        raise NotImplementedError(TODO)

    async def best_bids(self, bidder: str, lot_ids: Sequence[str], since_ms: int) -> dict[str, int]:
        raise NotImplementedError(TODO)

    async def won_by(self, winner: str, limit: int) -> list[bytes]:
        raise NotImplementedError(TODO)

    async def owed_by(self, winner: str) -> dict[str, int]:
        raise NotImplementedError(TODO)

    async def watches(self, username: str) -> list[str]:
        raise NotImplementedError(TODO)

    async def set_watch(self, username: str, lot_id: str, on: bool, now_ms: int) -> None:
        raise NotImplementedError(TODO)

    async def watchers(self, lot_id: str) -> list[str]:
        raise NotImplementedError(TODO)

    async def add_notices(self, notices: Sequence[NewNotice], keep: int) -> list[int | None]:
        raise NotImplementedError(TODO)

    async def notices(self, username: str, limit: int) -> list[NoticeRow]:
        raise NotImplementedError(TODO)

    async def unread_notices(self, username: str) -> int:
        raise NotImplementedError(TODO)

    async def mark_notices_read(self, username: str, up_to: int | None) -> int:
        raise NotImplementedError(TODO)
