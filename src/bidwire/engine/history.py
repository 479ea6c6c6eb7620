"""Bid histories, a page at a time: of a lot, of a sale, of a bidder (issue 13, point 1).

Principles:
- One shape for every history (``History``, the wire's ``history`` and the HTTP answers):
  a page of bids newest first, each with its lot, title and currency, ``auto`` where the house
  placed it for a maximum, ``voided`` where an admin voided it, and ``next_before``, the cursor
  of the next (older) page; null when there is none. Every page is bounded (``MAX_PAGE``).
- Who sees whom: the public sees a sale's and a lot's bidders as the lots' events name them in
  public, so pseudonyms in an anonymous sale; admins see the names. A bidder's own history
  (and an admin reading it) names the bidder, with ``alias``: the pseudonym the public saw
  in an anonymous sale. Maximums go to admins, and to the bidder in their own history.
- Read from the store by key and index (``store/history.py``), never by replaying lots; the
  rules of what is shown are the pure functions below, tested without an event loop.
- A sale's and a bidder's pages are ordered by (ts, lot, seq) and their cursor is
  ``"ts:seq:lot"``; a lot's page by seq and its cursor the seq, as the lot's own
  ``GET /api/lots/{id}/bids`` has it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec

from bidwire.domain.events import BidPlaced, BidVoided
from bidwire.engine.queries import Queries
from bidwire.errors import (
    BadRequest,
    BidwireError,
    Forbidden,
    NotAuthenticated,
    StoreUnavailable,
    UnknownSale,
)
from bidwire.store.base import EVENT_DECODER
from bidwire.store.history import HistoryCursor

log = logging.getLogger("bidwire.history")

PAGE = 50
MAX_PAGE = 200
"""The most bids one page holds."""
MAX_CURSOR = 200
MAX_NAME = 200
"""A bidder's name asked for is at most this long (names are far shorter)."""

Scope = Literal["lot", "sale", "bidder"]


class HistoryEntry(msgspec.Struct, omit_defaults=True):
    lot: str
    title: str
    sale: str
    currency: str
    seq: int
    amount: Annotated[int, msgspec.Meta(description="The bid (minor units).")]
    bidder: Annotated[
        str,
        msgspec.Meta(
            description="Who bid: a pseudonym in an anonymous sale, but to admins and "
            "in a bidder's own history."
        ),
    ]
    ts: int
    auto: Annotated[bool, msgspec.Meta(description="Placed by the house for a maximum.")] = False
    voided: Annotated[
        bool, msgspec.Meta(description="Voided by an admin: it no longer counts.")
    ] = False
    max_amount: Annotated[
        int | None,
        msgspec.Meta(description="The maximum behind the bid: admins', and the bidder's own."),
    ] = None
    alias: Annotated[
        str | None,
        msgspec.Meta(
            description="The pseudonym the public saw (an anonymous sale; a bidder's history only)."
        ),
    ] = None


class History(msgspec.Struct, tag="history", tag_field="type", omit_defaults=True):
    """A page of bids, newest first (the wire's ``history``; GET /api/sales/{id}/bids,
    /api/me/bids, /api/admin/bidders/{name}/bids)."""

    scope: Scope
    bids: list[HistoryEntry]
    next_before: Annotated[
        str | None,
        msgspec.Meta(description="Pass as before for the next (older) page; null: no more."),
    ]
    ts: int
    lot: str | None = None
    sale: str | None = None
    bidder: str | None = None
    title: Annotated[str | None, msgspec.Meta(description="The lot's or sale's title.")] = None
    id: str | int | None = None


@dataclass(frozen=True, slots=True)
class LotInfo:
    """What a history entry shows of its lot."""

    title: str
    sale: str
    currency: str


# -- the rules (pure) --------------------------------------------------------------------------


def cursor_text(cursor: HistoryCursor) -> str:
    ts, lot, seq = cursor
    return f"{ts}:{seq}:{lot}"


def parse_cursor(text: str) -> HistoryCursor:
    """A ``next_before`` of an earlier page of a sale's or a bidder's history."""
    ts, _, rest = text.partition(":")
    seq, _, lot = rest.partition(":")
    if len(text) > MAX_CURSOR or not (ts.isdigit() and seq.isdigit() and lot):
        raise BadRequest("before must be the next_before of an earlier page of this history")
    return int(ts), lot, int(seq)


