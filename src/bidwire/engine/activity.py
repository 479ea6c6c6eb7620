"""My activity, watch lists and notices: a read layer over the store, and the one place that
decides who is told what happened, fed by the house's committed events.

Principles:
- A person is who bids: an account by its username, a guest by its session's name (a guest
  name is held by one session at a time: ``engine/gate.py``). Their bids and wins are read from
  the event log by an index on the name (``store/activity.py``), newest first, a page at a
  time; what they lead or were outbid on, from the published views.
- It is their own data: no other bidder's name appears in it, so an anonymous sale shows a
  person their own bids and never anyone else's.
- Notices are decided here and nowhere else (``NoticeRules``, pure, time passed in): outbid
  when a lead is lost once a loop turn's commits settle (a maximum that answers at once is no
  lead lost), won at a sale, a watched lot opening, and a watched lot nearing its end: once,
  when ``ENDING_MS`` or less are left, for lots that opened with more than that.
- Accounts keep their watch list and notices in the store (inbox bounded, oldest dropped);
  guests' watch lists live in memory with their session (bounded), and their notices are live
  only. Transports deliver what is decided (``deliver``), they decide nothing.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NamedTuple

import msgspec

from bidwire.bus import Bus, Message
from bidwire.clock import Clock
from bidwire.domain.events import (
    BidPlaced,
    BidVoided,
    LotClosed,
    LotEvent,
    LotExtended,
    LotOpened,
    LotPaused,
    LotResumed,
    MaxRaised,
)
from bidwire.domain.lot import Lot
from bidwire.domain.money import format_amount
from bidwire.engine.house import AuctionHouse
from bidwire.errors import BadRequest, BidwireError, StoreUnavailable, UnknownLot
from bidwire.store.activity import BidCursor, NewNotice, NoticeRow
from bidwire.store.base import EVENT_DECODER, Store

log = logging.getLogger("bidwire.activity")

ENDING_MS = 60_000
"""A watched lot "nears its end" when this much time or less is left."""
MAX_WATCHES = 200
"""Lots one person may watch at once."""
INBOX_KEEP = 200
"""Notices an account's inbox keeps (the oldest go first)."""
PAGE = 50
MAX_PAGE = 200
WON_SHOWN = 100
"""The most recent wins listed (``owed`` counts them all)."""
MAX_GUESTS = 10_000
MAX_CLOSED_KEPT = 10_000
"""Lots whose close the rules remember, so a repeat of any of their events tells no one."""
"""Guests whose watch lists are kept in memory (the least recently used go first)."""
ACCOUNT_CACHE = 10_000
"""Names known to be (or not be) an account's, so a notice seldom asks the store."""

NoticeKind = Literal["outbid", "won", "watched_opened", "watched_ending"]
LotStateName = Literal["scheduled", "open", "paused", "closed"]


# -- the shapes: the wire encodes them, and the HTTP API documents them from them ------------


class MyBid(msgspec.Struct):
    lot: str
    title: str
    currency: str
    kind: Annotated[
        Literal["bid", "max_raised"],
        msgspec.Meta(description="max_raised: you raised your maximum; the price stayed."),
    ]
    amount: int | None
    max_amount: Annotated[
        int | None, msgspec.Meta(description="Your maximum behind it, where you left one.")
    ]
    auto: Annotated[bool, msgspec.Meta(description="Placed by the house for your maximum.")]
    voided: Annotated[bool, msgspec.Meta(description="An admin voided it.")]
    seq: int
    ts: int


class MyLot(msgspec.Struct):
    lot: str
    title: str
    sale: str
    currency: str
    state: LotStateName
    amount: Annotated[int | None, msgspec.Meta(description="The high bid now.")]
    ends_at: int | None
    my_amount: Annotated[int | None, msgspec.Meta(description="Your highest bid on it.")]
    max_amount: Annotated[
        int | None, msgspec.Meta(description="Your maximum, while you lead with one.")
    ]


class Won(msgspec.Struct):
    lot: str
    title: str
    currency: str
    amount: Annotated[int, msgspec.Meta(description="The hammer (no buyer's premium yet).")]
    reason: str
    ts: int


