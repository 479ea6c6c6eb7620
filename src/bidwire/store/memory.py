"""An in-memory store with the same contract, for tests and throwaway demos."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import msgspec

from bidwire.domain.events import BidPlaced, LotEvent
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.errors import SeqConflict, StoreUnavailable
from bidwire.store.base import StoredHouse, StoredLot, StoredSale


class MemoryStore:
    def __init__(self) -> None:
        self.sales: dict[str, StoredSale] = {}
        self.lots: dict[str, StoredLot] = {}
        self.request_keys: dict[str, tuple[str, int]] = {}
        self.fail_appends = False
        """Tests set this to see how the engine survives a store that cannot commit."""

    async def load(self) -> StoredHouse:
        return StoredHouse(
            sales=list(self.sales.values()),
            lots=[
                StoredLot(lot.spec, lot.sale, lot.mode, list(lot.events))
                for lot in self.lots.values()
            ],
            request_keys=dict(self.request_keys),
        )

    async def add_sale(self, sale: SaleSpec, lots: Sequence[LotSpec]) -> None:
        if sale.id in self.sales or any(lot.id in self.lots for lot in lots):
            raise ValueError(f"sale {sale.id} or one of its lots already exists")
        self.sales[sale.id] = StoredSale(sale)
        for lot in lots:
            self.lots[lot.id] = StoredLot(lot, sale.id, sale.mode)

    def append(
        self, events: Sequence[LotEvent], request_key: str | None = None
    ) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stored = self.lots[events[0].lot]
        have = stored.events[-1].seq if stored.events else 0
        if self.fail_appends:
            future.set_exception(StoreUnavailable("the store is failing on purpose"))
        elif events[0].seq != have + 1:
            future.set_exception(SeqConflict(f"lot {stored.spec.id} is at seq {have}"))
        else:
            stored.events.extend(events)
            if request_key is not None:
                self.request_keys[request_key] = (events[0].lot, events[0].seq)
            future.set_result(None)
        return future

    async def mark_sale(
        self, sale_id: str, *, started_at: int | None = None, ended_at: int | None = None
    ) -> None:
        sale = self.sales[sale_id]
        if started_at is not None:
            sale.started_at = started_at
        if ended_at is not None:
            sale.ended_at = ended_at

    async def events_since(self, lot_id: str, since_seq: int, limit: int) -> list[bytes]:
        events = self.lots[lot_id].events
        return [msgspec.json.encode(ev) for ev in events[since_seq : since_seq + limit]]

    async def bid_history(self, lot_id: str, before_seq: int | None, limit: int) -> list[bytes]:
        events = self.lots[lot_id].events
        bids = [
            ev
            for ev in reversed(events)
            if isinstance(ev, BidPlaced) and (before_seq is None or ev.seq < before_seq)
        ]
        return [msgspec.json.encode(ev) for ev in bids[:limit]]