def parse_seq(text: str) -> int:
    """A ``next_before`` of an earlier page of a lot's history: a seq."""
    if not text.isdigit() or len(text) > 18 or int(text) < 1:
        raise BadRequest("before must be the next_before of an earlier page (a seq) of this lot")
    return int(text)


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE}")
    return limit


def voided_of(voids: Iterable[BidVoided]) -> set[tuple[str, int]]:
    return {(void.lot, seq) for void in voids for seq in void.voided}


def page_of(bids: list[BidPlaced], limit: int) -> tuple[list[BidPlaced], HistoryCursor | None]:
    """The page (``limit`` bids of the ``limit + 1`` read) and the cursor of the next one."""
    more = len(bids) > limit
    shown = bids[:limit]
    last = shown[-1] if more and shown else None
    return shown, (last.ts, last.lot, last.seq) if last is not None else None


def entries(
    bids: Iterable[BidPlaced],
    lots: Mapping[str, LotInfo],
    voided: set[tuple[str, int]],
    shown_name: Callable[[str, str], str],
    *,
    maxima: bool,
    alias: Callable[[str, str], str | None] | None = None,
) -> list[HistoryEntry]:
    """The entries of ``bids`` (those of unknown lots left out): ``shown_name(sale, bidder)``
    names each bidder, ``alias(sale, bidder)`` adds the pseudonym; maximums only if
    ``maxima``."""
    listed = []
    for bid in bids:
        info = lots.get(bid.lot)
        if info is None:
            continue
        listed.append(
            HistoryEntry(
                bid.lot,
                info.title,
                info.sale,
                info.currency,
                bid.seq,
                bid.amount,
                shown_name(info.sale, bid.bidder),
                bid.ts,
                bid.auto,
                (bid.lot, bid.seq) in voided,
                bid.max_amount if maxima else None,
                alias(info.sale, bid.bidder) if alias is not None else None,
            )
        )
    return listed


# -- the reads ---------------------------------------------------------------------------------


