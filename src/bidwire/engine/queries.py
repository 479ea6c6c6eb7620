"""The read layer: what the house shows, for the HTTP API, the text mode, the CLI and tests.

Readers ask here instead of reaching into the house, its views or its store (design.md
section 7). Principles:
- What the public reads is what was published (the views, not the house's newer decisions),
  and in an anonymous sale it names bidders by their pseudonyms; ``admin=True`` shows names.
- Each answer is a msgspec Struct, the one schema of its shape: the HTTP edge encodes it as is
  and documents it from it (``transports/http/edge.py: wire_schema``).
- A closed lot is read from the store when asked (``engine/closed.py``): an awaited read, so
  every question that may be about one is a coroutine. A listing reads its closed lots a chunk
  at a time and keeps none; its open lots are taken from the views after the last read.
- A closed lot changes no more, so the public's listing entry of one is kept in the store the
  first time a listing makes it (``ListingEntry``) and read back as it is after: a listing of
  many closed lots reads one small row each instead of rebuilding every lot from its log. An
  entry is made by a ``LISTING_VERSION`` of the shape; one of another is made again. Admins,
  and the winner whose maximum an entry hides, read the lot itself.
- A question about a lot or sale that does not exist raises ``UnknownLot`` / ``UnknownSale``;
  a store that cannot be read raises ``StoreUnavailable``: the errors of ``errors.py``.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Annotated, Literal

import msgspec

from bidwire.domain.events import BidPlaced, BidVoided
from bidwire.domain.lot import Lot
from bidwire.domain.sale import Sale
from bidwire.engine.house import AuctionHouse
from bidwire.engine.views import LotState, Snapshot, lot_state_of, snapshot_of
from bidwire.errors import StoreUnavailable, UnknownLot
from bidwire.store.base import EVENT_DECODER, ListingEntry

log = logging.getLogger("bidwire.queries")
VOID_DECODER = msgspec.json.Decoder(BidVoided)

READ_CHUNK = 500
"""Closed lots read from the store at once for a listing."""

ENTRY_ENCODER = msgspec.msgpack.Encoder()
ENTRY_DECODER = msgspec.msgpack.Decoder(LotState)
LISTING_VERSION = hashlib.sha256(
    repr(
        [(name, str(kind)) for name, kind in LotState.__annotations__.items()]
        + list(LotState.__struct_fields__)
    ).encode()
).hexdigest()[:16]
"""The shape of the kept entries: a change of LotState's fields makes every entry again."""


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
    reason: Annotated[
        Literal["done", "cancelled"] | None,
        msgspec.Meta(description="Why an ended sale ended, as its sale_ended said."),
    ] = None


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


def _end_reason(sale: Sale) -> Literal["done", "cancelled"] | None:
    if sale.ended_at is None:
        return None
    return "cancelled" if sale.end_reason == "cancelled" else "done"


