"""The read layer: what the house shows, for the HTTP API, the text mode, the CLI and tests.

Readers ask here instead of reaching into the house, its views or its store (design.md
section 7). Principles:
- What the public reads is what was published (the views, not the house's newer decisions),
  and in an anonymous sale it names bidders by their pseudonyms; ``admin=True`` shows names.
- Each answer is a msgspec Struct, the one schema of its shape: the HTTP edge encodes it as is
  and documents it from it (``transports/http/edge.py: wire_schema``).
- A question about a lot or sale that does not exist raises ``UnknownLot`` / ``UnknownSale``;
  a store that cannot be read raises ``StoreUnavailable``: the errors of ``errors.py``.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

import msgspec

from bidwire.domain.events import BidPlaced, BidVoided
from bidwire.domain.lot import Lot
from bidwire.engine.house import AuctionHouse
from bidwire.engine.views import LotState, Snapshot, lot_state_of
from bidwire.errors import StoreUnavailable, UnknownLot
from bidwire.store.base import EVENT_DECODER

log = logging.getLogger("bidwire.queries")
VOID_DECODER = msgspec.json.Decoder(BidVoided)


class SaleView(msgspec.Struct):
    """A sale and its lots in catalogue order, each in its published state."""

    sale: str
    title: str
    mode: Literal["live", "timed"]
    state: Annotated[
        Literal["held", "scheduled", "running", "paused", "ended"],
        msgspec.Meta(description="held: built by an admin, waiting for a start or schedule."),
    ]
    starts_at: int | None
    started_at: int | None
    ended_at: int | None
    lots: list[LotState]


class SalesPage(msgspec.Struct):
    sales: list[SaleView]
    ts: int


class LotsPage(msgspec.Struct):
    lots: list[LotState]
    ts: int


class HistoryBid(msgspec.Struct, omit_defaults=True):
    seq: int
    amount: int
    bidder: str
    ts: int
    ends_at: int
    auto: Annotated[bool, msgspec.Meta(description="Placed by the house for a maximum.")] = False
    voided: Annotated[
        bool, msgspec.Meta(description="Voided by an admin: it no longer counts.")
    ] = False
    max_amount: Annotated[
        int | None,
        msgspec.Meta(description="The bidder's maximum behind the bid: admins' history only."),
    ] = None


class BidHistory(msgspec.Struct):
    """A page of a lot's bids from the store, newest first."""

    lot: str
    bids: list[HistoryBid]
    next_before_seq: Annotated[
        int | None,
        msgspec.Meta(
            description="Pass as before_seq for the next (older) page; null when there is none."
        ),
    ]
    ts: int


class Queries:
    def __init__(self, house: AuctionHouse) -> None:
        self.house = house
        self.views = house.views

    def _now(self) -> int:
        return self.house.clock.now_ms()

    def _published(self, lot_id: str) -> Lot:
        view = self.views.lots.get(lot_id)
        if view is None:
            raise UnknownLot(f"there is no lot {lot_id[:64]!r}")
        return view

    def _salt(self, view: Lot, admin: bool) -> str | None:
        return None if admin else self.views.salts.get(view.sale)

    # ``viewer``: who reads, to see their own maximum while they lead; ``maxima``: every
    # maximum, with the names the public sees (an admin reading the public API).

    def _state(self, view: Lot, admin: bool, viewer: str | None, maxima: bool) -> LotState:
        with_max = admin or maxima or (viewer is not None and viewer == view.high_bidder)
        return lot_state_of(view, self._salt(view, admin), with_max=with_max)

    def sales(
        self, *, admin: bool = False, viewer: str | None = None, maxima: bool = False
    ) -> SalesPage:
        listed = []
        for sale in self.house.sales.values():
            spec = sale.spec
            lots = [self.views.lots[lot_id] for lot_id in spec.lot_ids if lot_id in self.views.lots]
            listed.append(
                SaleView(
                    spec.id,
                    spec.title,
                    spec.mode,
                    sale.status,
                    spec.starts_at,
                    sale.started_at,
                    sale.ended_at,
                    [self._state(view, admin, viewer, maxima) for view in lots],
                )
            )
        return SalesPage(listed, self._now())

    def lots(
        self, *, admin: bool = False, viewer: str | None = None, maxima: bool = False
    ) -> LotsPage:
        lots = self.views.lots.values()
        states = [self._state(view, admin, viewer, maxima) for view in lots]
        return LotsPage(states, self._now())

    def snapshot(
        self,
        lot_id: str,
        *,
        admin: bool = False,
        viewer: str | None = None,
        maxima: bool = False,
    ) -> Snapshot:
        self._published(lot_id)
        now = self._now()
        return self.views.snapshot(lot_id, now, admin=admin, viewer=viewer, maxima=maxima)

    async def bids(
        self,
        lot_id: str,
        before_seq: int | None,
        limit: int,
        *,
        admin: bool = False,
        maxima: bool = False,
    ) -> BidHistory:
        """A page of the lot's bids, newest first, older than ``before_seq``: which were placed
        for a maximum, which an admin voided, and (``admin`` only) each bidder's maximum."""
        view = self._published(lot_id)
        store = self.house.store
        try:
            bodies = await store.bid_history(lot_id, before_seq, limit + 1)
            voids = await store.bid_voids(lot_id) if bodies else []
        except Exception as exc:
            # a failed read is the store's fault, not the asker's: say so; they retry later
            log.exception("reading the bid history of %s", lot_id)
            raise StoreUnavailable("the bid history cannot be read right now") from exc
        page = [EVENT_DECODER.decode(body) for body in bodies]
        more = len(page) > limit
        page = page[:limit]

        def shown(bidder: str) -> str:
            return bidder if admin else self.house.public_name(view.sale, bidder)

        voided = {seq for body in voids for seq in VOID_DECODER.decode(body).voided}
        listed = [
            HistoryBid(
                e.seq,
                e.amount,
                shown(e.bidder),
                e.ts,
                e.ends_at,
                e.auto,
                e.seq in voided,
                e.max_amount if admin or maxima else None,
            )
            for e in page
            if isinstance(e, BidPlaced)
        ]
        return BidHistory(lot_id, listed, page[-1].seq if more and page else None, self._now())

    def lot_on_the_block(self) -> str | None:
        """The most recently opened lot still open (what a bare number bids on)."""
        return self.house.lot_on_the_block()