class ActivityPage(msgspec.Struct, tag="activity", tag_field="type", omit_defaults=True):
    """A person's own activity (the wire's ``activity``; GET /api/me/activity)."""

    user: str
    bids: Annotated[list[MyBid], msgspec.Meta(description="Newest first, a page at a time.")]
    next_before: Annotated[
        str | None,
        msgspec.Meta(description="Pass as before for the next (older) page; null: no more."),
    ]
    leading: list[MyLot]
    outbid: list[MyLot]
    won: Annotated[list[Won], msgspec.Meta(description="The most recent 100, newest first.")]
    owed: Annotated[
        dict[str, int],
        msgspec.Meta(description="Per currency: the hammer of everything you won."),
    ]
    watching: list[MyLot]
    ts: int
    id: str | int | None = None


class Notice(msgspec.Struct, tag="notice", tag_field="type"):
    """Something that happened to you or a lot you watch (the wire's ``notice``)."""

    kind: NoticeKind
    lot: str
    title: str
    sale: str
    currency: str
    amount: Annotated[
        int | None, msgspec.Meta(description="outbid: the high bid now; won: the hammer.")
    ]
    ends_at: int | None
    message: Annotated[str, msgspec.Meta(description="What happened, in words.")]
    ts: int
    notice_id: Annotated[
        int | None, msgspec.Meta(description="Its id in your inbox (accounts only).")
    ] = None
    read: bool = False


class Inbox(msgspec.Struct, tag="inbox", tag_field="type", omit_defaults=True):
    """An account's kept notices, newest first (the wire's ``inbox``; GET /api/me/notices)."""

    notices: list[Notice]
    unread: int
    kept: Annotated[
        bool, msgspec.Meta(description="False for guests: their notices are live only.")
    ]
    ts: int
    id: str | int | None = None


class Watched(msgspec.Struct, tag="watched", tag_field="type", omit_defaults=True):
    lot: str
    on: bool
    watching: list[str]
    ts: int
    id: str | int | None = None


NOTICE_DECODER = msgspec.json.Decoder(Notice)


@dataclass(frozen=True, slots=True)
class Who:
    """Whose activity: ``name`` as it bids; ``account`` keeps things in the store."""

    name: str
    account: bool


def cursor_text(cursor: BidCursor) -> str:
    ts, lot, seq = cursor
    return f"{ts}:{seq}:{lot}"


def parse_cursor(text: str) -> BidCursor:
    ts, _, rest = text.partition(":")
    seq, _, lot = rest.partition(":")
    if not (ts.isdigit() and seq.isdigit() and lot) or len(text) > 120:
        raise BadRequest("before must be the next_before of an earlier activity page")
    return int(ts), lot, int(seq)


# -- the rules of notices (pure) ------------------------------------------------------------


class Decided(NamedTuple):
    kind: NoticeKind
    lot: str
    to: str | None
    """The person told; None: the lot's watchers."""
    amount: int | None
    ends_at: int | None


@dataclass(slots=True)
class _Tracked:
    leader: str | None
    amount: int | None
    ends_at: int | None
    long: bool
    """Opened with more than ENDING_MS to run: its end is worth a notice of its own."""
    warned: bool = False
    armed: int | None = None
    """When its end notice is queued for (one heap entry per deadline, not one per bid)."""
    seq: int = 0
    """The last event's: on a follower, the bus between nodes may repeat an event."""


