"""The report's facts of the lots still open, kept as their events arrive (the live analytics).

Why: an admin who watches a running sale (the analytics page re-reads the report once a second)
made the store count the open lots' bids from the log at every read, a cost that grew with the
lot: +14% server CPU at 1,000 bids/s (bench/integrity.py). Closed lots' facts are kept by the
store once (``report_lots``); these are the open lots' until they close.

Principles:
- The same facts as the store's aggregates (``Store.report_facts``: store/memory.py is the
  reference in Python), counted one event at a time: ``tests/engine/test_live_report.py``
  checks both agree on seeded random sales.
- A lot is followed from its first event (seq 1), or, if it was open before the listening
  began (a start, a restart mid-lot), from its log read once, the events heard meanwhile
  applied after; a gap in the seqs or a void (a void recounts what stands) leaves the lot to
  the store for good: correct first, cheap where it can be.
- A closed lot is dropped at once: its facts are the store's from then on.
- A lot left to the store is never followed again, whatever comes after: on a node following
  another's sale the bus may repeat an event, and a repeated ``lot_opened`` would otherwise
  start the lot over with an opening and no bids (remembered for the last ``MAX_LEFT``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bidwire.domain.events import (
    BidPlaced,
    BidVoided,
    LotClosed,
    LotEvent,
    LotExtended,
    LotOpened,
    LotResumed,
)
from bidwire.store.base import EVENT_DECODER, BidderTally, LotTally, ReportFacts

if TYPE_CHECKING:
    from bidwire.bus import Bus, Message
    from bidwire.engine.house import AuctionHouse

log = logging.getLogger("bidwire.live_report")

MAX_FOLLOWED = 10_000
"""Open lots followed at once at most; past it, a new lot is left to the store."""
MAX_LEFT = 10_000
"""Lots left to the store remembered at most (the oldest forgotten first)."""
CATCH_UP_PAGE = 5_000
"""Events read a page when a lot open before listening is caught up from its log."""


@dataclass(slots=True)
class _Bidder:
    bids: int = 0
    auto: int = 0
    extend: int = 0
    best: int = 0


@dataclass(slots=True)
class OpenLotFacts:
    """One open lot's facts, ``apply``-ed its events in order from seq 1 (pure)."""

    lot_id: str
    extend_ms: int
    seq: int = 0
    opened_at: int | None = None
    latest: int | None = None
    """The latest deadline any event set (an extension is a deadline later than it)."""
    deadline: int | None = None
    """The deadline as the last event left it (what the next bid finds)."""
    extensions: int = 0
    bidders: dict[str, _Bidder] = field(default_factory=dict)
    minutes: dict[int, int] = field(default_factory=dict)

    def apply(self, event: LotEvent) -> None:
        self.seq = event.seq
        if (
            isinstance(event, BidPlaced | LotExtended)
            and self.latest is not None
            and event.ends_at > self.latest
        ):
            self.extensions += 1
        if isinstance(event, LotOpened | BidPlaced | LotExtended | LotResumed):
            self.latest = event.ends_at if self.latest is None else max(self.latest, event.ends_at)
        found = self.deadline
        if isinstance(event, LotOpened | BidPlaced | LotExtended | LotResumed):
            self.deadline = event.ends_at
        if isinstance(event, LotOpened) and self.opened_at is None:
            self.opened_at = event.ts
        if not isinstance(event, BidPlaced):
            return
        minute = event.ts // 60_000 * 60_000
        self.minutes[minute] = self.minutes.get(minute, 0) + 1
        bidder = self.bidders.get(event.bidder)
        if bidder is None:
            bidder = self.bidders[event.bidder] = _Bidder()
        bidder.bids += 1
        bidder.auto += event.auto
        bidder.extend += found is not None and found - event.ts < self.extend_ms
        bidder.best = max(bidder.best, event.amount)

    def tallies(self) -> tuple[LotTally, list[BidderTally]]:
        rows = [
            BidderTally(self.lot_id, name, b.bids, b.auto, 0, b.extend, b.best)
            for name, b in sorted(self.bidders.items())
        ]
        lot = LotTally(
            self.lot_id,
            None,
            None,
            None,
            None,
            self.extensions,
            self.opened_at,
            None,
            sum(row.bids for row in rows),
            sum(row.auto for row in rows),
            0,
            sum(row.extend for row in rows),
            len(rows),
        )
        return lot, rows


