"""What is published: a view of each lot as its watchers know it, and the events to come (pure).

Principles:
- A view moves only by committed events, applied when the fan-out takes them (``drain``), so a
  snapshot and the events that follow it never overlap or leave a gap.
- Events come in through the bus; ``InOrder`` passes each stream's on in seq order, once each,
  and holds what follows a gap. ``reset`` makes the store's state the truth again.
- The public never sees a bidder of an anonymous sale: it sees the pseudonym
  (``domain/privacy.py``); admins see the names. Each event is encoded once per audience, and
  the same bytes serve the fan-out and ``events_since`` (the resync ring).
- A closed lot changes no more, and most of a long-running store's lots are closed: once its
  ``lot_closed`` is published (or it is tracked closed), the views keep nothing of it, and
  readers ask the house, which reads it from the store (``engine/closed.py``).

No asyncio and no clock: the caller passes ``now_ms``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from functools import partial
from typing import Annotated, Any, Literal, NamedTuple, TypeVar

import msgspec

from bidwire.bus.base import Message
from bidwire.bus.order import InOrder
from bidwire.domain.events import LotClosed, LotEvent, SaleEvent
from bidwire.domain.lot import Lot
from bidwire.domain.privacy import pseudonym, public_event
from bidwire.domain.sale import SaleSpec
from bidwire.wire.batch import encode_event

RING_SIZE = 256
"""Recent encoded events kept per lot for ``events_since``; older gaps get a snapshot instead."""


# The shapes below are the one schema of each: the wire encodes them, and the HTTP API's
# OpenAPI document is made from them (transports/http/edge.py: wire_schema).


class HighBid(msgspec.Struct, omit_defaults=True):
    amount: int
    bidder: str
    max_amount: Annotated[
        int | None,
        msgspec.Meta(description="The leader's maximum: only in their own view and admins'."),
    ] = None


class SnapshotBid(msgspec.Struct, omit_defaults=True):
    amount: int
    bidder: str
    ts: int
    auto: Annotated[bool, msgspec.Meta(description="Placed by the house for a maximum.")] = False


class LotState(msgspec.Struct):
    """A lot as its watchers know it: the fields of the wire's ``snapshot`` but its bids."""

    lot: str
    seq: int
    state: Literal["scheduled", "open", "paused", "closed"]
    sale: str
    title: str
    description: str
    currency: str
    starting_price: int
    min_amount: Annotated[int, msgspec.Meta(description="The least the next bid may be.")]
    ends_at: int | None
    high_bid: HighBid | None
    bid_count: int
    outcome: Literal["sold", "unsold"] | None
    reason: Annotated[
        Literal["hammer", "buy_now", "reserve_not_met", "no_bids", "withdrawn"] | None,
        msgspec.Meta(description="Why a closed lot closed, as its lot_closed said."),
    ]
    reserve: Annotated[bool, msgspec.Meta(description="Whether the lot has a reserve.")]
    reserve_met: Annotated[
        bool, msgspec.Meta(description="Whether the lot would sell if the hammer fell now.")
    ]
    buy_now: Annotated[
        int | None,
        msgspec.Meta(description="The buy-now price while offered (until the first bid)."),
    ]
    estimate_low: Annotated[
        int | None, msgspec.Meta(description="The catalog's low estimate (minor units).")
    ]
    estimate_high: Annotated[
        int | None, msgspec.Meta(description="The catalog's high estimate (minor units).")
    ]
    remaining_ms: Annotated[
        int | None,
        msgspec.Meta(
            description="While paused: the time left on the clock, given back on resume "
            "(at least extend_ms). Null in any other state."
        ),
    ]
    extend_ms: Annotated[
        int,
        msgspec.Meta(
            description="The lot's bid window: in a live sale each bid resets the clock to it; "
            "in a timed sale a bid leaves at least this much."
        ),
    ]


