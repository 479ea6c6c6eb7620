"""A closed lot's, or a sale's, log as the public saw it, for the web page to replay (issue 13,
point 6).

Principles:
- A replay is the log itself, not a rebuilt story: each event as the public feed sent it
  (``privacy.public_event``: pseudonyms in an anonymous sale, never a maximum). ``max_raised``
  is left out: the public's copy of it says nothing but that the seq moved.
- Only closed lots are replayed: an open lot's log is still being written, and its future
  bids are not for anyone to see early. A sale's replay holds its closed lots and names the
  others (``pending``).
- Voided bids are marked up front (``voided``: their seqs), so a page can strike them through
  from the start; the ``bid_voided`` event is in the log at the moment it happened.
- Bounded: a page holds at most ``limit`` events (finite, ``MAX_REPLAY_PAGE``); a cursor
  continues where it stopped. Each lot is read by the events' primary key (stream, lot_id,
  seq), a range scan, so a page costs its own events and nothing else.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

import msgspec

from bidwire.domain.events import BidVoided, LotEvent, MaxRaised
from bidwire.domain.privacy import public_event
from bidwire.engine.queries import Queries
from bidwire.errors import BadRequest, NotClosed, StoreUnavailable, UnknownSale
from bidwire.store.base import EVENT_DECODER

log = logging.getLogger("bidwire.replay")

DEFAULT_REPLAY_PAGE = 5_000
MAX_REPLAY_PAGE = 20_000
"""Events in one page of a replay: a sale of 10,000 bids is one page at the most."""


class LotReplay(msgspec.Struct):
    """A closed lot's public events, oldest first (a page of them)."""

    lot: str
    sale: str
    title: str
    currency: str
    events: Annotated[
        list[LotEvent],
        msgspec.Meta(description="The public events, oldest first, as the live feed sent them."),
    ]
    voided: Annotated[
        list[int], msgspec.Meta(description="Seqs of the lot's bids an admin voided.")
    ]
    next_after_seq: Annotated[
        int | None,
        msgspec.Meta(description="Pass as after_seq for the next page; null when this is all."),
    ]
    ts: int


class SaleLotReplay(msgspec.Struct):
    """One lot's part of a sale's replay page (a long lot may go on in the next page)."""

    lot: str
    title: str
    currency: str
    events: list[LotEvent]
    voided: list[int]


class SaleReplay(msgspec.Struct):
    """A page of a sale's replay: its closed lots in catalogue order, each with its events."""

    sale: str
    title: str
    mode: Literal["live", "timed"]
    state: Literal["held", "scheduled", "running", "paused", "ended"]
    lots: list[SaleLotReplay]
    pending: Annotated[
        list[str], msgspec.Meta(description="The sale's lots not closed yet: not replayed.")
    ]
    next_after: Annotated[
        str | None,
        msgspec.Meta(
            description="Pass as after for the next page (opaque); null when this is all."
        ),
    ]
    ts: int


def _cursor(after: str | None, lots: int) -> tuple[int, int]:
    """``after`` ("<lot index>:<seq>") as numbers; a bad one is the asker's fault."""
    if after is None:
        return 0, 0
    index, sep, seq = after.partition(":")
    if not sep or not index.isdigit() or not seq.isdigit() or len(after) > 40:
        raise BadRequest(f"after {after[:40]!r} is not a cursor this server gave")
    at, since = int(index), int(seq)
    if at >= lots:
        raise BadRequest(f"after {after[:40]!r} points past the sale's lots")
    return at, since


class Replays:
    def __init__(self, queries: Queries) -> None:
        self.queries = queries
        self.house = queries.house

    def _salt(self, sale_id: str) -> str | None:
        sale = self.house.sales.get(sale_id)
        return sale.spec.pseudonym_salt if sale is not None and sale.spec.anonymous else None

    async def _read(self, lot_id: str, after_seq: int, limit: int) -> list[LotEvent]:
        try:
            bodies = await self.house.store.events_since(lot_id, after_seq, limit)
        except Exception as exc:
            log.exception("reading the log of %s for a replay", lot_id)
            raise StoreUnavailable("the replay cannot be read right now; try again") from exc
        return [EVENT_DECODER.decode(body) for body in bodies]

    async def _voided(self, lot_id: str, events: list[LotEvent], whole: bool) -> list[int]:
        """The lot's voided seqs: from the events when they are the whole log, else the store."""
        if whole:
            voids = [e for e in events if isinstance(e, BidVoided)]
        else:
            try:
                bodies = await self.house.store.bid_voids(lot_id)
            except Exception as exc:
                log.exception("reading the voids of %s for a replay", lot_id)
                raise StoreUnavailable("the replay cannot be read right now; try again") from exc
            voids = [e for e in map(EVENT_DECODER.decode, bodies) if isinstance(e, BidVoided)]
        return sorted({seq for void in voids for seq in void.voided})

    def _public(self, events: list[LotEvent], salt: str | None) -> list[LotEvent]:
        return [public_event(e, salt) for e in events if not isinstance(e, MaxRaised)]

    async def lot(self, lot_id: str, after_seq: int, limit: int) -> LotReplay:
        """A page of a closed lot's replay: its events after ``after_seq``."""
        view = await self.queries.published(lot_id)
        if view.status != "closed":
            raise NotClosed(f"lot {lot_id[:64]!r} has not closed: only a closed lot is replayed")
        read = await self._read(lot_id, after_seq, limit + 1)
        more = len(read) > limit
        page = read[:limit]
        voided = await self._voided(lot_id, page, whole=after_seq == 0 and not more)
        return LotReplay(
            lot_id,
            view.sale,
            view.spec.title,
            view.spec.currency,
            self._public(page, self._salt(view.sale)),
            voided,
            page[-1].seq if more and page else None,
            self.house.clock.now_ms(),
        )

    async def sale(self, sale_id: str, after: str | None, limit: int) -> SaleReplay:
        """A page of a sale's replay: its closed lots in catalogue order from the cursor, at
        most ``limit`` events in all."""
        sale = self.house.sales.get(sale_id)
        if sale is None:
            raise UnknownSale(f"there is no sale {sale_id[:64]!r}")
        spec = sale.spec
        ids = list(spec.lot_ids)
        at, since = _cursor(after, len(ids))
        states = await self.queries.lot_states(ids)
        pending = [i for i in ids if i in states and states[i].state != "closed"]
        salt = self._salt(sale_id)
        left, lots, next_after = limit, [], None
        for index in range(at, len(ids)):
            lot_id = ids[index]
            state = states.get(lot_id)
            if state is None or state.state != "closed":
                continue
            after_seq = since if index == at else 0
            if left == 0:
                next_after = f"{index}:{after_seq}"
                break
            read = await self._read(lot_id, after_seq, left + 1)
            more = len(read) > left
            page = read[:left]
            left -= len(page)
            voided = await self._voided(lot_id, page, whole=after_seq == 0 and not more)
            events = self._public(page, salt)
            lots.append(SaleLotReplay(lot_id, state.title, state.currency, events, voided))
            if more:
                next_after = f"{index}:{page[-1].seq}"
                break
        return SaleReplay(
            sale_id,
            spec.title,
            spec.mode,
            sale.status,
            lots,
            pending,
            next_after,
            self.house.clock.now_ms(),
        )
