"""Reloading from the store what the bus did not bring (several nodes: a ``redis://`` bus).

Principles:
- The bus is a hint and the store is the truth (design.md section 8). What a node publishes
  moves only by events in their seq order (``InOrder`` in the views), so a reload is only more
  messages through the same door: the ones already heard are dropped as repeats, and a gap's
  filling releases what waited behind it.
- Three things start a reload: a gap (a message held behind a missing seq: at once), the bus
  saying it may have lost messages (a reconnect: at once), and a check once a second of each
  open lot's stored seq, which alone finds a lost LAST event (nothing follows it to show a gap;
  seen: 21 events lost across a Redis restart with no error).
- Bounded: each round reads at most ``max_lots`` lots, taken in turn, and ``page`` events per
  read, so a store of many open lots is checked over several seconds, never all at once.

One node on a memory bus needs none of this: nothing between publish and the fan-out can lose a
message, and the fan-out starts it only when given the store (``Feed.listen``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol, cast

from bidwire.bus.base import Handler, lot_message, sale_message
from bidwire.domain.events import SaleEvent
from bidwire.engine.views import Views
from bidwire.errors import StoreUnavailable
from bidwire.store.base import EVENT_DECODER

log = logging.getLogger("bidwire.resync")

CHECK_SECONDS = 1.0
MIN_ROUND_SECONDS = 0.05
MAX_LOTS_PER_ROUND = 500
PAGE = 256


class StoredEvents(Protocol):
    """The part of the store a reload reads (``EventLog``'s)."""

    async def events_since(self, lot_id: str, since_seq: int, limit: int) -> list[bytes]: ...

    async def sale_log(self, sale_id: str) -> list[SaleEvent]: ...


class StoredSeqs(Protocol):
    """What a store may offer besides: each lot's stored seq in one read. Then a round reads
    the events of the lots that are behind only, instead of asking each lot (about 0.1 ms a
    lot on SQLite, a thread hop each: 51 ms a round for 500 open lots, bench/redis_bus.py)."""

    async def lot_seqs(self, lot_ids: Sequence[str]) -> dict[str, int]: ...


class Resync:
    def __init__(
        self,
        store: StoredEvents,
        views: Views,
        hear: Handler,
        *,
        every: float = CHECK_SECONDS,
        max_lots: int = MAX_LOTS_PER_ROUND,
        page: int = PAGE,
    ) -> None:
        self.store = store
        self.views = views
        self.hear = hear
        """Where reloaded events go: the fan-out's own ``hear``, as if the bus had brought them."""
        self.every = every
        self.max_lots = max_lots
        self.page = page
        self._poked = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._turn = 0
        self._sales_last: set[str] = set()
        self.rounds = 0
        self.reloaded = 0
        """Events read from the store and handed on: the ones the bus had not brought (or had
        brought but not yet passed on: the views drop those as repeats)."""
        self.failures = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="resync")

    def poke(self) -> None:
        """Check now rather than at the next second (a gap was seen, or the bus reconnected)."""
        self._poked.set()

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poked.wait(), self.every)
            # pokes come with messages: a gap the store cannot fill must not make a round of
            # every message, so rounds are at least ``MIN_ROUND_SECONDS`` apart
            wait = last + MIN_ROUND_SECONDS - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._poked.clear()
            last = loop.time()
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except StoreUnavailable as exc:  # an outage: said in words, tried the next round
                self.failures += 1
                log.warning(
                    "reload from the store failed (%s); trying again in %ss", exc, self.every
                )
            except Exception:  # anything else: the next round tries again too
                self.failures += 1
                log.exception("reload from the store failed; trying again in %ss", self.every)

    async def check(self) -> int:
        """One round: the gaps first, then open lots in turn, then their sales. Returns how many
        events were read and handed on."""
        self.rounds += 1
        before = self.reloaded
        gaps = self.views.order.gaps()
        for (stream, key), missing in gaps.items():
            if stream == "lot":
                await self._reload_lot(key, missing.start - 1)
            else:
                await self._reload_sale(key)
        lots = self._lots_this_round()
        seqs_of = getattr(self.store, "lot_seqs", None)
        if seqs_of is not None and lots:
            stored = await cast(StoredSeqs, self.store).lot_seqs(lots)
            order = self.views.order
            lots = [i for i in lots if stored.get(i, 0) >= order.next_seq("lot", i)]
        for lot_id in lots:
            view = self.views.lots.get(lot_id)
            if view is not None and ("lot", lot_id) not in gaps:
                await self._reload_lot(lot_id, self.views.order.next_seq("lot", lot_id) - 1)
        # a sale's last event (its end) follows its last lot's close: its sale is checked for
        # one more round after its last lot leaves the views
        sales = {view.sale for view in self.views.lots.values()}
        for sale_id in sorted((sales | self._sales_last) - {k for s, k in gaps if s == "sale"}):
            await self._reload_sale(sale_id)
        self._sales_last = sales
        return self.reloaded - before

    def _lots_this_round(self) -> Sequence[str]:
        ids = list(self.views.lots)
        if len(ids) <= self.max_lots:
            return ids
        start = self._turn % len(ids)
        self._turn = start + self.max_lots
        return (ids[start:] + ids[:start])[: self.max_lots]

    async def _reload_lot(self, lot_id: str, after: int) -> None:
        while lot_id in self.views.lots:
            bodies = await self.store.events_since(lot_id, after, self.page)
            for body in bodies:
                event = EVENT_DECODER.decode(body)
                self.reloaded += 1
                self.hear(lot_message(event))
                after = event.seq
            if len(bodies) < self.page:
                return

    async def _reload_sale(self, sale_id: str) -> None:
        heard = self.views.order.next_seq("sale", sale_id)
        for event in await self.store.sale_log(sale_id):  # a sale's log is short: read whole
            if event.seq >= heard:
                self.reloaded += 1
                self.hear(sale_message(event))