class Snapshot(LotState, tag="snapshot", tag_field="type"):
    """A lot's picture: its state and its most recent bids (the wire's ``snapshot``)."""

    bids: Annotated[list[SnapshotBid], msgspec.Meta(description="The most recent, newest first.")]
    ts: int


def lot_state_of(lot: Lot, salt: str | None = None, *, with_max: bool = False) -> LotState:
    """A lot's state; with ``salt`` (an anonymous sale, seen by the public) the high bidder is
    shown by a pseudonym. The leader's maximum only ``with_max`` (their own view, admins)."""
    return _picture(LotState, lot, salt, with_max)


def snapshot_of(
    lot: Lot, now_ms: int, salt: str | None = None, *, with_max: bool = False
) -> Snapshot:
    """A lot's picture, as ``lot_state_of`` with its recent bids."""
    shown = _shown(salt)
    recent_shown = [SnapshotBid(b.amount, shown(b.bidder), b.ts, b.auto) for b in lot.recent]
    return _picture(Snapshot, lot, salt, with_max, bids=recent_shown, ts=now_ms)


def _shown(salt: str | None) -> Callable[[str], str]:
    return (lambda bidder: bidder) if salt is None else partial(pseudonym, salt)


State = TypeVar("State", LotState, Snapshot)


def _picture(kind: type[State], lot: Lot, salt: str | None, with_max: bool, **more: Any) -> State:
    shown = _shown(salt)
    high = None
    if lot.high_amount is not None and lot.high_bidder is not None:
        secret = lot.high_max if with_max and lot.high_max != lot.high_amount else None
        high = HighBid(lot.high_amount, shown(lot.high_bidder), secret)
    return kind(
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
        bid_count=lot.bid_count,
        outcome=lot.outcome,
        reason=lot.close_reason,
        reserve=lot.spec.reserve is not None,
        reserve_met=lot.reserve_met(),
        buy_now=lot.buy_now_offered(),
        estimate_low=lot.spec.estimate_low,
        estimate_high=lot.spec.estimate_high,
        remaining_ms=lot.paused_remaining_ms if lot.status == "paused" else None,
        extend_ms=lot.spec.extend_ms,
        **more,
    )


class Published(NamedTuple):
    """One event as it goes out: ``shown`` is what the public sees, ``json`` its bytes;
    ``private`` the bytes with real names (anonymous sales only); ``view`` the lot after it.
    A NamedTuple: one is built per event, at a third of a dataclass's cost."""

    event: LotEvent | SaleEvent
    shown: LotEvent | SaleEvent
    json: bytes
    private: bytes | None = None
    view: Lot | None = None