class Queries:
    def __init__(self, house: AuctionHouse) -> None:
        self.house = house
        self.views = house.views

    def _now(self) -> int:
        return self.house.clock.now_ms()

    async def published(self, lot_id: str) -> Lot:
        """The lot as published: its view, or (closed) as the store has it. Without a wait
        when the lot is not closed."""
        view = self.views.lots.get(lot_id)
        if view is None:
            view = await self.house.closed.get(lot_id)
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

    async def sales(
        self, *, admin: bool = False, viewer: str | None = None, maxima: bool = False
    ) -> SalesPage:
        sales = list(self.house.sales.values())
        ids = [i for sale in sales for i in sale.spec.lot_ids]
        states = await self._states(ids, admin, viewer, maxima)
        listed = []
        for sale in sales:
            spec = sale.spec
            listed.append(
                SaleView(
                    spec.id,
                    spec.title,
                    spec.mode,
                    sale.status,
                    spec.starts_at,
                    sale.started_at,
                    sale.ended_at,
                    [states[lot_id] for lot_id in spec.lot_ids if lot_id in states],
                    _end_reason(sale),
                )
            )
        return SalesPage(listed, self._now())

    async def lots(
        self, *, admin: bool = False, viewer: str | None = None, maxima: bool = False
    ) -> LotsPage:
        """Every lot, sale by sale in their order."""
        ids = [i for sale in list(self.house.sales.values()) for i in sale.spec.lot_ids]
        states = await self._states(ids, admin, viewer, maxima)
        return LotsPage([states[lot_id] for lot_id in ids if lot_id in states], self._now())

    async def lot_states(self, lot_ids: list[str], *, admin: bool = False) -> dict[str, LotState]:
        """The published state of each of ``lot_ids`` (unknown ones left out), as the public
        sees it (pseudonyms, no maximums) or ``admin``."""
        return await self._states(lot_ids, admin, None, False)

    async def _states(
        self, lot_ids: list[str], admin: bool, viewer: str | None, maxima: bool
    ) -> dict[str, LotState]:
        """Each lot's published state: the closed ones read from the store a chunk at a time
        (kept by nobody), then the others from the views with no wait after the last read."""
        closed: dict[str, LotState] = {}
        asked: set[str] = set()
        public = not admin and not maxima
        while missing := [i for i in lot_ids if i not in self.views.lots and i not in asked]:
            asked.update(missing)  # a lot closes once: asked twice at most, then never again
            for start in range(0, len(missing), READ_CHUNK):
                chunk = missing[start : start + READ_CHUNK]
                if public:
                    kept = await self._kept(chunk, viewer)
                    closed.update(kept)
                    chunk = [i for i in chunk if i not in kept]
                    if not chunk:
                        continue
                made = []
                for lot in await self.house.closed.read_many(chunk):
                    closed[lot.id] = self._state(lot, admin, viewer, maxima)
                    if public:
                        made.append(self._entry(lot))
                await self._keep(made)
        views = self.views.lots
        return {
            lot_id: self._state(views[lot_id], admin, viewer, maxima)
            if lot_id in views
            else closed[lot_id]
            for lot_id in lot_ids
            if lot_id in views or lot_id in closed
        }

    async def _kept(self, lot_ids: list[str], viewer: str | None) -> dict[str, LotState]:
        """The kept entries of these closed lots, but where ``viewer`` is the winner with a
        maximum the entry hides (or an entry no longer reads): those are read whole."""
        try:
            entries = await self.house.store.listing_entries(lot_ids, LISTING_VERSION)
        except Exception as exc:
            log.exception("reading %d listing entries", len(lot_ids))
            raise StoreUnavailable("the sales cannot be read right now; try again") from exc
        found: dict[str, LotState] = {}
        for lot_id, entry in entries.items():
            if entry.leader is not None and entry.leader == viewer:
                continue
            try:
                found[lot_id] = ENTRY_DECODER.decode(entry.entry)
            except msgspec.DecodeError:
                log.warning("the listing entry of %s does not read; made again", lot_id)
        return found

    def _entry(self, lot: Lot) -> ListingEntry:
        """A closed lot's public entry, and who would see more in it (their own maximum)."""
        state = self._state(lot, False, None, False)
        hidden = lot.high_max is not None and lot.high_max != lot.high_amount
        leader = lot.high_bidder if hidden else None
        return ListingEntry(lot.id, LISTING_VERSION, ENTRY_ENCODER.encode(state), leader)

    async def _keep(self, entries: list[ListingEntry]) -> None:
        """Keep new entries for the next listings; one not kept is made again next time."""
        if not entries:
            return
        try:
            await self.house.store.save_listing_entries(entries)
        except Exception:
            log.warning("could not keep %d listing entries", len(entries), exc_info=True)

    async def snapshot(
        self,
        lot_id: str,
        *,
        admin: bool = False,
        viewer: str | None = None,
        maxima: bool = False,
    ) -> Snapshot:
        """The lot's snapshot; without a wait when the lot is not closed."""
        lot = await self.published(lot_id)
        return self._snapshot(lot, self._now(), admin, viewer, maxima)

    def _snapshot(
        self, lot: Lot, now: int, admin: bool, viewer: str | None, maxima: bool = False
    ) -> Snapshot:
        with_max = admin or maxima or (viewer is not None and viewer == lot.high_bidder)
        return snapshot_of(lot, now, self._salt(lot, admin), with_max=with_max)

    async def snapshots(
        self, lot_ids: list[str], *, admin: bool = False, viewer: str | None = None
    ) -> list[Snapshot]:
        """Each lot's snapshot, all taken at one moment: the closed lots are read first, the
        others from the views with no wait after the last read, so a caller that subscribes
        to them next has no event slip in between."""
        closed: dict[str, Lot] = {}
        while missing := [i for i in lot_ids if i not in self.views.lots and i not in closed]:
            # a lot closes once: this runs twice at most
            closed.update(await self.house.closed.get_many(missing))
            unknown = [i for i in missing if i not in closed]
            if unknown:
                raise UnknownLot(f"there is no lot {unknown[0][:64]!r}")
        now, views = self._now(), self.views.lots
        picked = [views[i] if i in views else closed[i] for i in lot_ids]
        return [self._snapshot(lot, now, admin, viewer) for lot in picked]

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
        view = await self.published(lot_id)
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

    def public_bidder(self, lot_id: str, bidder: str) -> str:
        """How the public sees ``bidder`` on this lot: the name, or in an anonymous sale the
        pseudonym (what a bidder's own ``bid_accepted`` and HTTP answers carry)."""
        house = self.house
        lot = house.lots.get(lot_id) or house.closed.cached(lot_id)
        if lot is not None:
            return house.public_name(lot.sale, bidder)
        for sale in house.sales.values():
            if lot_id in sale.spec.lot_ids:
                return house.public_name(sale.id, bidder)
        return bidder

    def lot_on_the_block(self) -> str | None:
        """The most recently opened lot still open (what a bare number bids on)."""
        return self.house.lot_on_the_block()
