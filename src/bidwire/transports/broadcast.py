"""The fan-out: committed events from the bus out to every watcher, encoded once, batched per
loop turn.

The feed listens to the bus; what it hears goes through the views (``engine/views.py``: in
order, applied, encoded once per audience) at flush time. Each flush hands every subscriber one
``deliver`` call with bytes built once for everybody (``wire/batch.py``), or, for JSON watchers
whose socket has nothing queued, one send on the direct path (``fanout.py``); what a subscriber
does with them must not block. Text-mode watchers also hear the countdown calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from bidwire.bus import Bus, Handler, Message
from bidwire.clock import Clock, work_timer
from bidwire.domain.events import SALE_EVENT_TYPES, SaleEvent
from bidwire.domain.lot import Lot
from bidwire.engine.resync import Resync, StoredEvents
from bidwire.engine.views import Published, Snapshot, Views
from bidwire.metrics import FANOUT_BUCKETS, Histogram
from bidwire.transports.fanout import DirectPath, WriteEach
from bidwire.wire.batch import Batch, Outgoing, countdown_line, text_line

NOTICE_BEFORE_MS = (5_000, 2_000)
"""Text-mode watchers hear "going once/twice" this long before a deadline."""
BUSY_FLUSH_SECONDS = 0.005
"""A flush longer than this is heavy (thousands of writes): the pacer may make the next wait."""
RATE_SMOOTHING = 0.3
"""Weight of the newest sample in the pacer's event rate (an exponential moving average)."""


@dataclass(slots=True)
class FlushPacer:
    """When the next flush may run: adaptive batching, with time passed in (pure).

    At once when idle. After a heavy flush (longer than ``busy``), the next waits as long as
    that one took, so fan-out takes at most about half of the loop and each write carries every
    event of the wait; but only while events come fast enough that the wait gathers at least one
    more. A wait that would carry the same single event again only adds latency (1,000 watchers at
    50 bids/s on a slow machine: a 9 ms flush every 20 ms; bench/README.md).
    """

    busy: float = BUSY_FLUSH_SECONDS
    rate: float = 0.0
    """Events per second, smoothed over flushes."""
    _last_start: float | None = None
    _next_at: float = 0.0

    def delay(self, now: float) -> float:
        """Seconds to wait before flushing what was just published."""
        return max(0.0, self._next_at - now)

    def flushed(self, events: int, started: float, ended: float) -> None:
        if self._last_start is not None and started > self._last_start:
            sample = events / (started - self._last_start)
            self.rate += RATE_SMOOTHING * (sample - self.rate)
        self._last_start = started
        took = ended - started
        heavy = took > self.busy and self.rate * took >= 1.0
        self._next_at = ended + took if heavy else 0.0


class Subscriber(Protocol):
    @property
    def wants_text(self) -> bool: ...

    def deliver(self, batch: Batch) -> None: ...

    def notice(self, line: bytes) -> None:
        """A text-only line (countdown calls); JSON subscribers ignore it."""
        ...