class Views:
    def __init__(self) -> None:
        self.lots: dict[str, Lot] = {}
        """Each lot not closed, as published so far (the fan-out's copy, not the house's)."""
        self.salts: dict[str, str] = {}
        """Anonymous sales -> their pseudonym salt."""
        self.order = InOrder()
        self._rings: dict[str, deque[tuple[int, bytes, bytes]]] = {}
        self._queued: list[Message] = []
        self.woken: Callable[[], None] | None = None
        """Called when a ``reset`` queued events or found the store ahead: the feed flushes,
        and reloads from the store if it ``catches_up``."""
        self.catches_up = False
        """Whether the feed reloads from the store what it did not hear (several nodes)."""

    # -- what there is -----------------------------------------------------------------------

    def track_sale(self, sale: SaleSpec, seq: int = 0) -> None:
        """Publish a sale's events from the one after ``seq`` (its committed seq)."""
        self._queued += self.order.expect("sale", sale.id, seq + 1)
        if sale.anonymous:
            self.salts[sale.id] = sale.pseudonym_salt

    def track(self, lot: Lot) -> None:
        """Start publishing a lot whose committed state is ``lot`` (a copy the views own); a
        closed one is not kept (nothing follows a close)."""
        if lot.status == "closed":
            self._retire(lot.id)
            return
        self.lots[lot.id] = lot
        self._rings.setdefault(lot.id, deque(maxlen=RING_SIZE))
        self._queued += self.order.expect("lot", lot.id, lot.seq + 1)

    def reset(self, lot: Lot, events: Sequence[LotEvent] = ()) -> None:
        """After a failed commit or a reload: the store's state is the truth again. What the
        store has and this node has not yet published goes out in order, from ``events`` (the
        store's, after its snapshot) or, on a node that ``catches_up``, from its reload by seq
        (told by ``woken``); nothing queued is dropped. In a cluster another node committed
        those events: jumping over them left this node's clients a gap. Only on one node, when
        the events do not reach back to what was published, is the view replaced."""
        view = self.lots.get(lot.id)
        if view is not None:
            expected = self.order.next_seq("lot", lot.id)
            missed = [e for e in events if e.seq >= expected]
            covered = lot.seq < expected or bool(missed and missed[0].seq == expected)
            if covered or self.catches_up:
                queued = [self.accept(Message("lot", e.lot, e.seq, e)) for e in missed]
                if self.woken is not None and (any(queued) or not covered):
                    self.woken()
                return
        self._queued = [m for m in self._queued if m.stream != "lot" or m.key != lot.id]
        self.track(lot)

    def _retire(self, lot_id: str) -> None:
        """A closed lot: no view, no ring (a resync gets a snapshot), no stream."""
        self.lots.pop(lot_id, None)
        self._rings.pop(lot_id, None)
        self.order.forget("lot", lot_id)

    # -- events in and out -------------------------------------------------------------------

    def accept(self, message: Message) -> bool:
        """Queue a committed event for the next ``drain``; False if nothing new is queued (a
        repeat, or held behind a gap)."""
        if message.stream == "lot" and message.key not in self.lots:
            return False  # a closed lot's (a repeat: nothing follows a close), or not ours
        ready = self.order.accept(message)
        if not ready:
            return False
        self._queued += ready
        return True

    def drain(self) -> list[Published]:
        """Everything queued, applied to the views, in order, encoded for each audience."""
        queued, self._queued = self._queued, []
        out: list[Published] = []
        for message in queued:
            event = message.event
            if message.stream == "sale":
                out.append(Published(event, event, encode_event(event)))
                continue
            view = self.lots.get(message.key)
            if view is None:
                continue  # a lot this node does not publish
            assert not isinstance(event, SaleEvent)
            view.apply(event)
            shown = public_event(event, self.salts.get(view.sale))
            body = encode_event(shown)
            private = None if shown is event else encode_event(event)
            self._rings[view.id].append((event.seq, body, private or body))
            out.append(Published(event, shown, body, private, view))
            if isinstance(event, LotClosed):
                self._retire(view.id)
        return out

    def pending(self) -> int:
        return len(self._queued)

    # -- reading -----------------------------------------------------------------------------

    def snapshot(
        self,
        lot_id: str,
        now_ms: int,
        *,
        admin: bool = False,
        viewer: str | None = None,
        maxima: bool = False,
    ) -> Snapshot:
        """A published lot's snapshot (a closed one's: ``Queries.snapshot``) for the public, an
        admin, or ``viewer`` (who sees their own maximum when they lead); ``maxima``: the
        leader's maximum with the public's names (an admin reading the public API)."""
        view = self.lots[lot_id]
        salt = None if admin else self.salts.get(view.sale)
        with_max = admin or maxima or (viewer is not None and viewer == view.high_bidder)
        return snapshot_of(view, now_ms, salt, with_max=with_max)

    def events_since(
        self, lot_id: str, since_seq: int, *, admin: bool = False
    ) -> list[bytes] | None:
        """Encoded events after ``since_seq``, or None if the ring no longer reaches back."""
        view = self.lots[lot_id]
        if since_seq >= view.seq:
            return []
        ring = self._rings.get(lot_id)
        if not ring or ring[0][0] > since_seq + 1:
            return None
        return [private if admin else public for seq, public, private in ring if seq > since_seq]
