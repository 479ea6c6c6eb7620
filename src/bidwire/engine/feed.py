"""The feed: committed events out to every watcher, encoded once, batched per loop turn.

Events arrive here only after their commit. They are applied to a published view of each lot
(what snapshots show) at flush time, so a snapshot and the events that follow it never overlap
or leave a gap. Each loop turn's events go to each subscriber in one ``deliver`` call carrying
bytes built once for everybody; what a subscriber does with them must not block.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import msgspec

from bidwire.clock import Clock, work_timer
from bidwire.domain.events import LotEvent, SaleEvent
from bidwire.domain.lot import Lot
from bidwire.domain.privacy import pseudonym, public_event
from bidwire.domain.sale import SaleSpec
from bidwire.wire import text
from bidwire.wire.frames import text_frame

RING_SIZE = 256
"""Recent encoded events kept per lot for ``resync``; older gaps get a snapshot instead."""
NOTICE_BEFORE_MS = (5_000, 2_000)
"""Text-mode watchers hear "going once/twice" this long before a deadline."""
BUSY_FLUSH_SECONDS = 0.005
"""A flush longer than this is heavy (thousands of writes): the pacer may make the next wait."""
RATE_SMOOTHING = 0.3
"""Weight of the newest sample in the pacer's event rate (an exponential moving average)."""


class HighBid(msgspec.Struct):
    amount: int
    bidder: str


class SnapshotBid(msgspec.Struct):
    amount: int
    bidder: str
    ts: int


class Snapshot(msgspec.Struct, tag="snapshot", tag_field="type"):
    lot: str
    seq: int
    state: str
    sale: str
    title: str
    description: str
    currency: str
    starting_price: int
    min_amount: int
    ends_at: int | None
    high_bid: HighBid | None
    bids: list[SnapshotBid]
    bid_count: int
    outcome: str | None
    ts: int


def snapshot_of(lot: Lot, now_ms: int, salt: str | None = None) -> Snapshot:
    """A lot's picture; with ``salt`` (an anonymous sale, seen by the public) bidders are
    shown by their pseudonyms."""

    def shown(bidder: str) -> str:
        return bidder if salt is None else pseudonym(salt, bidder)

    high = (
        HighBid(lot.high_amount, shown(lot.high_bidder))
        if lot.high_amount is not None and lot.high_bidder is not None
        else None
    )
    return Snapshot(
        lot=lot.id,
        seq=lot.seq,
        state=lot.status,
        sale=lot.sale,
        title=lot.spec.title,
        description=lot.spec.description,
        currency=lot.spec.currency,
        starting_price=lot.spec.starting_price,
        min_amount=lot.min_amount(),
        ends_at=lot.ends_at,
        high_bid=high,
        bids=[SnapshotBid(b.amount, shown(b.bidder), b.ts) for b in lot.recent],
        bid_count=lot.bid_count,
        outcome=lot.outcome,
        ts=now_ms,
    )


@dataclass(slots=True)
class Outgoing:
    """One event, encoded once (twice in an anonymous sale: ``private`` names the bidder)."""

    lot: str | None
    json: bytes
    text: bytes = b""
    private: bytes | None = None


@dataclass(slots=True)
class Batch:
    """A loop turn's events for one audience; the joined forms are built on first use."""

    items: list[Outgoing]
    _json_lines: bytes | None = field(default=None)
    _text_lines: bytes | None = field(default=None)
    _ws_frames: bytes | None = field(default=None)
    _for_admins: Batch | None = field(default=None)

    @property
    def for_admins(self) -> Batch:
        """The same events with real bidder names (only anonymous sales differ)."""
        if self._for_admins is None:
            if all(item.private is None for item in self.items):
                self._for_admins = self
            else:
                self._for_admins = Batch(
                    [
                        Outgoing(item.lot, item.private or item.json, item.text)
                        for item in self.items
                    ]
                )
        return self._for_admins

    @property
    def json_lines(self) -> bytes:
        if self._json_lines is None:
            self._json_lines = b"".join(item.json + b"\n" for item in self.items)
        return self._json_lines

    @property
    def ws_frames(self) -> bytes:
        """One WebSocket text frame per event."""
        if self._ws_frames is None:
            self._ws_frames = b"".join(text_frame(item.json) for item in self.items)
        return self._ws_frames

    @property
    def text_lines(self) -> bytes:
        if self._text_lines is None:
            self._text_lines = b"".join(item.text for item in self.items if item.text)
        return self._text_lines


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


class DirectTarget(NamedTuple):
    """How the feed may write to a subscriber straight, skipping ``deliver``."""

    fd: int
    """A plain socket with nothing queued before it, or -1 (TLS: only ``write`` will do)."""
    write: Callable[[bytes], object]
    """The transport's own write: whatever the socket does not take at once goes here, queued
    in order."""
    form: str = "json_lines"
    """What the subscriber reads: the Batch property to send (``json_lines``, ``ws_frames``)."""


class DirectPath(Protocol):
    """The JSON house subscribers the feed writes to straight (see ``Feed.redirect``)."""

    def __contains__(self, sub: object) -> bool: ...

    def __len__(self) -> int: ...

    def set(self, sub: Subscriber, target: DirectTarget | None) -> None:
        """Add, update or (None) remove ``sub``."""
        ...

    def send(self, batch: Batch) -> None:
        """The batch to every member, in the form each reads, without blocking."""
        ...


