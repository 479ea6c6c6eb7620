"""The auction house: one writer per lot, one scheduler, commit before acknowledge.

Every decision is taken synchronously on the event loop, so on one node each lot has exactly
one writer and decisions are totally ordered. A decision is applied to the lot at once (the
next bid must see it) and queued for commit in decision order; only when the store says it is
durable is the bid acknowledged and the event published. If a commit fails, the lot is reloaded
from the store, which is the truth, and the bids that rode on it are refused ``unavailable``.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from bidwire.bus import Bus, Message
from bidwire.clock import Clock, work_timer
from bidwire.domain.commands import Accepted, BuyNow, PlaceBid
from bidwire.domain.events import (
    BidPlaced,
    BidVoided,
    LotClosed,
    LotEvent,
    MaxRaised,
    SaleEnded,
    SaleEvent,
    SaleStarted,
)
from bidwire.domain.lot import Bidding, Lot, LotSpec, Refusal
from bidwire.domain.privacy import pseudonym
from bidwire.domain.sale import Sale, SaleSpec, plan
from bidwire.engine.closed import ClosedLots
from bidwire.engine.views import Views
from bidwire.errors import (
    BadRequest,
    LeaseLost,
    NotOwner,
    ServerError,
    StoreUnavailable,
    TooLate,
    UnknownLot,
    UnknownSale,
)
from bidwire.metrics import COMMIT_BUCKETS, Histogram
from bidwire.store.base import (
    EVENT_DECODER,
    CatalogLot,
    Store,
    StoredLot,
    load_house,
    stored_lot,
)

log = logging.getLogger("bidwire.house")

Answer = Callable[[Accepted | Refusal], None]
BuyAnswer = Callable[[LotClosed | Refusal], None]


AdminKind = Literal[
    "start-sale",
    "pause-sale",
    "resume-sale",
    "cancel-sale",
    "void-bid",
    "withdraw-lot",
    "update-lot",
    "add-lots",
]
"""An admin's change to one sale, named as the audit log names it."""


@dataclass(frozen=True, slots=True)
class AdminOp:
    """An admin's change as a value: what a node that does not decide the sale sends to the
    one that does, which makes it as its own (``run_admin``) and audits it under ``by``."""

    kind: AdminKind
    by: str
    target: str
    """The sale's id (start, pause, resume, cancel, add lots) or the lot's (void, withdraw,
    update)."""
    at_ms: int | None = None
    """start-sale: when (None: now)."""
    seq: int = 0
    """void-bid: the bid's seq."""
    lots: tuple[LotSpec, ...] = ()
    """update-lot: the lot's new spec; add-lots: the new lots."""


class Forwarder(Protocol):
    """Carries a bid to the node that decides its sale, and its answer back."""

    def bid(self, sale_id: str, command: PlaceBid, answer: Answer) -> None: ...

    async def buy_now(self, sale_id: str, command: BuyNow) -> LotClosed | Refusal: ...

    async def admin(self, sale_id: str, op: AdminOp) -> BidVoided | None:
        """The owner's answer: done (a void's event), or its error raised here."""
        ...

    def owners_changed(self) -> None:
        """Some sale has another owner now (the lease step): what waits on the old one."""
        ...


NO_OWNER = Refusal(
    "unavailable", "no server runs this sale at this moment (one is taking it over); bid again"
)
REQUEST_KEY_WINDOW_MS = 24 * 3600 * 1000
"""How long a request_id is remembered: a repeat within it is the same bid."""
MAX_REQUEST_KEYS = 200_000
"""Request keys remembered at most (the oldest settled ones go first)."""


def request_key(command: PlaceBid) -> str | None:
    """A request_id is its bidder's own: two bidders may use the same one."""
    if command.request_id is None:
        return None
    return f"{command.actor.name}\x00{command.request_id}"


NOT_STORED = Refusal("unavailable", "the bid could not be stored; it was not placed")


def accepted(lot: Lot, bidding: Bidding) -> Accepted:
    """The bidder's answer to a bid the lot has just applied: where their own bid stands."""
    own = bidding.own
    if isinstance(own, MaxRaised):
        assert lot.high_amount is not None
        return Accepted(own.lot, own.seq, lot.high_amount, own.max_amount, True, own.ts)
    return Accepted(own.lot, own.seq, own.amount, own.max_amount, bidding.leading, own.ts)


def _settle(keyed: KeyedBid | None, answer: Answer, result: Accepted | Refusal) -> None:
    """Answer a bid, and every repeat of its request_id that waited for it, alike."""
    if keyed is not None:
        keyed.settle(result)
    answer(result)


@dataclass(slots=True)
class KeyedBid:
    """A bid sent with a request_id: what it was, and its answer once it has one."""

    key: str
    lot: str
    amount: int | None
    max_amount: int | None
    at: int
    result: Accepted | Refusal | None = None
    waiters: list[Answer] = field(default_factory=list)
    amount_known: bool = True
    """False for a key reloaded from the log with a maximum: the amount it asked is not kept."""

    def same_bid(self, command: PlaceBid) -> bool:
        if (self.lot, self.max_amount) != (command.lot, command.max_amount):
            return False
        return not self.amount_known or self.amount == command.amount

    def settle(self, result: Accepted | Refusal) -> None:
        self.result = result
        waiting, self.waiters = self.waiters, []
        for answer in waiting:
            answer(result)


RETRY_FIRST_MS = 50
RETRY_MAX_MS = 1_000
"""After a failed commit a lot's deadline is retried no sooner than this, doubling per failure:
a close that cannot commit (a full disk) must not spin the scheduler."""

FAULT_LOG_INTERVAL_MS = 1_000
TAKEOVER_READS = 5
"""A taken-over lot is read again at most this often while bids decided here move it on."""
MAX_VOID_HISTORY = 100_000
"""A void reads the lot's whole log; a lot with more events than this is refused one."""


class LogThrottle:
    """At most one line per interval; what it holds back is counted for the next line."""

    def __init__(self, interval_ms: int) -> None:
        self.interval_ms = interval_ms
        self._next_at: int | None = None
        self._held = 0

    def allow(self, now_ms: int) -> int | None:
        """None: hold this line back. Otherwise how many lines were held back before it."""
        if self._next_at is not None and now_ms < self._next_at:
            self._held += 1
            return None
        held, self._held = self._held, 0
        self._next_at = now_ms + self.interval_ms
        return held


def _rebuild_sale(spec: SaleSpec, events: Sequence[SaleEvent]) -> Sale:
    sale = Sale(spec)
    for event in events:
        sale.apply(event)
    return sale