@dataclass(slots=True)
class NoticeRules:
    """What is worth a notice, from the events in commit order and ``now_ms`` (no clock, no
    I/O). ``apply`` each event; ``settle`` once the loop turn's commits are in; ``due`` when
    ``next_wake`` comes.

    On a node that follows another's sale the events come over a bus that may repeat one or
    lose some: a repeat (a seq not above the lot's last, or any event of a lot closed) is
    dropped, so nobody is told twice or told of a lead they no longer hold; after a gap the
    next event is taken as it stands (each carries the lot's standing), and what the missing
    ones would have told is not told."""

    ending_ms: int = ENDING_MS
    lots: dict[str, _Tracked] = field(default_factory=dict)
    """Open (and paused) lots only: a closed one is forgotten."""
    _before: dict[str, str | None] = field(default_factory=dict)
    """Lots that moved this turn -> who led before the turn."""
    _pending: list[Decided] = field(default_factory=list)
    _wakes: list[tuple[int, str]] = field(default_factory=list)
    _closed: OrderedDict[str, None] = field(default_factory=OrderedDict)
    """The lots closed lately, oldest first (a closed lot never opens again)."""

    def track(
        self,
        lot: str,
        leader: str | None,
        amount: int | None,
        ends_at: int | None,
        opening_ms: int,
        seq: int = 0,
    ) -> None:
        """A lot open (or paused) before we listened (a start): its state as published at
        ``seq``, and how long it opened for (its catalogue's window)."""
        self.lots[lot] = _Tracked(leader, amount, ends_at, opening_ms > self.ending_ms, seq=seq)
        self._arm(lot)

    def apply(self, event: LotEvent) -> None:
        lot_id = event.lot
        tracked = self.lots.get(lot_id)
        if tracked is not None:
            if event.seq <= tracked.seq:
                return  # heard before
            tracked.seq = event.seq
        elif lot_id in self._closed:
            return
        if isinstance(event, LotOpened):
            long = event.ends_at - event.ts > self.ending_ms
            self.lots[lot_id] = _Tracked(None, None, event.ends_at, long, seq=event.seq)
            self._pending.append(Decided("watched_opened", lot_id, None, None, event.ends_at))
            self._arm(lot_id)
            return
        if tracked is None:
            return
        if isinstance(event, BidPlaced):
            self._before.setdefault(lot_id, tracked.leader)
            tracked.leader, tracked.amount, tracked.ends_at = (
                event.bidder,
                event.amount,
                event.ends_at,
            )
            self._arm(lot_id)
        elif isinstance(event, BidVoided):
            # a voided bid is no one outbid: the turn starts again from who leads now
            tracked.leader, tracked.amount, tracked.ends_at = (
                event.bidder,
                event.amount,
                event.ends_at,
            )
            self._before[lot_id] = tracked.leader
            self._arm(lot_id)
        elif isinstance(event, LotExtended | LotResumed):
            tracked.ends_at = event.ends_at
            self._arm(lot_id)
        elif isinstance(event, LotPaused):
            tracked.ends_at = None
        elif isinstance(event, LotClosed):
            del self.lots[lot_id]
            self._closed[lot_id] = None
            if len(self._closed) > MAX_CLOSED_KEPT:
                self._closed.popitem(last=False)
            if event.outcome == "sold" and event.winner is not None:
                self._pending.append(Decided("won", lot_id, event.winner, event.amount, None))
                if lot_id in self._before:  # a bid and the close in one turn
                    self._closed_leader(lot_id, event.winner, event.amount)
            else:
                self._before.pop(lot_id, None)

    def _closed_leader(self, lot_id: str, winner: str, amount: int | None) -> None:
        before = self._before.pop(lot_id)
        if before is not None and before != winner:
            self._pending.append(Decided("outbid", lot_id, before, amount, None))

    def settle(self) -> list[Decided]:
        """What this turn's events decided: a lead lost counts once the turn is over."""
        decided, self._pending = self._pending, []
        for lot_id, before in self._before.items():
            tracked = self.lots.get(lot_id)
            if tracked is not None and before is not None and before != tracked.leader:
                decided.append(Decided("outbid", lot_id, before, tracked.amount, None))
        self._before.clear()
        return decided

    def _arm(self, lot_id: str) -> None:
        tracked = self.lots[lot_id]
        if tracked.long and not tracked.warned and tracked.ends_at is not None:
            at = tracked.ends_at - self.ending_ms
            if at != tracked.armed:
                tracked.armed = at
                heapq.heappush(self._wakes, (at, lot_id))

    def next_wake(self) -> int | None:
        while self._wakes:
            at, lot_id = self._wakes[0]
            tracked = self.lots.get(lot_id)
            if (
                tracked is not None
                and not tracked.warned
                and tracked.ends_at is not None
                and tracked.ends_at - self.ending_ms == at
            ):
                return at
            heapq.heappop(self._wakes)  # stale: the deadline moved, or the lot closed
        return None

    def due(self, now_ms: int) -> list[Decided]:
        decided = []
        while (at := self.next_wake()) is not None and at <= now_ms:
            _, lot_id = heapq.heappop(self._wakes)
            tracked = self.lots[lot_id]
            tracked.warned = True
            if tracked.ends_at is not None and now_ms < tracked.ends_at:
                decided.append(Decided("watched_ending", lot_id, None, None, tracked.ends_at))
        return decided