class Histories:
    def __init__(self, queries: Queries) -> None:
        self.queries = queries
        self.house = queries.house

    def _now(self) -> int:
        return self.house.clock.now_ms()

    def _public(self, sale: str, bidder: str) -> str:
        return self.house.public_name(sale, bidder)

    def _alias(self, sale: str, bidder: str) -> str | None:
        shown = self.house.public_name(sale, bidder)
        return shown if shown != bidder else None

    async def lot(
        self,
        lot_id: str,
        before: str | None = None,
        limit: int = PAGE,
        *,
        admin: bool = False,
        maxima: bool = False,
    ) -> History:
        """A lot's bids by seq (the lot's own history, ``Queries.bids``, in this shape)."""
        check_limit(limit)
        before_seq = parse_seq(before) if before is not None else None
        page = await self.queries.bids(lot_id, before_seq, limit, admin=admin, maxima=maxima)
        lot = await self.queries.published(lot_id)
        spec = lot.spec
        bids = [
            HistoryEntry(
                lot_id,
                spec.title,
                lot.sale,
                spec.currency,
                b.seq,
                b.amount,
                b.bidder,
                b.ts,
                b.auto,
                b.voided,
                b.max_amount,
            )
            for b in page.bids
        ]
        after = str(page.next_before_seq) if page.next_before_seq is not None else None
        return History("lot", bids, after, self._now(), lot=lot_id, sale=lot.sale, title=spec.title)

    async def sale(
        self,
        sale_id: str,
        before: str | None = None,
        limit: int = PAGE,
        *,
        admin: bool = False,
        maxima: bool = False,
    ) -> History:
        """Every bid of a sale's lots, newest first: pseudonyms in an anonymous sale but to
        ``admin``; maximums to ``admin`` or ``maxima`` (an admin reading the public API)."""
        check_limit(limit)
        cursor = parse_cursor(before) if before is not None else None
        sale = self.house.sales.get(sale_id)
        if sale is None:
            raise UnknownSale(f"there is no sale {sale_id[:64]!r}")
        lot_ids = list(sale.spec.lot_ids)
        store = self.house.store
        try:
            bodies = await store.bids_of_lots(lot_ids, cursor, limit + 1)
            bids, after = page_of(_placed(bodies), limit)
            lots = await self._infos({b.lot for b in bids})
            voided = await self._voided({b.lot for b in bids})
        except BidwireError:
            raise
        except Exception as exc:
            log.exception("reading the bid history of sale %s", sale_id)
            raise StoreUnavailable("the sale's bid history cannot be read right now") from exc
        shown = (lambda s, b: b) if admin else self._public
        listed = entries(bids, lots, voided, shown, maxima=admin or maxima)
        return History(
            "sale",
            listed,
            cursor_text(after) if after is not None else None,
            self._now(),
            sale=sale_id,
            title=sale.spec.title,
        )

    async def bidder(self, name: str, before: str | None = None, limit: int = PAGE) -> History:
        """Every bid of ``name``, newest first, as theirs: for the bidder themselves and for
        admins (the routes decide who may ask). In an anonymous sale ``alias`` says how the
        public saw them."""
        check_limit(limit)
        if not name or len(name) > MAX_NAME:
            raise BadRequest(f"a bidder's name is 1 to {MAX_NAME} characters")
        cursor = parse_cursor(before) if before is not None else None
        store = self.house.store
        try:
            bodies = await store.bids_placed_by(name, cursor, limit + 1)
            bids, after = page_of(_placed(bodies), limit)
            lots = await self._infos({b.lot for b in bids})
            voided = await self._voided({b.lot for b in bids})
        except BidwireError:
            raise
        except Exception as exc:
            log.exception("reading the bid history of %s", name[:64])
            raise StoreUnavailable("the bid history cannot be read right now") from exc
        listed = entries(bids, lots, voided, lambda s, b: b, maxima=True, alias=self._alias)
        return History(
            "bidder",
            listed,
            cursor_text(after) if after is not None else None,
            self._now(),
            bidder=name,
        )

    async def _infos(self, lot_ids: set[str]) -> dict[str, LotInfo]:
        """Each lot's title, sale and currency: open lots from the views, the others from
        the catalogue (one small row each, never the lot's log)."""
        views = self.house.views.lots
        found = {
            i: LotInfo(views[i].spec.title, views[i].sale, views[i].spec.currency)
            for i in lot_ids
            if i in views
        }
        missing = sorted(lot_ids - found.keys())
        if missing:
            for entry in await self.house.store.catalog_lots(missing):
                spec = entry.spec
                found[spec.id] = LotInfo(spec.title, entry.sale, spec.currency)
        return found

    async def _voided(self, lot_ids: set[str]) -> set[tuple[str, int]]:
        if not lot_ids:
            return set()
        bodies = await self.house.store.voids_of(sorted(lot_ids))
        return voided_of(e for e in map(EVENT_DECODER.decode, bodies) if isinstance(e, BidVoided))


def _placed(bodies: list[bytes]) -> list[BidPlaced]:
    return [e for e in map(EVENT_DECODER.decode, bodies) if isinstance(e, BidPlaced)]


async def ask(
    histories: Histories,
    *,
    lot: str | None,
    sale: str | None,
    mine: bool,
    bidder: str | None,
    before: str | None,
    limit: int,
    reader: str | None,
    admin: bool,
) -> History:
    """One history as a connection asks for it (the wire's and the text mode's ``history``):
    exactly one of a lot, a sale, ``mine`` (the reader's own) or, for admins, a bidder.
    Admins see names in anonymous sales; others see what the public sees."""
    asked = [lot is not None, sale is not None, mine, bidder is not None]
    if sum(asked) != 1:
        raise BadRequest('a history is of one "lot", one "sale", "mine": true, or one "bidder"')
    if lot is not None:
        return await histories.lot(lot, before, limit, admin=admin)
    if sale is not None:
        return await histories.sale(sale, before, limit, admin=admin)
    if bidder is not None and not admin:
        raise Forbidden("only admins read another bidder's history; ask for yours with mine")
    name = bidder if bidder is not None else reader
    if name is None:
        raise NotAuthenticated("say hello or log in first: your history is of your name")
    return await histories.bidder(name, before, limit)
