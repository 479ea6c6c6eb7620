"""Closed lots: kept in the store, read from it when asked.

Principles:
- A closed lot changes no more, and most of a long-running store's lots are closed, so the
  house keeps no ``Lot`` of one (issue 10: a start needs the memory of its open lots, not of its
  history). It knows each by its id, to tell "closed" from "no such lot"; in a live sale still
  running, also when it closed (``plan``: the next lot opens ``gap_ms`` after).
- Whoever needs more (a snapshot, a listing, a refusal that names the lot) reads it from the
  store: ``get`` keeps the last few it read (and the lots that just closed, which is what
  watchers and late bids ask for next), ``read_many`` keeps nothing (a listing of them all).
- A read that fails is the store's fault: ``StoreUnavailable``, from the errors' tree.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterator, Sequence

from bidwire.domain.lot import Lot
from bidwire.errors import BidwireError, StoreUnavailable
from bidwire.store.base import Store, stored_lots

log = logging.getLogger("bidwire.closed")

KEPT = 64
"""Closed lots kept whole after a read (an LRU): a few KiB each at most."""


class ClosedLots:
    def __init__(self, store: Store, kept: int = KEPT) -> None:
        self.store = store
        self.kept = kept
        self.sale_of: dict[str, str] = {}
        """Every closed lot's id -> its sale's id (at a start, both strings are its sale's
        own: the entry costs the dict's slot alone)."""
        self.closed_at: dict[str, int] = {}
        """When each closed lot of a live sale not yet ended closed (for ``plan``)."""
        self._lru: OrderedDict[str, Lot] = OrderedDict()

    def __contains__(self, lot_id: object) -> bool:
        return lot_id in self.sale_of

    def __len__(self) -> int:
        return len(self.sale_of)

    def __iter__(self) -> Iterator[str]:
        return iter(self.sale_of)

    def add(self, lot_id: str, sale_id: str, closed_at: int | None = None) -> None:
        """Know a lot as closed; ``closed_at`` where its sale's plan needs it."""
        self.sale_of[lot_id] = sale_id
        if closed_at is not None:
            self.closed_at[lot_id] = closed_at

    def sale_ended(self, lot_ids: Sequence[str]) -> None:
        """A sale that ended is planned no more: its lots' closing times go."""
        for lot_id in lot_ids:
            self.closed_at.pop(lot_id, None)

    def keep(self, lot: Lot) -> None:
        """Keep a closed lot whole for the next readers (the oldest kept one goes)."""
        self._lru[lot.id] = lot
        self._lru.move_to_end(lot.id)
        while len(self._lru) > self.kept:
            self._lru.popitem(last=False)

    def cached(self, lot_id: str) -> Lot | None:
        """The lot if it is kept, without asking the store."""
        lot = self._lru.get(lot_id)
        if lot is not None:
            self._lru.move_to_end(lot_id)
        return lot

    async def get(self, lot_id: str) -> Lot | None:
        """A closed lot as its log says it ended; None if there is no such closed lot."""
        return (await self.get_many([lot_id])).get(lot_id)

    async def get_many(self, lot_ids: Sequence[str]) -> dict[str, Lot]:
        """As ``get`` for each, those not kept read at once (and kept: the last few stay)."""
        found: dict[str, Lot] = {}
        wanted = []
        for lot_id in lot_ids:
            lot = self.cached(lot_id) if lot_id in self.sale_of else None
            if lot is not None:
                found[lot_id] = lot
            elif lot_id in self.sale_of:
                wanted.append(lot_id)
        for lot in await self.read_many(wanted) if wanted else []:
            self.keep(lot)
            found[lot.id] = lot
        return found

    async def read_many(self, lot_ids: Sequence[str]) -> list[Lot]:
        """These lots from the store, in that order (ids it does not know left out), kept by
        nobody: what a listing reads, a chunk at a time."""
        try:
            stored = await stored_lots(self.store, lot_ids)
        except BidwireError:
            raise
        except Exception as exc:
            log.exception("reading %d closed lots", len(lot_ids))
            raise StoreUnavailable("closed lots cannot be read right now; try again") from exc
        return [entry.rebuild() for entry in stored]