class Feed:
    def __init__(
        self, clock: Clock, published: Views | None = None, direct: DirectPath | None = None
    ) -> None:
        self.clock = clock
        self.published = Views() if published is None else published
        self.published.woken = self._woken
        self._flush_scheduled = False
        self._unsubscribe: Callable[[], None] | None = None
        self.pacer = FlushPacer()
        self.house: set[Subscriber] = set()
        self.direct: DirectPath = WriteEach() if direct is None else direct
        """House subscribers written to straight: JSON sessions on a transport that offers a
        ``direct_target`` (TCP with nothing queued). See ``redirect``."""
        self.by_lot: dict[str, set[Subscriber]] = {}
        self.text_watchers = 0
        self._notices: dict[str, list[asyncio.TimerHandle]] = {}
        self.delivered = 0
        """Events handed to subscribers, counted once per subscriber (for /metrics and bench)."""
        self.fanout_latency = Histogram(FANOUT_BUCKETS)
        """Seconds from an event heard to its bytes handed out (see ``flush``)."""
        self._oldest_heard = 0.0
        """When the first event waiting for the next flush was heard."""
        self._direct_waiters: list[tuple[Subscriber | None, asyncio.Future[Subscriber]]] = []
        self.sale_listeners: list[Callable[[SaleEvent], None]] = []
        """Told of each sale event once it has been handed to every subscriber."""
        self._flush_waiters: list[asyncio.Future[None]] = []
        self.resync: Resync | None = None
        self._also_reloaded: tuple[Handler, ...] = ()
        self._unwatch: Callable[[], None] | None = None

    def listen(self, bus: Bus, store: StoredEvents | None = None) -> None:
        """Hear every committed event from ``bus``, until ``close``. With ``store`` (a bus
        shared by several nodes), what the bus loses is reloaded from it (engine/resync.py)."""
        self._unsubscribe = bus.subscribe(self.hear)
        if store is not None:
            self.published.catches_up = True
            self.resync = Resync(store, self.published, self._reloaded)
            self._unwatch = bus.watch_lost(self.resync.poke)
            self.resync.start()

    def also_reloaded(self, handler: Handler) -> None:
        """``handler`` hears too what the reload brings from the store (the house following
        the sales other nodes decide: a lost last event reaches it within the check's second)."""
        self._also_reloaded += (handler,)

    def _reloaded(self, message: Message) -> None:
        self.hear(message)
        for handler in self._also_reloaded:
            handler(message)

    @property
    def views(self) -> dict[str, Lot]:
        return self.published.lots

    @property
    def salts(self) -> dict[str, str]:
        return self.published.salts

    # -- subscriptions -----------------------------------------------------------------------

    def subscribe_house(self, sub: Subscriber) -> None:
        if sub not in self.house:
            self.house.add(sub)
            if sub.wants_text:
                self.text_watchers += 1
                if self.text_watchers == 1:  # countdown calls are only kept while heard
                    for view in self.views.values():
                        self._arm_notices(view)
            self.redirect(sub)

    def redirect(self, sub: Subscriber) -> None:
        """(Re)decide whether ``sub`` is written to straight, skipping ``deliver``.

        Why: at thousands of watchers the per-subscriber Python calls (``deliver`` ->
        ``backed_up`` -> ``send_batch`` -> ``json_lines`` -> ``write``) cost as much as the write
        itself (bench/README.md). Only for a JSON house subscriber whose outlet offers a
        ``direct_target`` (None while bytes wait in its transport, or closed); its transport
        calls this again when that changes. Batches with private (admin) forms still go
        through ``deliver``.
        """
        target = None
        if (
            sub in self.house
            and not sub.wants_text
            and getattr(sub, "mode", None) == "json"
            and not getattr(sub, "stale", False)  # conflating: its snapshot must come first
        ):
            target = getattr(getattr(sub, "outlet", None), "direct_target", None)
        self.direct.set(sub, target)
        if target is not None and self._direct_waiters:  # empty unless someone awaits it
            self._joined_direct(sub)

    def on_direct(self, sub: Subscriber | None = None) -> asyncio.Future[Subscriber]:
        """Done with the subscriber once ``sub`` is on the direct path (at once if it is already),
        or with None, once any subscriber is put on it next: what tests await instead of
        polling ``direct``."""
        future: asyncio.Future[Subscriber] = asyncio.get_running_loop().create_future()
        if sub is not None and sub in self.direct:
            future.set_result(sub)
        else:
            self._direct_waiters.append((sub, future))
        return future

    def _joined_direct(self, sub: Subscriber) -> None:
        for wanted, future in self._direct_waiters:
            if (wanted is None or wanted is sub) and not future.done():
                future.set_result(sub)
        self._direct_waiters = [w for w in self._direct_waiters if not w[1].done()]

    def subscribe_lots(self, sub: Subscriber, lots: Iterable[str]) -> None:
        for lot_id in lots:
            self.by_lot.setdefault(lot_id, set()).add(sub)

    def unsubscribe_lots(self, sub: Subscriber, lots: Iterable[str]) -> None:
        for lot_id in lots:
            subs = self.by_lot.get(lot_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self.by_lot[lot_id]

    def leave_house(self, sub: Subscriber) -> None:
        self.direct.set(sub, None)
        if sub in self.house:
            self.house.discard(sub)
            self.text_watchers -= sub.wants_text

    def remove(self, sub: Subscriber, lots: Iterable[str] = ()) -> None:
        self.leave_house(sub)
        self.unsubscribe_lots(sub, lots)

    # -- reading -----------------------------------------------------------------------------

    def snapshot(self, lot_id: str, *, admin: bool = False, viewer: str | None = None) -> Snapshot:
        return self.published.snapshot(lot_id, self.clock.now_ms(), admin=admin, viewer=viewer)

    def events_since(
        self, lot_id: str, since_seq: int, *, admin: bool = False
    ) -> list[bytes] | None:
        return self.published.events_since(lot_id, since_seq, admin=admin)

    # -- publishing --------------------------------------------------------------------------

    def hear(self, message: Message) -> None:
        """A committed event from the bus; held by the views if it follows a gap."""
        if self.published.accept(message):
            if not self._flush_scheduled:  # one clock read per flush, not per event
                self._oldest_heard = work_timer()
            self._schedule_flush()
        elif self.resync is not None and self.published.order.has_gaps:
            self.resync.poke()  # held behind a missing seq: reload it now, not in a second

    def _woken(self) -> None:
        """The house read a lot again (views.reset): send what that found, and fetch from the
        store now what this node has not heard yet."""
        self._schedule_flush()
        if self.resync is not None:
            self.resync.poke()

    def _schedule_flush(self) -> None:
        """At once when idle, later under load: see FlushPacer."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop = asyncio.get_running_loop()
            wait = self.pacer.delay(work_timer())
            if wait > 0:
                loop.call_later(wait, self.flush)
            else:
                loop.call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        if not self.published.pending():
            return
        started = work_timer()  # not loop.time(): uvloop's is cached per loop turn
        oldest = self._oldest_heard
        count = 0
        try:
            published = self.published.drain()
            count = len(published)
            if published:
                self._flush(published)
        finally:
            ended = work_timer()
            self.pacer.flushed(count, started, ended)
            if count:
                # every event of the flush at its oldest's wait: an upper bound per event, for
                # one observation per flush instead of a clock read per event
                self.fanout_latency.observe_many(ended - oldest, count)
            if self._flush_waiters:  # empty unless someone awaits ``flushed``
                waiters, self._flush_waiters = self._flush_waiters, []
                for future in waiters:
                    if not future.done():
                        future.set_result(None)

    async def flushed(self) -> None:
        """Until every event heard so far is applied to the views and handed to subscribers:
        what tests await (after ``house.settled()``) instead of yielding to the loop."""
        while self.published.pending():
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._flush_waiters.append(future)
            await future

    def _flush(self, published: list[Published]) -> None:
        items: list[Outgoing] = []
        want_text = self.text_watchers > 0
        for item in published:
            view = item.view
            if view is None:
                items.append(Outgoing(None, item.json))
                continue
            line = b""
            if want_text:
                assert not isinstance(item.shown, SaleEvent)
                line = text_line(item.shown, view)
                self._arm_notices(view)
            items.append(Outgoing(view.id, item.json, line, item.private))
        everything = Batch(items)
        direct = self.direct
        if len(direct) and everything.for_admins is everything:
            # every JSON subscriber gets the same bytes: no per-subscriber decision left
            if len(direct) < len(self.house):
                for sub in self.house:
                    if sub not in direct:
                        sub.deliver(everything)
            direct.send(everything)
        else:
            for sub in self.house:
                sub.deliver(everything)
        self.delivered += len(items) * len(self.house)
        if self.by_lot:
            self._deliver_by_lot(items)
        if self.sale_listeners:
            for item in published:
                if isinstance(item.event, SALE_EVENT_TYPES):
                    for listener in self.sale_listeners:
                        listener(item.event)

    def _deliver_by_lot(self, items: list[Outgoing]) -> None:
        per_lot: dict[str, list[Outgoing]] = {}
        for item in items:
            if item.lot is not None and item.lot in self.by_lot:
                per_lot.setdefault(item.lot, []).append(item)
        chosen: dict[Subscriber, list[Outgoing]] = {}
        shared: dict[str, Batch] = {}
        for lot_id, lot_items in per_lot.items():
            for sub in self.by_lot[lot_id]:
                if sub in self.house:
                    continue
                chosen.setdefault(sub, []).extend(lot_items)
            shared[lot_id] = Batch(lot_items)
        for sub, sub_items in chosen.items():
            only_lot = sub_items[0].lot
            same = all(item.lot == only_lot for item in sub_items)
            batch = (
                shared[only_lot]
                if same and only_lot is not None
                else Batch(sorted(sub_items, key=items.index))
            )
            sub.deliver(batch)
            self.delivered += len(batch.items)

    # -- countdown calls for text mode -------------------------------------------------------

    def _arm_notices(self, lot: Lot) -> None:
        for handle in self._notices.pop(lot.id, []):
            handle.cancel()
        if lot.status != "open" or lot.ends_at is None or lot.mode != "live":
            return
        loop = asyncio.get_running_loop()
        now = self.clock.now_ms()
        handles = []
        for before in NOTICE_BEFORE_MS:
            at = lot.ends_at - before
            if at > now:
                handles.append(loop.call_later((at - now) / 1000, self._notice, lot.id, at))
        if handles:
            self._notices[lot.id] = handles

    def _notice(self, lot_id: str, at: int) -> None:
        lot = self.views.get(lot_id)
        if lot is None or lot.status != "open" or not self.text_watchers:
            return
        line = countdown_line(lot, at)
        for sub in self.house:
            if sub.wants_text:
                sub.notice(line)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if self.resync is not None:
            self.resync.close()
        for handles in self._notices.values():
            for handle in handles:
                handle.cancel()
        self._notices.clear()