def notice_message(
    kind: NoticeKind,
    title: str,
    currency: str,
    amount: int | None,
    ends_at: int | None,
    now_ms: int,
) -> str:
    shown = format_amount(amount, currency) if amount is not None else ""
    if kind == "outbid":
        return f"You have been outbid on {title}: the high bid is now {shown}."
    if kind == "won":
        return f"You won {title} for {shown}."
    left = "" if ends_at is None else f" ({_left(ends_at - now_ms)} left)"
    if kind == "watched_opened":
        return f"{title}, which you watch, is open for bids{left}."
    return f"{title}, which you watch, is ending soon{left}."


def _left(ms: int) -> str:
    seconds = max(0, ms) // 1000
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds} s"


# -- guests' watch lists (memory, with their session) ----------------------------------------


@dataclass(slots=True)
class _GuestList:
    holder: int
    """id() of the session holding the name when the list was made: another holder is another
    guest, who starts with nothing."""
    lots: dict[str, None] = field(default_factory=dict)


class GuestWatches:
    def __init__(self, holder_of: Callable[[str], object | None], most: int = MAX_GUESTS) -> None:
        self.holder_of = holder_of
        self.most = most
        self._lists: OrderedDict[str, _GuestList] = OrderedDict()
        self.by_lot: dict[str, set[str]] = {}

    def _live(self, name: str) -> _GuestList | None:
        kept = self._lists.get(name)
        if kept is None:
            return None
        holder = self.holder_of(name)
        if holder is None or id(holder) != kept.holder:
            self._drop(name)
            return None
        self._lists.move_to_end(name)
        return kept

    def _drop(self, name: str) -> None:
        kept = self._lists.pop(name)
        for lot in kept.lots:
            watchers = self.by_lot.get(lot)
            if watchers is not None:
                watchers.discard(name)
                if not watchers:
                    del self.by_lot[lot]

    def lots(self, name: str) -> list[str]:
        kept = self._live(name)
        return list(kept.lots) if kept is not None else []

    def set(self, name: str, lot: str, on: bool) -> None:
        kept = self._live(name)
        if kept is None:
            if not on:
                return
            holder = self.holder_of(name)
            kept = self._lists[name] = _GuestList(id(holder))
            while len(self._lists) > self.most:
                self._drop(next(iter(self._lists)))
        if on:
            kept.lots[lot] = None
            self.by_lot.setdefault(lot, set()).add(name)
        elif lot in kept.lots:
            del kept.lots[lot]
            watchers = self.by_lot[lot]
            watchers.discard(name)
            if not watchers:
                del self.by_lot[lot]

    def watchers(self, lot: str) -> list[str]:
        return [name for name in list(self.by_lot.get(lot, ())) if self._live(name) is not None]


# -- the component ---------------------------------------------------------------------------

Deliver = Callable[[Who, bytes], None]
"""Hand an encoded notice to every live connection of that person (transports' part)."""