class LiveFacts:
    """The open lots' facts, fed by the bus; ``split`` hands a report what it follows."""

    def __init__(
        self,
        extend_ms_of: Callable[[str], int | None],
        read_log: Callable[[str, int], Awaitable[list[LotEvent]]] | None = None,
    ) -> None:
        self.extend_ms_of = extend_ms_of
        """A lot's ``extend_ms`` by id (None: not a lot the house runs)."""
        self.read_log = read_log
        """A lot's events after a seq, a page (what catches up a lot open before listening)."""
        self.lots: dict[str, OpenLotFacts] = {}
        self._catching_up: dict[str, list[LotEvent]] = {}
        """Lots being read from the log -> the events heard meanwhile (applied after)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._left: OrderedDict[str, None] = OrderedDict()
        """Lots left to the store (closed, voided, a gap, met mid-way), oldest first."""

    @classmethod
    def of_house(cls, house: AuctionHouse) -> LiveFacts:
        def extend_ms_of(lot_id: str) -> int | None:
            lot = house.lots.get(lot_id)
            return None if lot is None else lot.spec.extend_ms

        async def read_log(lot_id: str, after: int) -> list[LotEvent]:
            bodies = await house.store.events_since(lot_id, after, CATCH_UP_PAGE)
            return [EVENT_DECODER.decode(body) for body in bodies]

        return cls(extend_ms_of, read_log)

    def listen(self, bus: Bus, open_lots: Sequence[str] = ()) -> None:
        """Follow what the bus says from now on, and catch up ``open_lots`` (lots already
        open, or paused) from their logs."""
        self._unsubscribe = bus.subscribe(self._heard)
        if self.read_log is None:
            return
        for lot_id in list(open_lots)[:MAX_FOLLOWED]:
            self._catching_up[lot_id] = []
            task = asyncio.ensure_future(self._catch_up(lot_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in self._tasks:
            task.cancel()
        self.lots.clear()

    async def settled(self) -> None:
        """Until every lot being caught up is followed or left (what tests await)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def _catch_up(self, lot_id: str) -> None:
        heard = self._catching_up[lot_id]
        extend_ms = self.extend_ms_of(lot_id)
        followed = None if extend_ms is None else OpenLotFacts(lot_id, extend_ms)
        try:
            assert self.read_log is not None
            while followed is not None:
                page = await self.read_log(lot_id, followed.seq)
                for event in page:
                    followed = _step(followed, event)
                    if followed is None:
                        break
                if len(page) < CATCH_UP_PAGE:
                    break
        except Exception:  # the store counts this lot instead
            log.exception("reading lot %s's log for its live report facts", lot_id)
            followed = None
        finally:
            del self._catching_up[lot_id]
        for event in heard:
            if followed is None:
                break
            followed = _step(followed, event)
        if followed is not None and len(self.lots) < MAX_FOLLOWED:
            self.lots[lot_id] = followed
        else:
            self._leave(lot_id)

    def _leave(self, lot_id: str) -> None:
        self.lots.pop(lot_id, None)
        self._left[lot_id] = None
        if len(self._left) > MAX_LEFT:
            self._left.popitem(last=False)

    def _heard(self, message: Message) -> None:
        if message.stream == "lot":
            self.apply(message.event)  # type: ignore[arg-type]

    def apply(self, event: LotEvent) -> None:
        heard = self._catching_up.get(event.lot)
        if heard is not None:
            heard.append(event)
            return
        followed = self.lots.get(event.lot)
        if followed is None:
            if event.lot in self._left:
                return
            if event.seq != 1 or len(self.lots) >= MAX_FOLLOWED:
                self._leave(event.lot)  # met mid-way: the store counts it
                return
            extend_ms = self.extend_ms_of(event.lot)
            if extend_ms is None:
                return
            followed = OpenLotFacts(event.lot, extend_ms)
        stepped = _step(followed, event)
        if stepped is None:
            self._leave(event.lot)
        else:
            self.lots[event.lot] = stepped

    def split(self, lot_ids: Sequence[str]) -> tuple[ReportFacts, list[str]]:
        """The facts of the lots of ``lot_ids`` followed here, and the ids of the others."""
        facts, rest = ReportFacts([], []), []
        minutes: dict[int, int] = {}
        for lot_id in lot_ids:
            followed = self.lots.get(lot_id)
            if followed is None:
                rest.append(lot_id)
                continue
            lot, bidders = followed.tallies()
            facts.lots.append(lot)
            facts.bidders.extend(bidders)
            for minute, bids in followed.minutes.items():
                minutes[minute] = minutes.get(minute, 0) + bids
        facts.minutes = sorted(minutes.items())
        return facts, rest


def _step(followed: OpenLotFacts, event: LotEvent) -> OpenLotFacts | None:
    """The lot's facts after ``event``; None once they are the store's to count: a gap in the
    seqs, a close (the store keeps its facts) or a void (the store recounts what stands). An
    event counted already (read from the log before the bus brought it) changes nothing."""
    if event.seq <= followed.seq:
        return followed
    if event.seq != followed.seq + 1 or isinstance(event, LotClosed | BidVoided):
        return None
    followed.apply(event)
    return followed