class AuctionHouse:
    def __init__(self, store: Store, bus: Bus, views: Views, clock: Clock) -> None:
        self.store = store
        self.bus = bus
        self.views = views
        self.clock = clock
        self.lots: dict[str, Lot] = {}
        """Every lot not closed (and a closing one until its close is committed)."""
        self.closed = ClosedLots(store)
        """The closed lots, kept in the store (engine/closed.py)."""
        self.sales: dict[str, Sale] = {}
        """The sales the house lists (every one but those ``retire_sale`` put away)."""
        self.retired_sales: dict[str, Sale] = {}
        """Ended sales kept out of the lists (old demo runs); their lots stay in the store."""
        self.sale_end_hooks: list[Callable[[Sale], Awaitable[None]]] = []
        """Awaited once a sale's end is stored and before it is published: what they add
        (the demo's next run) is there for whoever the end makes look."""
        self.followed_end_hooks: list[Callable[[Sale], None]] = []
        """Called when a sale another node decides is seen ended here (from the bus, or read
        again after a gap): what the owner's end hooks did to the lists, each follower does
        to its own (the demo's tidy)."""
        self._announced: set[str] = set()
        """Sales whose start is committed and published: only then do their lots open."""
        self._request_keys: OrderedDict[str, KeyedBid] = OrderedDict()
        """Idempotency keys of recent bids, oldest first (see ``_remember``)."""
        self._inflight: dict[str, int] = {}
        self._drain_waiters: dict[str | None, list[asyncio.Future[None]]] = {}
        """Who waits for a lot's (or, under None, every lot's) commits to be answered."""
        self._broken: set[str] = set()
        self._failures: dict[str, int] = {}
        self._outage: set[str] = set()
        """Lots whose last commit failed because the store could not be reached: every bid
        since was answered `unavailable`, so their deadline passing is not a sale."""
        """Commit failures in a row per lot; with ``_retry_at`` the backoff of its deadline."""
        self._retry_at: dict[str, int] = {}
        self._last_fault = ""
        self._fault_log = LogThrottle(FAULT_LOG_INTERVAL_MS)
        self._wakes: list[tuple[int, str]] = []
        self._wake_of: dict[str, int] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: int | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._spec_writes: set[str] = set()
        """Sales whose spec the store is writing (a start, new lots): one change at a time,
        so neither undoes the other, and the sale does not end meanwhile."""
        self._following_gap: set[str] = set()
        """Followed lots being read again after a gap on the bus."""
        self._sale_inflight: dict[str, int] = {}
        """Sale events queued and not yet settled, per sale (a reload waits for them)."""
        self.accepting = True
        self.accepted_bids = 0
        self.owned: set[str] | None = None
        """The sales this node decides: None, every one (one node); in a cluster, those whose
        lease it holds (engine/cluster.py). The others it follows from the bus."""
        self.forwarder: Forwarder | None = None
        """Where a bid on a sale another node decides goes (engine/cluster.py)."""
        self.refused_bids: dict[str, int] = {}
        """Bids this house refused, by wire code (the gate counts its own): for /metrics."""
        self.commit_latency = Histogram(COMMIT_BUCKETS)
        """Seconds from each append to its future resolved, committed or failed."""

    # -- start and stop ----------------------------------------------------------------------

    async def load(self) -> None:
        """Rebuild every lot not closed and every sale from the store: each lot from its
        snapshot and what came after it, and the request keys of the window (an index read,
        not the log). The closed lots stay in the store; the house knows their ids."""
        since = self.clock.now_ms() - REQUEST_KEY_WINDOW_MS
        house = await load_house(
            self.store, keys_since_ms=since, keys_limit=MAX_REQUEST_KEYS, closed=False
        )
        for stored_sale in house.sales:
            sale = _rebuild_sale(stored_sale.spec, stored_sale.events)
            self.sales[sale.id] = sale
            if sale.started_at is not None:
                self._announced.add(sale.id)
            self.views.track_sale(sale.spec, sale.seq)
        rebuilt = [(stored, stored.rebuild()) for stored in house.lots]
        replayed = [(lot.id, lot.snapshot()) for stored, lot in rebuilt if stored.events]
        if replayed:  # a store from before snapshots: the next start reads these instead
            try:
                await self.store.save_snapshots(replayed)
            except ServerError as exc:
                log.warning("could not keep the snapshots of %d lots: %s", len(replayed), exc)
        await self._know_closed({stored.spec.id for stored in house.lots})
        for stored, lot in rebuilt:  # only now: no deadline may fire before resume()
            self._track(lot, stored.rebuild())
        for key, own in house.request_keys:  # oldest first, as _remember keeps them
            self._request_keys[key] = self._reloaded_key(key, own)

    def _reloaded_key(self, key: str, own: BidPlaced | MaxRaised) -> KeyedBid:
        """A request key from the log: its bid's own event. Whether it led is not in that
        event, so a repeat after a restart hears whether the bidder leads now."""
        lot = self.lots.get(own.lot)
        leading = lot is not None and lot.high_bidder == own.bidder
        if isinstance(own, MaxRaised):
            price = lot.high_amount if lot is not None else None
            result = Accepted(own.lot, own.seq, price or 0, own.max_amount, leading, own.ts)
        else:
            result = Accepted(own.lot, own.seq, own.amount, own.max_amount, leading, own.ts)
        plain = isinstance(own, BidPlaced) and own.max_amount is None
        amount = own.amount if isinstance(own, BidPlaced) and plain else None
        return KeyedBid(key, own.lot, amount, own.max_amount, own.ts, result, [], plain)

    async def _know_closed(self, loaded: set[str]) -> None:
        """Every lot of a sale that the start left in the store is closed; a live sale still
        running needs to know when its closed lots closed (``plan``), read from the store."""
        planned: list[str] = []
        for sale in self.sales.values():
            live = sale.spec.mode == "live" and sale.ended_at is None
            for lot_id in sale.spec.lot_ids:
                if lot_id not in loaded:
                    self.closed.add(lot_id, sale.id)
                    if live:
                        planned.append(lot_id)
        for lot in await self.closed.read_many(planned) if planned else []:
            if lot.closed_at is not None:
                self.closed.closed_at[lot.id] = lot.closed_at

    def _track(self, lot: Lot, view: Lot) -> None:
        self.views.track(view)
        if lot.status == "closed":
            self._retire(lot, keep=False)
            return
        self.lots[lot.id] = lot
        self._arm(lot)

    def _retire(self, lot: Lot, *, keep: bool = True) -> None:
        """A closed lot leaves memory for the store (engine/closed.py); ``keep``: whole, for
        the next few readers (it has just closed: watchers and late bids ask for it)."""
        self.lots.pop(lot.id, None)
        sale = self.sales.get(lot.sale)
        planned = sale is not None and sale.spec.mode == "live" and sale.ended_at is None
        self.closed.add(lot.id, lot.sale, lot.closed_at if planned else None)
        if keep:
            self.closed.keep(lot)

    async def add_sale(self, sale: SaleSpec, lots: Sequence[LotSpec]) -> None:
        if sale.id in self.sales:
            raise ValueError(f"a sale with id {sale.id!r} already exists")
        taken = [lot.id for lot in lots if self.knows(lot.id)]
        if taken:
            raise ValueError(f"lot ids already in use: {', '.join(taken)}")
        if tuple(lot.id for lot in lots) != sale.lot_ids:
            raise ValueError("the sale's lot ids do not match its lots")
        if sale.anonymous and not sale.pseudonym_salt:
            sale = replace(sale, pseudonym_salt=secrets.token_hex(16))
        await self.store.add_sale(sale, lots)
        self.sales[sale.id] = Sale(sale)
        self.views.track_sale(sale)
        for spec in lots:
            self._track(Lot(spec, sale.id, sale.mode), Lot(spec, sale.id, sale.mode))

    async def resume(self) -> None:
        """After a start: every open lot with less than a full window left gets a fresh one,
        announced to all, so an outage never costs anyone a lot."""
        now = self.clock.now_ms()
        waiting = []
        for lot in self.lots.values():
            if self.owned is not None and lot.sale not in self.owned:
                continue
            event = lot.decide_resume(now)
            if event is not None:
                waiting.append(self._commit([event]))
        for future in waiting:
            try:
                await asyncio.shield(future)
            except ServerError:
                log.exception("could not commit a restart extension")

    def start(self) -> None:
        """Start the scheduler: it wakes for the next deadline or sale step, and no sooner."""
        self.run_due()

    async def stop(self) -> None:
        """No new bids; wait for every queued commit so nothing acknowledged is lost."""
        self.accepting = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.settled()

    async def settled(self) -> None:
        """Until every queued commit is answered and every background task (a reload, a sale
        mark) is done: what a clean stop waits for, and what tests await instead of sleeping."""
        while self._inflight or self._tasks:
            if self._inflight:
                await self._drained(None)
            if self._tasks:
                await asyncio.wait(set(self._tasks))

    def _drained(self, lot_id: str | None) -> asyncio.Future[None]:
        """Done once ``lot_id`` (None: every lot) has no commit in flight."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if (lot_id is None and not self._inflight) or (lot_id and lot_id not in self._inflight):
            future.set_result(None)
        else:
            self._drain_waiters.setdefault(lot_id, []).append(future)
        return future

    def _wake_drain_waiters(self, lot_id: str) -> None:
        keys: list[str | None] = [lot_id] if self._inflight else [lot_id, None]
        for key in keys:
            for future in self._drain_waiters.pop(key, []):
                if not future.done():
                    future.set_result(None)

    # -- bids --------------------------------------------------------------------------------

    async def place_bid(self, command: PlaceBid) -> Accepted | Refusal:
        """``offer_bid`` for a caller that can wait. Cancelling the wait does not cancel the
        bid: once decided, it commits."""
        answered: asyncio.Future[Accepted | Refusal] = asyncio.get_running_loop().create_future()

        def answer(result: Accepted | Refusal) -> None:
            if not answered.done():
                answered.set_result(result)

        self.offer_bid(command, answer)
        return await answered

    def offer_bid(self, command: PlaceBid, answer: Answer, forwarded: bool = False) -> None:
        """Decide a bid now; ``answer`` gets the refusal at once, or the bid once it is durable.

        Why a callback and not a coroutine: the answer comes from the commit's done callback,
        so a bid costs no task of its own (a task and a shield per bid were ~15% of the loop's
        time at 10,000 bids/s; bench/README.md).
        """
        key = request_key(command)
        if key is not None and key in self._request_keys:
            self._repeat(self._request_keys[key], command, answer)
            return
        refusal = self._bid_refusal(command)
        if refusal is not None:
            self._refuse(answer, refusal)
            return
        lot = self.lots.get(command.lot)
        if lot is None:  # closed, and kept in the store: the refusal names it
            self._refuse_closed(command, answer)
            return
        if self.owned is not None and lot.sale not in self.owned:
            if forwarded:  # not sent on again: while a sale changes hands, it is refused
                answer(NO_OWNER)
            else:
                self._forward(lot.sale, command, answer)
            return
        now = self.clock.now_ms()
        bidding = lot.decide_bid(command.actor.name, command.amount, now, command.max_amount)
        if isinstance(bidding, Refusal):
            self._refuse(answer, bidding)
            return
        keyed = None
        if key is not None:
            keyed = self._remember(key, command, now)
        lot_id = command.lot
        stored = self._commit(bidding.events, key)  # applies them: the answer reads the lot
        decision = accepted(lot, bidding)

        def committed(future: asyncio.Future[None]) -> None:
            fault = future.exception() if not future.cancelled() else asyncio.CancelledError()
            if fault is None:
                self.accepted_bids += 1
                # after the flush that _committed scheduled: everyone is sent the bid before
                # its bidder hears that it stands
                asyncio.get_running_loop().call_soon(_settle, keyed, answer, decision)
                return
            refusal = NOT_STORED
            if isinstance(fault, TooLate):  # the database's clock: it came after the deadline
                refusal = Refusal(fault.code, "the lot closed before your bid reached it")
            elif not isinstance(fault, ServerError):
                log.error("bid on %s not stored: %r", lot_id, fault)
            if keyed is not None:
                self._request_keys.pop(keyed.key, None)  # not placed: the key is free again
            self._count_refusal(refusal.code)
            _settle(keyed, answer, refusal)

        stored.add_done_callback(committed)

    async def buy_now(self, command: BuyNow, *, forwarded: bool = False) -> LotClosed | Refusal:
        """Buy-now closes the lot sold at its price, if it is still offered: decided here, on
        the lot's one writer, so a bid and a buy-now racing have one outcome."""
        refusal = self._lot_refusal(command.lot)
        if refusal is not None:
            return refusal
        lot = self.lots.get(command.lot)
        if lot is None:  # closed, and kept in the store
            return Refusal("lot_not_open", f"lot {command.lot[:64]!r} is closed")
        if self.owned is not None and lot.sale not in self.owned:
            if self.forwarder is None or forwarded:
                return NO_OWNER
            return await self.forwarder.buy_now(lot.sale, command)
        decision = lot.decide_buy_now(command.actor.name, self.clock.now_ms())
        if isinstance(decision, Refusal):
            return decision
        try:
            await asyncio.shield(self._commit([decision]))
        except ServerError:
            return NOT_STORED
        self.run_due()  # the sale's next lot may open now
        return decision

    def _forward(self, sale_id: str, command: PlaceBid, answer: Answer) -> None:
        """To the sale's node, which decides it, keeps its request key and answers it."""
        if self.forwarder is None:
            answer(NO_OWNER)
        else:
            self.forwarder.bid(sale_id, command, answer)

    def _repeat(self, keyed: KeyedBid, command: PlaceBid, answer: Answer) -> None:
        """A request_id seen before: the first bid's answer, once it has one; never a second
        bid, and never an answer made up for a different bid."""
        if not keyed.same_bid(command):
            self._refuse(
                answer,
                Refusal(
                    "bad_request",
                    "this request_id was already used for a different bid (another lot or"
                    " amount); use a new request_id for a new bid",
                ),
            )
        elif keyed.result is None:
            keyed.waiters.append(answer)
        else:
            answer(keyed.result)

    def _remember(self, key: str, command: PlaceBid, at: int) -> KeyedBid:
        """Keep a request key for the window; the oldest settled keys go first."""
        keys = self._request_keys
        while keys:
            oldest = next(iter(keys.values()))
            if oldest.result is None or (
                oldest.at > at - REQUEST_KEY_WINDOW_MS and len(keys) < MAX_REQUEST_KEYS
            ):
                break
            del keys[oldest.key]
        keyed = KeyedBid(key, command.lot, command.amount, command.max_amount, at)
        keys[key] = keyed
        return keyed

    def _refuse(self, answer: Answer, refusal: Refusal) -> None:
        self._count_refusal(refusal.code)
        answer(refusal)

    def _count_refusal(self, code: str) -> None:
        self.refused_bids[code] = self.refused_bids.get(code, 0) + 1

    def _bid_refusal(self, command: PlaceBid) -> Refusal | None:
        """Why this bid cannot be taken right now, if there is a reason."""
        return self._lot_refusal(command.lot)

    def _lot_refusal(self, lot_id: str) -> Refusal | None:
        if not self.accepting:
            return Refusal("unavailable", "the server is shutting down; bid again in a moment")
        if not self.knows(lot_id):
            return Refusal("unknown_lot", f"there is no lot {lot_id[:64]!r}")
        if lot_id in self._broken:
            return Refusal("unavailable", "this lot is recovering from a storage fault; retry")
        return None

    def _refuse_closed(self, command: PlaceBid, answer: Answer) -> None:
        """A bid on a closed lot: the lot's own refusal, at once if the lot is kept, else
        once it is read from the store."""
        kept = self.closed.cached(command.lot)
        if kept is not None:
            self._refuse(answer, self._closed_refusal(kept, command))
            return

        async def read_then_refuse() -> None:
            try:
                lot = await self.closed.get(command.lot)
            except ServerError:
                lot = None
            if lot is None:  # unreadable: it is closed all the same
                self._refuse(answer, Refusal("lot_not_open", f"lot {command.lot[:64]!r} is closed"))
            else:
                self._refuse(answer, self._closed_refusal(lot, command))

        self._spawn(read_then_refuse())

    def _closed_refusal(self, lot: Lot, command: PlaceBid) -> Refusal:
        refusal = lot.decide_bid(
            command.actor.name, command.amount, self.clock.now_ms(), command.max_amount
        )
        assert isinstance(refusal, Refusal), "a closed lot took a bid"
        return refusal

    # -- committing --------------------------------------------------------------------------

    def _commit(
        self, events: Sequence[LotEvent], request_key: str | None = None
    ) -> asyncio.Future[None]:
        lot = self.lots[events[0].lot]
        if self.owned is not None and lot.sale not in self.owned:
            raise self._not_owner(lot.sale)
        for event in events:
            lot.apply(event)
        self._inflight[lot.id] = self._inflight.get(lot.id, 0) + 1
        began = work_timer()
        future = self.store.append(events, request_key, lot.snapshot())
        future.add_done_callback(lambda f: self._committed(lot.id, events, f, began))
        self._arm(lot)
        return future

    def _committed(
        self, lot_id: str, events: Sequence[LotEvent], future: asyncio.Future[None], began: float
    ) -> None:
        self.commit_latency.observe(work_timer() - began)
        left = self._inflight[lot_id] - 1
        if left:
            self._inflight[lot_id] = left
        else:
            del self._inflight[lot_id]
            if self._drain_waiters:  # a truth test per commit; empty unless a reload waits
                self._wake_drain_waiters(lot_id)
        if future.cancelled() or future.exception() is not None:
            if isinstance(future.exception(), LeaseLost) and self.owned is not None:
                # another node holds the sale now: stop deciding it at once (the lease step
                # would notice within a second; every bid decided meanwhile would be refused)
                lot = self.lots.get(lot_id)
                if lot is not None:
                    self.owned.discard(lot.sale)
            if isinstance(future.exception(), StoreUnavailable):
                self._outage.add(lot_id)
            failures = self._failures.get(lot_id, 0) + 1
            self._failures[lot_id] = failures
            backoff = min(RETRY_FIRST_MS << min(failures - 1, 8), RETRY_MAX_MS)
            self._retry_at[lot_id] = self.clock.now_ms() + backoff
            self._last_fault = str(future.exception()) if not future.cancelled() else "cancelled"
            if lot_id not in self._broken:
                self._broken.add(lot_id)
                self._spawn(self._reload(lot_id))
            return
        if self._failures:  # a truth test per commit; the dicts are empty unless faults occur
            self._failures.pop(lot_id, None)
            self._retry_at.pop(lot_id, None)
            self._outage.discard(lot_id)
        for event in events:
            self.bus.publish(event)
        if isinstance(events[-1], LotClosed):
            # durable with its snapshot: from now on the store has it (engine/closed.py)
            self._retire(self.lots[lot_id])

    async def _reload(self, lot_id: str, *, following: bool = False) -> None:
        """The lot read again from the store: after a failed commit, or (``following``) a
        follower's copy that missed events."""
        await self._drained(lot_id)  # what rode on the failed commit is answered first
        old = self.lots.get(lot_id)
        if old is None:  # its close was committed after all: the store has it
            self._broken.discard(lot_id)
            return
        while True:
            try:
                logged = await self.store.lot_log(lot_id)
                break
            except StoreUnavailable as exc:  # an outage: said in words, tried again
                log.warning("reloading lot %s: %s", lot_id, exc)
                await asyncio.sleep(0.5)
            except Exception:
                log.exception("reloading lot %s", lot_id)
                await asyncio.sleep(0.5)
        stored = StoredLot(old.spec, old.sale, old.mode, logged.events, logged.snapshot)
        lot = stored.rebuild()
        if not following:
            # this node's failed decision is undone in the views too; a follower's views are
            # its fan-out's, which reloads what it missed itself and must not skip past it
            self.views.reset(stored.rebuild(), logged.events)
        self._broken.discard(lot_id)
        self._following_gap.discard(lot_id)
        if lot.status == "closed":
            self._retire(lot)
        else:
            self.lots[lot_id] = lot
            self._arm(lot)
        retry_at = self._retry_at.get(lot_id)
        if retry_at is not None and lot.status == "scheduled":
            self._set_timer(retry_at)  # a failed opening: the sale step runs again then
        held = None if following else self._fault_log.allow(self.clock.now_ms())
        if held is not None:
            log.warning(
                "lot %s reloaded from the store at seq %d after a failed commit (%s)%s",
                lot_id,
                lot.seq,
                self._last_fault,
                f"; {held} more like this since the last one not logged" if held else "",
            )

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the scheduler -----------------------------------------------------------------------

    def _arm(self, lot: Lot) -> None:
        deadline = lot.next_deadline()
        if deadline is None:
            return
        if self._retry_at:
            deadline = max(deadline, self._retry_at.get(lot.id, deadline))
        known = self._wake_of.get(lot.id)
        if known is not None and known <= deadline:
            return  # an earlier wake is queued; it will re-arm for the rest
        self._wake_of[lot.id] = deadline
        heapq.heappush(self._wakes, (deadline, lot.id))
        self._set_timer(deadline)

    def _set_timer(self, at: int) -> None:
        if not self.accepting:
            return
        if self._timer_at is not None and self._timer_at <= at and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        delay = max(0.0, (at - self.clock.now_ms()) / 1000)
        self._timer_at = at
        self._timer = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.run_due()

    def run_due(self) -> int | None:
        """Do everything due by now: close lots, advance and start sales. Returns the next
        moment anything is due (and arms the timer for it)."""
        now = self.clock.now_ms()
        touched: set[str] = set()
        while self._wakes and self._wakes[0][0] <= now:
            at, lot_id = heapq.heappop(self._wakes)
            if self._wake_of.get(lot_id) != at:
                continue  # superseded by an earlier wake
            del self._wake_of[lot_id]
            lot = self.lots.get(lot_id)
            if lot is None:
                continue  # closed since (withdrawn): nothing is due
            if self.owned is not None and lot.sale not in self.owned:
                continue  # its node closes it; armed again if this one adopts the sale
            if lot_id in self._broken:
                continue  # re-armed by the reload
            if self._retry_at.get(lot_id, now) > now:
                self._arm(lot)  # an earlier wake than the backoff allows: wait for it
                continue
            if lot_id in self._outage:
                # the store was away up to here, and the bidders with it: a fresh window, as
                # after a restart, instead of a sale nobody could contest (tried again by the
                # backoff until it commits)
                extended = lot.decide_resume(now)
                if extended is not None:
                    self._commit([extended])
                    continue
            closing = lot.decide_close(now)
            if closing is not None:
                self._commit([closing])
                touched.add(lot.sale)
            else:
                self._arm(lot)
        next_sale_wake = self._run_sales(now, touched)
        candidates = [t for t in (next_sale_wake, self._wakes[0][0] if self._wakes else None) if t]
        next_at = min(candidates) if candidates else None
        if next_at is not None:
            self._set_timer(next_at)
        return next_at

    def _run_sales(self, now: int, touched: set[str]) -> int | None:
        wake: int | None = None
        for sale in self.sales.values():
            if sale.status in ("ended", "paused"):
                continue
            if self.owned is not None and sale.id not in self.owned:
                continue
            if sale.started_at is None:
                starts_at = sale.starts_at(now)
                if starts_at is not None and starts_at > now:
                    wake = starts_at if wake is None else min(wake, starts_at)
                started = sale.decide_start(now)
                if started is None:
                    continue
                self._commit_sale(sale, started)
            if sale.id not in self._announced:
                continue
            assert sale.started_at is not None
            step = plan(sale.spec, sale.started_at, self.lots, now, self.closed.closed_at)
            for lot_id in step.open_now:
                opening = self.lots[lot_id].decide_open(now)
                if not isinstance(opening, Refusal):
                    self._commit([opening])
            if step.ended and sale.id not in self._spec_writes:
                ended = sale.decide_end(now)
                if not isinstance(ended, Refusal):
                    self._commit_sale(sale, ended)
            elif step.wake_at is not None and step.wake_at > now:
                wake = step.wake_at if wake is None else min(wake, step.wake_at)
        return wake

    def _commit_sale(self, sale: Sale, event: SaleEvent) -> asyncio.Task[bool]:
        """Apply a sale's decision at once (the next decision must see it) and queue it in the
        sale's stream; it is published once durable. The task says whether it was stored."""
        if self.owned is not None and sale.id not in self.owned:
            raise self._not_owner(sale.id)
        sale.apply(event)
        stored = self.store.append([event])
        self._sale_inflight[sale.id] = self._sale_inflight.get(sale.id, 0) + 1
        task = asyncio.ensure_future(self._sale_committed(sale.id, event, stored))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _sale_committed(
        self, sale_id: str, event: SaleEvent, stored: asyncio.Future[None]
    ) -> bool:
        fault: ServerError | None = None
        try:
            await stored
        except ServerError as exc:
            fault = exc
        finally:
            left = self._sale_inflight[sale_id] - 1
            if left:
                self._sale_inflight[sale_id] = left
            else:
                del self._sale_inflight[sale_id]
        if fault is not None:
            if self._fault_log.allow(self.clock.now_ms()) is not None:
                log.warning("sale %s: %s not stored: %s", sale_id, type(event).__name__, fault)
            await self._reload_sale(sale_id)
            return False
        if isinstance(event, SaleEnded):
            for hook in list(self.sale_end_hooks):
                try:
                    await hook(self.sales[sale_id])
                except Exception:
                    log.exception("sale %s: an end hook failed", sale_id)
        self.bus.publish_sale(event)
        if isinstance(event, SaleEnded):
            self.closed.sale_ended(self.sales[sale_id].spec.lot_ids)
        if isinstance(event, SaleStarted):
            self._announced.add(sale_id)
            self.run_due()  # now its first lots may open
        return True

    async def _reload_sale(self, sale_id: str, *, retry: bool = True) -> None:
        """After a failed commit the store is the truth: the sale is rebuilt from its stream
        once nothing more of it is in flight, and its step is retried a moment later."""
        while self._sale_inflight.get(sale_id):
            await asyncio.sleep(0.01)
        while True:
            try:
                events = await self.store.sale_log(sale_id)
                break
            except Exception:
                log.exception("reloading sale %s", sale_id)
                await asyncio.sleep(0.5)
        was = self.sales.get(sale_id)
        if was is None:  # retired meanwhile (it had ended): nothing to read again
            return
        sale = self.sales[sale_id] = _rebuild_sale(was.spec, events)
        if sale.started_at is not None:
            self._announced.add(sale_id)
        if was.ended_at is None and sale.ended_at is not None and not retry:
            self.closed.sale_ended(sale.spec.lot_ids)  # a follower that missed the end
            self._followed_end(sale)
        if retry:
            self._set_timer(self.clock.now_ms() + RETRY_MAX_MS)

    # -- several nodes: following the sales others decide, taking one over ------------------

    def follow(self, message: Message) -> None:
        """A committed event from the bus (a bus handler, in a cluster): applied to this node's
        copy of a sale another node decides, so reads, bids' refusals and a takeover start from
        where it is. A repeat is dropped; a gap makes the lot or sale be read again from the
        store, the truth (the bus may lose messages)."""
        if message.stream == "sale":
            sale = self.sales.get(message.key)
            if sale is None or self.owned is None or sale.id in self.owned:
                return
            if message.seq <= sale.seq:
                return
            if message.seq != sale.seq + 1 or not isinstance(message.event, SaleEvent):
                self._spawn(self._reload_sale(sale.id, retry=False))
                return
            sale.apply(message.event)
            if isinstance(message.event, SaleStarted):
                self._announced.add(sale.id)
            elif isinstance(message.event, SaleEnded):
                self.closed.sale_ended(sale.spec.lot_ids)
                self._followed_end(sale)
            return
        lot = self.lots.get(message.key)
        if lot is None or self.owned is None or lot.sale in self.owned:
            return
        if message.seq <= lot.seq:
            return
        event = message.event
        if message.seq != lot.seq + 1 or isinstance(event, SaleEvent):
            if lot.id not in self._following_gap:
                self._following_gap.add(lot.id)
                self._spawn(self._reload(lot.id, following=True))
            return
        lot.apply(event)
        if isinstance(event, LotClosed):
            self._retire(lot)

    def _followed_end(self, sale: Sale) -> None:
        for hook in list(self.followed_end_hooks):
            try:
                hook(sale)
            except Exception:
                log.exception("sale %s: a followed end's hook failed", sale.id)

    def follow_lost(self) -> None:
        """The bus may have lost events without a gap to show it (it reconnected): every
        followed lot and sale is read again from the store."""
        if self.owned is None:
            return
        for lot in list(self.lots.values()):
            if lot.sale not in self.owned and lot.id not in self._following_gap:
                self._following_gap.add(lot.id)
                self._spawn(self._reload(lot.id, following=True))
        for sale_id in list(self.sales):
            if sale_id not in self.owned:
                self._spawn(self._reload_sale(sale_id, retry=False))

    async def adopt(self, sale_id: str) -> None:
        """Decide ``sale_id`` from now on (this node has just taken its lease): its stream and
        its open lots read again from the store, then resumed as after a restart, so a lot
        whose deadline passed while nobody decided gets a fresh window, announced."""
        sale = self.sales.get(sale_id)
        if sale is None or self.owned is None or sale_id in self.owned:
            return
        self.owned.add(sale_id)
        events = await self.store.sale_log(sale_id)
        sale = self.sales[sale_id] = _rebuild_sale(sale.spec, events)
        if sale.started_at is not None:
            self._announced.add(sale_id)
        # the request keys the old owner stored: a bid it placed, sent again here after its
        # answer was lost with it, is that bid's answer, not a second bid nor a refusal
        since = self.clock.now_ms() - REQUEST_KEY_WINDOW_MS
        keys = await self.store.request_keys_since(since, MAX_REQUEST_KEYS)
        open_ids = [lot_id for lot_id in sale.spec.lot_ids if lot_id in self.lots]
        rebuilt = await self._read_taken(open_ids)
        # from here to the end of the takeover nothing awaits: no bid comes in between
        latest = max((e.ts for e in events[-1:]), default=0)
        for lot in rebuilt:
            latest = max(latest, lot.opened_at or 0, *(bid.ts for bid in lot.recent[-1:]))
        # the last owner's times were its clock's: this one's may run a little behind, and a
        # lot's ts only rises (OffsetClock; a plain clock has nothing to keep)
        floor = getattr(self.clock, "not_before", None)
        if floor is not None:
            floor(latest)
        now = self.clock.now_ms()
        waiting = []
        for lot in rebuilt:
            # the views are left to the fan-out, which gets what the bus lost of the old
            # owner's from the store: resetting them here skipped the watchers past it
            if lot.status == "closed":
                self._retire(lot)
                continue
            self.lots[lot.id] = lot
            event = lot.decide_resume(now)
            if event is not None:
                waiting.append(self._commit([event]))
            else:
                self._arm(lot)
        ours = set(sale.spec.lot_ids)
        for key, own in reversed(keys):  # oldest first, as _remember keeps them
            if own.lot in ours and key not in self._request_keys:
                self._request_keys[key] = self._reloaded_key(key, own)
        for future in waiting:
            try:
                await asyncio.shield(future)
            except ServerError:
                log.exception("sale %s: could not commit a takeover's extension", sale_id)
        self.run_due()

    async def _read_taken(self, lot_ids: list[str]) -> list[Lot]:
        """A taken-over sale's open lots as stored. This node decides them from the moment it
        took the lease, reads included: a lot whose copy here moved past what was read (a bid
        decided here meanwhile, committed after the read) is read again once its commits are
        in, until a pass finds none behind; one still moving after that keeps its copy here,
        which holds its own bids (a commit that conflicts reloads it, as ever)."""
        taken: dict[str, Lot] = {}
        behind = lot_ids
        for _ in range(TAKEOVER_READS):
            for lot_id in behind:
                await self._drained(lot_id)
            logs = await self.store.lot_logs(behind)
            for lot_id in behind:
                old = self.lots.get(lot_id)
                if old is None:  # closed meanwhile, by this node: retired with its close
                    taken.pop(lot_id, None)
                    continue
                catalog = CatalogLot(old.spec, old.sale, old.mode)
                taken[lot_id] = stored_lot(catalog, logs.get(lot_id)).rebuild()
            behind = [
                i for i, lot in taken.items() if i in self.lots and lot.seq < self.lots[i].seq
            ]
            if not behind:
                break
        for lot_id in behind:
            taken[lot_id] = self.lots[lot_id]
        return [taken[i] for i in lot_ids if i in taken and i in self.lots]

    async def learn_catalog(self) -> list[str]:
        """The sales another node added since this one loaded (a cluster: ``Cluster.step``
        asks each beat), read from the store and followed; their ids."""
        specs, entries = await self.store.catalog(closed=False)
        new = [spec for spec in specs if spec.id not in self.sale_ids()]
        added = self._learn_changes(specs, entries)
        ids = {spec.id for spec in new}
        entries = [entry for entry in entries if entry.sale in ids] + added
        if not entries and not new:
            return []
        logs = await self.store.lot_logs([entry.spec.id for entry in entries])
        for spec in new:
            sale = self.sales[spec.id] = _rebuild_sale(spec, await self.store.sale_log(spec.id))
            if sale.started_at is not None:
                self._announced.add(spec.id)
            self.views.track_sale(spec, sale.seq)
        open_ids = set()
        for entry in entries:
            stored = stored_lot(entry, logs.get(entry.spec.id))
            self._track(stored.rebuild(), stored.rebuild())
            open_ids.add(entry.spec.id)
        for spec in new:  # what the store has closed already stays there
            for lot_id in spec.lot_ids:
                if lot_id not in open_ids:
                    self.closed.add(lot_id, spec.id)
        return [spec.id for spec in new]

    def _learn_changes(
        self, specs: Sequence[SaleSpec], entries: Sequence[CatalogLot]
    ) -> list[CatalogLot]:
        """What the owners of followed sales changed in the catalog (a start or schedule, lots
        added, a lot edited): no event carries it, so it is read here, and a takeover starts
        from it. Returns the lots added, to be tracked as a new sale's are."""
        followed = {
            spec.id: spec
            for spec in specs
            if spec.id in self.sales and self.owned is not None and spec.id not in self.owned
        }
        for sale_id, spec in followed.items():
            if self.sales[sale_id].spec != spec and sale_id not in self._spec_writes:
                self.sales[sale_id].spec = spec
        added: list[CatalogLot] = []
        for entry in entries:
            if entry.sale not in followed:
                continue
            lot = self.lots.get(entry.spec.id)
            if lot is None:
                if not self.knows(entry.spec.id):
                    added.append(entry)
            elif lot.status == "scheduled" and lot.spec != entry.spec:
                lot.spec = entry.spec
                view = self.views.lots.get(lot.id)
                if view is not None:
                    view.spec = entry.spec
        return added

    def _not_owner(self, sale_id: str) -> NotOwner:
        """Why this node may not change a sale another node decides (only that node writes)."""
        return NotOwner(
            f"sale {sale_id[:64]!r} is run by another server of this house just now; nothing"
            " was changed: ask again in a moment"
        )

    def busy(self, sale_id: str) -> bool:
        """Whether any of the sale's commits is still in flight."""
        sale = self.sales.get(sale_id)
        if sale is None:
            return False
        return sale_id in self._sale_inflight or any(
            lot_id in self._inflight for lot_id in sale.spec.lot_ids
        )

    def release(self, sale_id: str) -> None:
        """Stop deciding ``sale_id`` (its lease is lost or handed over): from now on its bids
        are forwarded and its events followed. What is in flight the store refuses (a stale
        lease), and each such lot is read again from it."""
        if self.owned is not None:
            self.owned.discard(sale_id)

    # -- admin operations: each is an event in the log, with who made it -------------------

    def _sale(self, sale_id: str) -> Sale:
        sale = self.sales.get(sale_id)
        if sale is None:
            raise UnknownSale(f"there is no sale {sale_id[:64]!r}")
        return sale

    async def _lot(self, lot_id: str) -> Lot:
        lot = await self.find_lot(lot_id)
        if lot is None:
            raise UnknownLot(f"there is no lot {lot_id[:64]!r}")
        return lot

    def _lots_of(self, sale: Sale) -> list[Lot]:
        """A sale's lots not closed (a closed one has nothing left to pause or withdraw)."""
        return [self.lots[lot_id] for lot_id in sale.spec.lot_ids if lot_id in self.lots]

    async def _audit(self, by: str, action: str, detail: str) -> None:
        await self.store.audit(by, action, detail, self.clock.now_ms())

    async def _commit_all(self, events: list[LotEvent]) -> None:
        await self._commit_all_queued([self._commit([event]) for event in events])

    async def _commit_all_queued(self, futures: list[asyncio.Future[None]]) -> None:
        for future in futures:
            try:
                await asyncio.shield(future)
            except ServerError as exc:
                raise StoreUnavailable("the change could not be stored; try again") from exc

    async def _commit_sale_change(
        self, sale: Sale, event: SaleEvent, lot_events: list[LotEvent]
    ) -> None:
        """A sale decision after what it does to the sale's lots, all queued at once (no other
        decision can come between, so the log and the bus show them in this order)."""
        lots_stored = [self._commit([lot_event]) for lot_event in lot_events]
        sale_stored = self._commit_sale(sale, event)
        stored = await asyncio.shield(sale_stored)
        try:
            await self._commit_all_queued(lots_stored)
        except StoreUnavailable:
            stored = False
        if not stored:
            raise StoreUnavailable("the change could not be stored; try again")

    async def create_sale(self, sale: SaleSpec, lots: Sequence[LotSpec], by: str) -> None:
        try:
            await self.add_sale(sale, lots)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        await self._audit(by, "create-sale", f"{sale.id} ({len(lots)} lots)")
        self.run_due()

    async def update_lot(
        self, lot_id: str, spec: LotSpec, by: str, *, forwarded: bool = False
    ) -> None:
        lot = await self._lot(lot_id)
        if spec.id != lot_id:
            raise BadRequest("a lot's id cannot change")
        if self._elsewhere(lot.sale, forwarded):
            await self._ask_owner(lot.sale, AdminOp("update-lot", by, lot_id, lots=(spec,)))
            return
        if lot.status != "scheduled":
            raise BadRequest(f"{lot.spec.title} has opened; only lots not yet open can be edited")
        await self.store.save_specs(None, [spec])
        lot.spec = spec
        self.views.lots[lot_id].spec = spec
        await self._audit(by, "update-lot", lot_id)

    async def add_lots(
        self, sale_id: str, lots: Sequence[LotSpec], by: str, *, forwarded: bool = False
    ) -> None:
        """More lots at the end of a sale that has not ended: in a running live sale they open
        after its others, in a running timed sale at once."""
        sale = self._sale(sale_id)
        if self._elsewhere(sale_id, forwarded):
            await self._ask_owner(sale_id, AdminOp("add-lots", by, sale_id, lots=tuple(lots)))
            return
        taken = [lot.id for lot in lots if self.knows(lot.id)]
        if taken:
            raise BadRequest(f"lot ids already in use: {', '.join(taken)}")
        spec = sale.decide_add_lots([lot.id for lot in lots])
        if isinstance(spec, Refusal):
            raise BadRequest(spec.message)
        self._hold_spec(sale_id)  # the sale cannot end while the store writes them
        try:
            await self.store.add_lots(spec, lots)
        except BaseException:
            self._spec_writes.discard(sale_id)
            self.run_due()  # what waited for the write (the sale's end) goes on
            raise
        self._spec_writes.discard(sale_id)
        sale = self.sales[sale_id]  # the same sale, or rebuilt by a reload meanwhile
        sale.spec = spec
        for lot in lots:
            self._track(Lot(lot, sale_id, spec.mode), Lot(lot, sale_id, spec.mode))
        await self._audit(
            by, "add-lots", f"{sale_id} +{len(lots)} ({', '.join(spec.lot_ids[-len(lots) :])})"
        )
        self.run_due()

    def _hold_spec(self, sale_id: str) -> None:
        if sale_id in self._spec_writes:
            raise BadRequest(f"sale {sale_id} is being changed; try again in a moment")
        self._spec_writes.add(sale_id)

    def retire_sale(self, sale_id: str) -> None:
        """Put an ended sale out of the lists (``sales``); its lots and events stay in the
        store, its lots' ids stay taken, and a restart lists it again until retired again."""
        sale = self._sale(sale_id)
        if sale.ended_at is None:
            raise BadRequest(f"sale {sale_id} has not ended")
        self.retired_sales[sale_id] = self.sales.pop(sale_id)

    def sale_ids(self) -> set[str]:
        """Every sale's id, listed or retired: the ids a new sale cannot take."""
        return {*self.sales, *self.retired_sales}

    async def start_sale(
        self, sale_id: str, by: str, at_ms: int | None = None, *, forwarded: bool = False
    ) -> None:
        """Start a held sale now, or schedule it for ``at_ms``."""
        sale = self._sale(sale_id)
        if self._elsewhere(sale_id, forwarded):
            await self._ask_owner(sale_id, AdminOp("start-sale", by, sale_id, at_ms=at_ms))
            return
        if sale.started_at is not None:
            raise BadRequest(f"sale {sale_id} has already started")
        spec = replace(sale.spec, held=False, starts_at=at_ms)
        self._hold_spec(sale_id)
        try:
            await self.store.save_specs(spec, [])
        finally:
            self._spec_writes.discard(sale_id)
        sale.spec = spec
        await self._audit(
            by, "schedule-sale" if at_ms else "start-sale", f"{sale_id} {at_ms or ''}"
        )
        self.run_due()

    def _decided(self, decision: SaleEvent | Refusal) -> SaleEvent:
        if isinstance(decision, Refusal):
            raise BadRequest(decision.message)
        return decision

    async def pause_sale(self, sale_id: str, by: str, *, forwarded: bool = False) -> None:
        sale = self._sale(sale_id)
        if self._elsewhere(sale_id, forwarded):
            await self._ask_owner(sale_id, AdminOp("pause-sale", by, sale_id))
            return
        now = self.clock.now_ms()
        paused = self._decided(sale.decide_pause(now, by))
        pauses = [
            event for lot in self._lots_of(sale) if (event := lot.decide_pause(now, by)) is not None
        ]
        await self._commit_sale_change(sale, paused, list(pauses))
        await self._audit(by, "pause-sale", sale_id)

    async def resume_sale(self, sale_id: str, by: str, *, forwarded: bool = False) -> None:
        sale = self._sale(sale_id)
        if self._elsewhere(sale_id, forwarded):
            await self._ask_owner(sale_id, AdminOp("resume-sale", by, sale_id))
            return
        now = self.clock.now_ms()
        resumed = self._decided(sale.decide_resume(now, by))
        resumes = [
            event
            for lot in self._lots_of(sale)
            if (event := lot.decide_unpause(now, by)) is not None
        ]
        await self._commit_sale_change(sale, resumed, list(resumes))
        await self._audit(by, "resume-sale", sale_id)
        self.run_due()

    async def cancel_sale(self, sale_id: str, by: str, *, forwarded: bool = False) -> None:
        sale = self._sale(sale_id)
        if self._elsewhere(sale_id, forwarded):
            await self._ask_owner(sale_id, AdminOp("cancel-sale", by, sale_id))
            return
        now = self.clock.now_ms()
        ended = self._decided(sale.decide_end(now, "cancelled"))
        withdrawals = [
            event
            for lot in self._lots_of(sale)
            if not isinstance(event := lot.decide_withdraw(now, by), Refusal)
        ]
        await self._commit_sale_change(sale, ended, list(withdrawals))
        await self._audit(by, "cancel-sale", sale_id)

    async def void_bid(
        self, lot_id: str, bid_seq: int, by: str, *, forwarded: bool = False
    ) -> BidVoided:
        """An admin voids a bid of an open lot: the lot stands where its log without that bid
        (and the automatic bids it caused) decides, announced to all, audited."""
        while True:
            await self._drained(lot_id)
            lot = self.lots.get(lot_id)
            if lot is None:
                closed = await self._lot(lot_id)  # UnknownLot if there is none
                raise BadRequest(f"{closed.spec.title} is closed: its bids stand")
            if self._elsewhere(lot.sale, forwarded):
                op = AdminOp("void-bid", by, lot_id, seq=bid_seq)
                voided = await self._ask_owner(lot.sale, op)
                if voided is None:  # an owner that says done always sends its event
                    raise StoreUnavailable("the bid's void was not confirmed; look again")
                return voided
            bodies = await self.store.events_since(lot_id, 0, MAX_VOID_HISTORY)
            if (
                lot is self.lots.get(lot_id)
                and lot_id not in self._inflight
                and not (bodies and EVENT_DECODER.decode(bodies[-1]).seq != lot.seq)
            ):
                break  # nothing was decided while the log was read
        history = [EVENT_DECODER.decode(body) for body in bodies]
        if len(history) >= MAX_VOID_HISTORY:
            raise BadRequest(f"lot {lot_id} has too many bids to void one here")
        try:
            decision = lot.decide_void(history, bid_seq, self.clock.now_ms(), by)
        except ValueError as exc:  # the log and the lot disagree: the store is the truth
            raise StoreUnavailable(f"lot {lot_id} is being reloaded; try again") from exc
        if isinstance(decision, Refusal):
            raise BadRequest(decision.message)
        await self._commit_all([decision])
        await self._audit(by, "void-bid", f"{lot_id} #{bid_seq} ({len(decision.voided)} bids)")
        return decision

    async def withdraw_lot(self, lot_id: str, by: str, *, forwarded: bool = False) -> None:
        lot = await self._lot(lot_id)
        if lot.status != "closed" and self._elsewhere(lot.sale, forwarded):
            await self._ask_owner(lot.sale, AdminOp("withdraw-lot", by, lot_id))
            return
        decision = lot.decide_withdraw(self.clock.now_ms(), by)
        if isinstance(decision, Refusal):
            raise BadRequest(decision.message)
        await self._commit_all([decision])
        await self._audit(by, "withdraw-lot", lot_id)
        self.run_due()

    async def run_admin(self, op: AdminOp, *, forwarded: bool = False) -> BidVoided | None:
        """Make ``op`` (one asked of another node: ``forwarded``, never sent on again)."""
        if op.kind == "void-bid":
            return await self.void_bid(op.target, op.seq, op.by, forwarded=forwarded)
        if op.kind == "start-sale":
            await self.start_sale(op.target, op.by, op.at_ms, forwarded=forwarded)
        elif op.kind == "pause-sale":
            await self.pause_sale(op.target, op.by, forwarded=forwarded)
        elif op.kind == "resume-sale":
            await self.resume_sale(op.target, op.by, forwarded=forwarded)
        elif op.kind == "cancel-sale":
            await self.cancel_sale(op.target, op.by, forwarded=forwarded)
        elif op.kind == "withdraw-lot":
            await self.withdraw_lot(op.target, op.by, forwarded=forwarded)
        elif op.kind == "update-lot":
            if len(op.lots) != 1:
                raise BadRequest("a lot's edit carries exactly one lot")
            await self.update_lot(op.target, op.lots[0], op.by, forwarded=forwarded)
        else:
            await self.add_lots(op.target, op.lots, op.by, forwarded=forwarded)
        return None

    def _elsewhere(self, sale_id: str, forwarded: bool) -> bool:
        """Whether another node decides ``sale_id``, so this change goes there. One that came
        from another node is never sent on: while a sale changes hands, it is refused."""
        if self.owned is None or sale_id in self.owned:
            return False
        if forwarded or self.forwarder is None:
            raise self._not_owner(sale_id)
        return True

    async def _ask_owner(self, sale_id: str, op: AdminOp) -> BidVoided | None:
        assert self.forwarder is not None  # _elsewhere said so
        return await self.forwarder.admin(sale_id, op)

    # -- reading -----------------------------------------------------------------------------

    def knows(self, lot_id: str) -> bool:
        """Whether there is such a lot, open or closed."""
        return lot_id in self.lots or lot_id in self.closed

    def lot_ids(self) -> set[str]:
        """Every lot's id, open or closed."""
        return {*self.lots, *self.closed}

    @property
    def pending_commits(self) -> int:
        """Lot appends handed to the store and not yet resolved (its writer's queue)."""
        return sum(self._inflight.values())

    def lot_count(self) -> int:
        return len(self.lots) + len(self.closed)

    async def find_lot(self, lot_id: str) -> Lot | None:
        """The lot as the house has it: in memory, or (closed) read from the store; None if
        there is none. Raises StoreUnavailable if the store cannot be read."""
        lot = self.lots.get(lot_id)
        return lot if lot is not None else await self.closed.get(lot_id)

    def public_name(self, sale_id: str, bidder: str) -> str:
        """How the public sees ``bidder`` in this sale: the name, or its pseudonym."""
        sale = self.sales.get(sale_id)
        if sale is None or not sale.spec.anonymous:
            return bidder
        return pseudonym(sale.spec.pseudonym_salt, bidder)

    def lot_on_the_block(self) -> str | None:
        """The most recently opened lot still open (what a bare number bids on)."""
        best: tuple[int, str] | None = None
        for lot in self.views.lots.values():
            opened = lot.opened_at
            if lot.status == "open" and opened is not None and (best is None or opened >= best[0]):
                best = (opened, lot.id)
        return best[1] if best else None