class WriteEach:
    """The plain direct path: each member's transport ``write``, one Python call each.
    transports/fanout.py has the faster one (one C loop of send(2))."""

    def __init__(self) -> None:
        self._targets: dict[Subscriber, DirectTarget] = {}

    def __contains__(self, sub: object) -> bool:
        return sub in self._targets

    def __len__(self) -> int:
        return len(self._targets)

    def set(self, sub: Subscriber, target: DirectTarget | None) -> None:
        if target is None:
            self._targets.pop(sub, None)
        else:
            self._targets[sub] = target

    def send(self, batch: Batch) -> None:
        for target in list(self._targets.values()):
            write_quietly(target.write, getattr(batch, target.form))


def write_quietly(write: Callable[[bytes], object], data: bytes) -> None:
    try:  # noqa: SIM105 (a with-block per write costs more than the call it guards)
        write(data)
    except (RuntimeError, OSError):
        pass  # closed under us; its connection_lost takes it out of the feed


class Subscriber(Protocol):
    @property
    def wants_text(self) -> bool: ...

    def deliver(self, batch: Batch) -> None: ...

    def notice(self, line: bytes) -> None:
        """A text-only line (countdown calls); JSON subscribers ignore it."""
        ...


class Feed:
    def __init__(self, clock: Clock, direct: DirectPath | None = None) -> None:
        self.clock = clock
        self.views: dict[str, Lot] = {}
        self._rings: dict[str, deque[tuple[int, bytes, bytes]]] = {}
        self.salts: dict[str, str] = {}
        """Anonymous sales -> their pseudonym salt."""
        self._held: dict[str, dict[int, LotEvent]] = {}
        self._next_seq: dict[str, int] = {}
        self._pending: list[LotEvent | SaleEvent] = []
        self._flush_scheduled = False
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

    # -- set-up ------------------------------------------------------------------------------

    def track_sale(self, sale: SaleSpec) -> None:
        if sale.anonymous:
            self.salts[sale.id] = sale.pseudonym_salt

    def track(self, lot: Lot) -> None:
        """Start publishing a lot whose committed state is ``lot`` (a copy the feed owns)."""
        self.views[lot.id] = lot
        self._next_seq[lot.id] = lot.seq + 1
        self._rings.setdefault(lot.id, deque(maxlen=RING_SIZE))

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

    def snapshot(self, lot_id: str, *, admin: bool = False) -> Snapshot:
        view = self.views[lot_id]
        salt = None if admin else self.salts.get(view.sale)
        return snapshot_of(view, self.clock.now_ms(), salt)

    def events_since(
        self, lot_id: str, since_seq: int, *, admin: bool = False
    ) -> list[bytes] | None:
        """Encoded events after ``since_seq``, or None if the ring no longer reaches back."""
        view = self.views[lot_id]
        if since_seq >= view.seq:
            return []
        ring = self._rings[lot_id]
        if not ring or ring[0][0] > since_seq + 1:
            return None
        return [private if admin else public for seq, public, private in ring if seq > since_seq]

    # -- publishing --------------------------------------------------------------------------

    def publish(self, event: LotEvent) -> None:
        """Take a committed event; out-of-order ones wait for the gap to fill."""
        held = self._held.setdefault(event.lot, {})
        held[event.seq] = event
        expected = self._next_seq[event.lot]
        while expected in held:
            self._pending.append(held.pop(expected))
            expected += 1
        self._next_seq[event.lot] = expected
        if not held:
            del self._held[event.lot]
        self._schedule_flush()

    def publish_sale(self, event: SaleEvent) -> None:
        self._pending.append(event)
        self._schedule_flush()

    def reset_lot(self, lot: Lot) -> None:
        """After a failed commit: the store's state is the truth again."""
        self._held.pop(lot.id, None)
        self._pending = [e for e in self._pending if getattr(e, "lot", None) != lot.id]
        self.views[lot.id] = lot
        self._next_seq[lot.id] = lot.seq + 1

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
        pending, self._pending = self._pending, []
        if not pending:
            return
        started = work_timer()  # not loop.time(): uvloop's is cached per loop turn
        try:
            self._flush(pending)
        finally:
            self.pacer.flushed(len(pending), started, work_timer())

    def _flush(self, pending: list[LotEvent | SaleEvent]) -> None:
        items: list[Outgoing] = []
        want_text = self.text_watchers > 0
        for event in pending:
            lot_id: str | None = getattr(event, "lot", None)
            line = b""
            private: bytes | None = None
            if lot_id is None:
                body = msgspec.json.encode(event)
            else:
                assert not isinstance(event, SaleEvent)
                view = self.views[lot_id]
                view.apply(event)
                salt = self.salts.get(view.sale)
                shown = event if salt is None else public_event(event, salt)
                body = msgspec.json.encode(shown)
                if shown is not event:
                    private = msgspec.json.encode(event)
                self._rings[lot_id].append((event.seq, body, private or body))
                if want_text:
                    line = (text.render_event(shown, view) + "\n").encode()
                    self._arm_notices(view)
            items.append(Outgoing(lot_id, body, line, private))
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
        lot = self.views[lot_id]
        if lot.status != "open" or not self.text_watchers:
            return
        line = (text.render_countdown(lot, at) + "\n").encode()
        for sub in self.house:
            if sub.wants_text:
                sub.notice(line)

    def close(self) -> None:
        for handles in self._notices.values():
            for handle in handles:
                handle.cancel()
        self._notices.clear()
