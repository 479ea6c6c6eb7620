"""The bid-history reads of the in-memory store (store/history.py's contract): scans, since it
only serves tests and throwaway demos; the SQLite store reads by key and index."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from bidwire.domain.events import BidPlaced, BidVoided
from bidwire.store.base import StoredLot
from bidwire.store.history import HistoryCursor


class MemoryHistory:
    lots: dict[str, StoredLot]

    def _placed(self, lot_ids: Sequence[str]) -> list[BidPlaced]:
        return [
            e
            for lot_id in dict.fromkeys(lot_ids)
            if lot_id in self.lots
            for e in self.lots[lot_id].events
            if isinstance(e, BidPlaced)
        ]

    @staticmethod
    def _page(bids: list[BidPlaced], before: HistoryCursor | None, limit: int) -> list[bytes]:
        kept = [e for e in bids if before is None or (e.ts, e.lot, e.seq) < before]
        kept.sort(key=lambda e: (e.ts, e.lot, e.seq), reverse=True)
        return [msgspec.json.encode(e) for e in kept[: max(0, limit)]]

    async def bids_of_lots(
        self, lot_ids: Sequence[str], before: HistoryCursor | None, limit: int
    ) -> list[bytes]:
        return self._page(self._placed(lot_ids), before, limit)

    async def bids_placed_by(
        self, bidder: str, before: HistoryCursor | None, limit: int
    ) -> list[bytes]:
        mine = [e for e in self._placed(list(self.lots)) if e.bidder == bidder]
        return self._page(mine, before, limit)

    async def voids_of(self, lot_ids: Sequence[str]) -> list[bytes]:
        return [
            msgspec.json.encode(e)
            for lot_id in dict.fromkeys(lot_ids)
            if lot_id in self.lots
            for e in self.lots[lot_id].events
            if isinstance(e, BidVoided)
        ]
