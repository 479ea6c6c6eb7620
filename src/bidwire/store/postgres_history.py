"""The bid-history reads of a PostgresStore (store/history.py's contract), as a mixin.

A placeholder: the PostgreSQL versions of SqliteHistory's reads come here; reads go through
``await self._read(read)`` (``async def read(conn)`` on a pooled asyncpg connection).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bidwire.store.history import HistoryCursor

TODO = "not yet on PostgreSQL (store/postgres_history.py)"


class PostgresHistory:
    async def _read(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        raise NotImplementedError

    async def bids_of_lots(
        self, lot_ids: Sequence[str], before: HistoryCursor | None, limit: int
    ) -> list[bytes]:
        raise NotImplementedError(TODO)

    async def bids_placed_by(
        self, bidder: str, before: HistoryCursor | None, limit: int
    ) -> list[bytes]:
        raise NotImplementedError(TODO)

    async def voids_of(self, lot_ids: Sequence[str]) -> list[bytes]:
        raise NotImplementedError(TODO)