class Activity:
    def __init__(
        self,
        house: AuctionHouse,
        holder_of: Callable[[str], object | None],
        deliver: Deliver | None = None,
        rules: NoticeRules | None = None,
        reachable: Callable[[Who], bool] | None = None,
    ) -> None:
        self.house = house
        self.deliver: Deliver = deliver or (lambda who, data: None)
        self.reachable: Callable[[Who], bool] = reachable or (lambda who: True)
        """Whether the person has a live connection now (the transports know)."""
        self.rules = rules or NoticeRules()
        self.guests = GuestWatches(holder_of)
        self._accounts: OrderedDict[str, bool] = OrderedDict()
        self._settling = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: int | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self.sent = 0
        """Notices handed to ``deliver`` (tests and metrics)."""

    @property
    def store(self) -> Store:
        return self.house.store

    @property
    def clock(self) -> Clock:
        return self.house.clock

    # -- listening -------------------------------------------------------------------------

    def listen(self, bus: Bus) -> None:
        """Hear the house's committed events; lots already open are taken from the views."""
        for lot in self.house.views.lots.values():
            if lot.status in ("open", "paused"):
                ends = lot.ends_at if lot.status == "open" else None
                window = lot.spec.opening_ms
                self.rules.track(
                    lot.id, lot.high_bidder, lot.high_amount, ends, window, seq=lot.seq
                )
        self._unsubscribe = bus.subscribe(self._heard)
        self._arm()

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def settled(self) -> None:
        """Until every notice decided so far is stored and delivered (what tests await)."""
        while self._settling or self._tasks:
            await asyncio.sleep(0) if self._settling else await asyncio.wait(set(self._tasks))

    def _heard(self, message: Message) -> None:
        if message.stream != "lot":
            return
        self.rules.apply(message.event)  # type: ignore[arg-type]
        if not self._settling:
            self._settling = True
            asyncio.get_running_loop().call_soon(self._settle)

    def _settle(self) -> None:
        self._settling = False
        decided = [item for item in self.rules.settle() if self._worth_telling(item)]
        if decided:
            self._spawn(self._send(decided))
        self._arm()

    def _worth_telling(self, item: Decided) -> bool:
        """A guest with no live connection keeps no inbox: their notice would go nowhere
        (most bids outbid someone; this keeps the bid path free of building those)."""
        if item.to is None or self._accounts.get(item.to) is not False:
            return True
        return self.reachable(Who(item.to, False))

    def run_due(self) -> None:
        """Send what is due by now (the timer calls this; tests with a fake clock too)."""
        decided = self.rules.due(self.clock.now_ms())
        if decided:
            self._spawn(self._send(decided))
        self._arm()

    def _arm(self) -> None:
        at = self.rules.next_wake()
        if at is None or (self._timer is not None and self._timer_at == at):
            return
        if self._timer is not None:
            self._timer.cancel()
        delay = max(0.0, (at - self.clock.now_ms()) / 1000)
        self._timer_at = at
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.run_due()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- sending -----------------------------------------------------------------------------

    async def _send(self, decided: Sequence[Decided]) -> None:
        try:
            await self._send_all(decided)
        except Exception:  # a notice lost must cost nothing else
            log.exception("sending %d notices", len(decided))

    async def _send_all(self, decided: Sequence[Decided]) -> None:
        now = self.clock.now_ms()
        out: list[tuple[Who, Notice]] = []
        keep: list[bool] = []
        for item in decided:
            lot = await self._lot(item.lot)
            if lot is None:
                continue
            # every node of a cluster hears the sale and tells its own connections; only the
            # node deciding the sale keeps the notice in the inbox, or it would be kept once
            # a node (its live copy on the others has no notice_id)
            owned = self.house.owned
            decides = owned is None or lot.sale in owned
            if item.to is not None:
                people = [Who(item.to, await self._is_account(item.to))]
            else:
                accounts = await self.store.watchers(item.lot)
                people = [Who(name, True) for name in accounts]
                people += [Who(name, False) for name in self.guests.watchers(item.lot)]
            spec = lot.spec
            message = notice_message(
                item.kind, spec.title, spec.currency, item.amount, item.ends_at, now
            )
            notice = Notice(
                item.kind,
                lot.id,
                spec.title,
                lot.sale,
                spec.currency,
                item.amount,
                item.ends_at,
                message,
                now,
            )
            out += [(who, notice) for who in people]
            keep += [decides and who.account for who in people]
        kept = [i for i, kept_here in enumerate(keep) if kept_here]
        ids: list[int | None] = []
        if kept:
            try:
                ids = await self.store.add_notices(
                    [
                        NewNotice(out[i][0].name, out[i][1].ts, msgspec.json.encode(out[i][1]))
                        for i in kept
                    ],
                    INBOX_KEEP,
                )
            except BidwireError as exc:  # told live all the same; the inbox misses them
                log.warning("could not keep %d notices: %s", len(kept), exc)
        for i, notice_id in zip(kept, ids, strict=False):
            out[i] = (out[i][0], msgspec.structs.replace(out[i][1], notice_id=notice_id))
        for who, notice in out:
            self.sent += 1
            self.deliver(who, msgspec.json.encode(notice))

    async def _is_account(self, name: str) -> bool:
        known = self._accounts.get(name)
        if known is None:
            known = await self.store.get_user(name) is not None
            self._accounts[name] = known
            while len(self._accounts) > ACCOUNT_CACHE:
                self._accounts.popitem(last=False)
        return known

    def knows_account(self, name: str, account: bool) -> None:
        """A connection said who it is: no store read for its notices."""
        self._accounts[name] = account
        self._accounts.move_to_end(name)
        while len(self._accounts) > ACCOUNT_CACHE:
            self._accounts.popitem(last=False)

    async def _lot(self, lot_id: str) -> Lot | None:
        view = self.house.views.lots.get(lot_id)
        if view is not None:
            return view
        try:
            return await self.house.closed.get(lot_id)
        except BidwireError:
            return None

    # -- reading ---------------------------------------------------------------------------

    async def activity(
        self, who: Who, before: str | None = None, limit: int = PAGE
    ) -> ActivityPage:
        if not 1 <= limit <= MAX_PAGE:
            raise BadRequest(f"limit must be between 1 and {MAX_PAGE}")
        cursor = parse_cursor(before) if before is not None else None
        try:
            return await self._activity(who, cursor, limit)
        except BidwireError:
            raise
        except Exception as exc:
            log.exception("reading the activity of %s", who.name)
            raise StoreUnavailable("your activity cannot be read right now; try again") from exc

    async def _activity(self, who: Who, cursor: BidCursor | None, limit: int) -> ActivityPage:
        store, name = self.store, who.name
        bodies = await store.bids_by(name, cursor, limit + 1)
        events = [EVENT_DECODER.decode(body) for body in bodies]
        more = len(events) > limit
        events = events[:limit]
        lots = await self._lots({e.lot for e in events})
        voided: set[tuple[str, int]] = set()
        for lot_id in {e.lot for e in events}:
            for body in await store.bid_voids(lot_id):
                void = EVENT_DECODER.decode(body)
                if isinstance(void, BidVoided):
                    voided.update((lot_id, seq) for seq in void.voided)
        bids = [self._bid(e, lots, voided) for e in events if isinstance(e, BidPlaced | MaxRaised)]
        last = events[-1] if more and events else None
        next_before = cursor_text((last.ts, last.lot, last.seq)) if last is not None else None

        live = [v for v in self.house.views.lots.values() if v.status in ("open", "paused")]
        leading = [v for v in live if v.high_bidder == name]
        others = [v for v in live if v.high_bidder != name]
        since = min((v.opened_at or 0 for v in others), default=0)
        best = await store.best_bids(name, [v.id for v in others], since) if others else {}
        outbid = [v for v in others if v.id in best]

        won_events = [EVENT_DECODER.decode(body) for body in await store.won_by(name, WON_SHOWN)]
        won_lots = await self._lots({e.lot for e in won_events})
        won = [
            Won(
                e.lot,
                won_lots[e.lot].spec.title,
                won_lots[e.lot].spec.currency,
                e.amount or 0,
                e.reason,
                e.ts,
            )
            for e in won_events
            if isinstance(e, LotClosed) and e.lot in won_lots
        ]
        watched = await self.watching(who)
        watched_lots = await self._lots(set(watched))
        return ActivityPage(
            user=name,
            bids=bids,
            next_before=next_before,
            leading=[self._my_lot(v, name, v.high_amount) for v in leading],
            outbid=[self._my_lot(v, name, best.get(v.id)) for v in outbid],
            won=won,
            owed=await store.owed_by(name),
            watching=[
                self._my_lot(watched_lots[i], name, None) for i in watched if i in watched_lots
            ],
            ts=self.clock.now_ms(),
        )

    async def _lots(self, lot_ids: set[str]) -> dict[str, Lot]:
        """Each lot as published: open ones from the views, closed ones from the store."""
        views = self.house.views.lots
        found = {i: views[i] for i in lot_ids if i in views}
        missing = [i for i in lot_ids if i not in found and self.house.knows(i)]
        if missing:
            found.update(await self.house.closed.get_many(missing))
        return found

    @staticmethod
    def _bid(e: BidPlaced | MaxRaised, lots: dict[str, Lot], voided: set[tuple[str, int]]) -> MyBid:
        lot = lots.get(e.lot)
        title, currency = (lot.spec.title, lot.spec.currency) if lot else (e.lot, "")
        if isinstance(e, MaxRaised):
            return MyBid(
                e.lot,
                title,
                currency,
                "max_raised",
                None,
                e.max_amount,
                False,
                (e.lot, e.seq) in voided,
                e.seq,
                e.ts,
            )
        return MyBid(
            e.lot,
            title,
            currency,
            "bid",
            e.amount,
            e.max_amount,
            e.auto,
            (e.lot, e.seq) in voided,
            e.seq,
            e.ts,
        )

    @staticmethod
    def _my_lot(lot: Lot, name: str, mine: int | None) -> MyLot:
        leads = lot.status != "closed" and lot.high_bidder == name
        high_max = lot.high_max if leads else None
        max_amount = high_max if high_max is not None and high_max != lot.high_amount else None
        ends_at = lot.ends_at if lot.status == "open" else None
        return MyLot(
            lot.id,
            lot.spec.title,
            lot.sale,
            lot.spec.currency,
            lot.status,
            lot.high_amount,
            ends_at,
            mine,
            max_amount,
        )

    # -- watching --------------------------------------------------------------------------

    async def watching(self, who: Who) -> list[str]:
        if who.account:
            return await self.store.watches(who.name)
        return self.guests.lots(who.name)

    async def watch(self, who: Who, lot_id: str, on: bool) -> Watched:
        if not self.house.knows(lot_id):
            raise UnknownLot(f"there is no lot {lot_id[:64]!r}")
        now = self.clock.now_ms()
        listed = await self.watching(who)
        if on and lot_id not in listed and len(listed) >= MAX_WATCHES:
            raise BadRequest(
                f"you watch {MAX_WATCHES} lots, the most one may; stop watching one first"
            )
        if who.account:
            await self.store.set_watch(who.name, lot_id, on, now)
        else:
            self.guests.set(who.name, lot_id, on)
        return Watched(lot_id, on, await self.watching(who), now)

    # -- the inbox ---------------------------------------------------------------------------

    async def inbox(self, who: Who, limit: int = PAGE, *, mark_read: bool = False) -> Inbox:
        now = self.clock.now_ms()
        if not who.account:
            return Inbox([], 0, False, now)
        if not 1 <= limit <= INBOX_KEEP:
            raise BadRequest(f"limit must be between 1 and {INBOX_KEEP}")
        rows = await self.store.notices(who.name, limit)
        notices = [_notice(row) for row in rows]
        if mark_read:
            await self.store.mark_notices_read(who.name, rows[0].id if rows else None)
        unread = await self.store.unread_notices(who.name)
        return Inbox(notices, unread, True, now)

    async def mark_read(self, who: Who, up_to: int | None) -> int:
        """Mark the account's notices read up to ``up_to`` (None: all); how many are left."""
        if who.account:
            await self.store.mark_notices_read(who.name, up_to)
            return await self.store.unread_notices(who.name)
        return 0


def _notice(row: NoticeRow) -> Notice:
    notice = NOTICE_DECODER.decode(row.body)
    return msgspec.structs.replace(notice, notice_id=row.id, read=row.read)
