"""Integrity signals (issue 13, point 4): per bidder and sale, the shill-bidding features of the
literature, a score from them, and who passes the threshold, live while the sale runs.

Sources: Alzahrani and Sadaoui, "Scraping and preprocessing commercial auction data for fraud
classification" (2018: the SCAN shill-bidding features) and Majadi, Trevathan and Gray, "A
run-time algorithm for detecting shill bidding in online auctions" (2018: the Live Shill Score,
features updated as bids arrive). A shill bids early and often, takes the lead back at once,
stops before the end (leaving the real bidder to pay more) and never wins.

Principles:
- The rules are pure (``SaleTrack.apply``, ``score_sale``): events and ``now_ms`` in, scores
  out; no clock, no I/O. ``Integrity`` below is the shell that feeds them from the bus and the
  store, as ``engine/activity.py`` does for notices.
- Cheap on the bid path: a bid is a few dict lookups and one small object appended to its lot
  (kept so a void can be undone exactly). Scores are made when asked, from per (lot, bidder)
  sums: O(the sale's bidder-lot pairs), not O(bids).
- Every feature is a number 0..1 where higher looks more like a shill (``FEATURES`` says how
  each is made); the score is their weighted mean (``WEIGHTS`` sum to 1). A bidder is flagged
  when the score reaches ``threshold`` and they placed at least ``min_bids`` bids: one early bid
  on a lot someone else won says nothing about anyone.
- bidwire refuses a leader's bid over their own (``already_leading``), so the literature's
  "successive outbidding" (raising one's own bid) is read here as taking the lead back from
  someone else within ``quick_ms`` of their bid, by a bid the bidder placed themselves (an
  automatic bid answers at once by construction and says nothing).
- Voided bids count for nothing: a void rebuilds that lot's sums from its bids without them.
- A running sale is scored so far: an open lot's window ends "now", and leading it counts as
  winning it so far. Withdrawn lots count for no one's winning ratio.
- Admins only: real names, never pseudonyms (the HTTP route and the wire request check it).
"""

from __future__ import annotations

import asyncio
import logging
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from bidwire.bus import Bus, Message
from bidwire.domain.events import (
    SALE_EVENT_TYPES,
    BidPlaced,
    BidVoided,
    LotClosed,
    LotEvent,
    LotExtended,
    LotOpened,
    LotResumed,
    SaleEnded,
)
from bidwire.errors import BadRequest, BidwireError, StoreUnavailable, UnknownSale
from bidwire.store.base import EVENT_DECODER, BidderPart, LotRun

if TYPE_CHECKING:
    from bidwire.engine.house import AuctionHouse

log = logging.getLogger("bidwire.integrity")

FEATURES: dict[str, str] = {
    "bidding_ratio": "the bidder's share of the bids on the lots they bid on (mean over lots)",
    "successive_outbidding": "of the bids they placed themselves, the share that took the lead"
    " back from someone else within quick_ms of that bid",
    "early_bidding": "how early in each lot's window their first bid came: 1 at the opening,"
    " 0 at the close (mean over lots)",
    "last_bidding": "how long before each lot's end their last bid came: 1 at the opening, 0"
    " at the close; a running lot ends now (mean over lots)",
    "auction_bids": "how busy their lots were: each lot's bids over the busiest lot's of the"
    " sale (mean over lots)",
    "winning_ratio": "1 - (lots won, or led while open) / lots bid on (withdrawn ones left"
    " out): high when they rarely win",
}
"""Each feature, oriented so that higher looks more like a shill (docs/protocol.md)."""

WEIGHTS: dict[str, float] = {
    "bidding_ratio": 0.15,
    "successive_outbidding": 0.20,
    "early_bidding": 0.15,
    "last_bidding": 0.25,
    "auction_bids": 0.05,
    "winning_ratio": 0.20,
}
"""Why these: successive outbidding and winning ratio are among the most telling features of
the literature (Alzahrani and Sadaoui's ranking), but an honest bidding war near the end
shares both, so stopping early (last bidding) weighs most: it is what a shill does and a
bidder who wants the lot does not. Auction bids describes the lot more than the bidder (every
bidder of a lot shares it), so it weighs least."""

DEFAULT_THRESHOLD = 0.65
"""The loser of an honest bidding war from mid-lot to the end scores about 0.6, a bidder who
bids three times early and gives up about 0.63; the scripted shill of the tests about 0.75."""
QUICK_MS = 3_000
MIN_BIDS = 3
RAISED_AT = 0.5
"""A feature at or above this is one of those that raised a flagged score."""
LISTED_BIDDERS = 100
"""Bidders listed in a report unless asked for more (the flagged ones come first)."""
MAX_LISTED_BIDDERS = 10_000
MAX_KEPT_SALES = 16
"""Ended sales whose scores are kept in memory (they change no more); others are read again."""
REFRESH_MS = 500
"""A running sale is scored at most twice a second, however many admins ask (a sale of
10,000 bids costs about 15 ms to score: bench/integrity.py)."""
MAX_FOLLOWERS = 100
"""Connections one sale pushes its signals to (each follows one sale at a time)."""
READ_PAGE = 5_000
"""Events read from the store at once, rebuilding a sale."""
MAX_SALE_EVENTS = 2_000_000
"""A sale with more events than this is not rebuilt from its log (a finite bound on the read)."""


@dataclass(frozen=True, slots=True)
class IntegrityPolicy:
    threshold: float = DEFAULT_THRESHOLD
    quick_ms: int = QUICK_MS
    min_bids: int = MIN_BIDS
    raised_at: float = RAISED_AT

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ValueError("the integrity threshold must be more than 0 and at most 1")
        if self.quick_ms < 0 or self.min_bids < 1 or not 0 <= self.raised_at <= 1:
            raise ValueError("quick_ms must be >= 0, min_bids >= 1 and raised_at 0..1")


# -- the shapes ------------------------------------------------------------------------------


class IntegrityFeatures(msgspec.Struct):
    """The six features of one bidder in one sale, each 0..1, higher more shill-like."""

    bidding_ratio: float
    successive_outbidding: float
    early_bidding: float
    last_bidding: float
    auction_bids: float
    winning_ratio: float


class BidderSignals(msgspec.Struct):
    bidder: Annotated[str, msgspec.Meta(description="The real name (admins only).")]
    score: Annotated[float, msgspec.Meta(description="The weighted mean of features, 0..1.")]
    flagged: Annotated[bool, msgspec.Meta(description="score >= threshold and bids >= min_bids.")]
    raised_by: Annotated[
        list[str],
        msgspec.Meta(
            description="The features at or above 0.5, the largest part of the score first."
        ),
    ]
    features: IntegrityFeatures
    bids: Annotated[int, msgspec.Meta(description="Bids that count (not voided), auto ones too.")]
    lots: Annotated[int, msgspec.Meta(description="Lots of the sale they bid on.")]
    wins: Annotated[int, msgspec.Meta(description="Lots closed sold to them.")]


class IntegrityReport(msgspec.Struct, tag="integrity", tag_field="type", omit_defaults=True):
    """A sale's integrity signals (GET /api/admin/sales/{id}/integrity; the wire's
    ``integrity``), flagged bidders first, then by score."""

    sale: str
    threshold: float
    min_bids: int
    weights: dict[str, float]
    live: Annotated[
        bool,
        msgspec.Meta(
            description="From the live listener (true) or read again from the log (false)."
        ),
    ]
    flagged: Annotated[int, msgspec.Meta(description="How many bidders are flagged.")]
    bidders: Annotated[
        list[BidderSignals],
        msgspec.Meta(description="The first ``limit`` bidders (100 unless asked), flagged first."),
    ]
    bidders_total: Annotated[
        int, msgspec.Meta(description="How many bidders the sale has, listed or not.")
    ]
    ts: int
    id: str | int | None = None


# -- the rules (pure) ------------------------------------------------------------------------


@dataclass(slots=True)
class _Part:
    """One bidder on one lot."""

    bids: int = 0
    placed: int = 0
    """Of ``bids``, those they placed themselves (not automatic)."""
    quick: int = 0
    """Of ``placed``, those that took the lead back within quick_ms."""
    first: int = 0
    last: int = 0


@dataclass(slots=True)
class LotTrack:
    seq: int = 0
    opened_at: int | None = None
    closed_at: int | None = None
    ends_at: int | None = None
    """The deadline as the last event set it: a lot closed by its countdown ended there, even
    when the scheduler wrote the close a little later."""
    winner: str | None = None
    withdrawn: bool = False
    leader: str | None = None
    leader_ts: int = 0
    count: int = 0
    parts: dict[str, _Part] = field(default_factory=dict)
    # An open lot's bids, kept while a void may come, as columns rather than an object per
    # bid: objects that live on made the collector run more often (+7% server CPU at 1,000
    # bids/s, bench/integrity.py), arrays and a list of names do not.
    seqs: array[int] = field(default_factory=lambda: array("q"))
    stamps: array[int] = field(default_factory=lambda: array("q"))
    autos: bytearray = field(default_factory=bytearray)
    bidders: list[str] = field(default_factory=list)
    voided: set[int] = field(default_factory=set)

    def bid(self, bidder: str, ts: int, auto: bool, quick_ms: int) -> None:
        quick = (
            not auto
            and self.leader is not None
            and self.leader != bidder
            and ts - self.leader_ts <= quick_ms
        )
        part = self.parts.get(bidder)
        if part is None:
            part = self.parts[bidder] = _Part(first=ts)
        part.bids += 1
        part.last = ts
        if not auto:
            part.placed += 1
            if quick:
                part.quick += 1
        self.count += 1
        self.leader, self.leader_ts = bidder, ts

    def rebuild(self, quick_ms: int) -> None:
        """The sums again from the bids that stand (after a void)."""
        self.parts, self.count, self.leader, self.leader_ts = {}, 0, None, 0
        for seq, bidder, ts, auto in zip(
            self.seqs, self.bidders, self.stamps, self.autos, strict=True
        ):
            if seq not in self.voided:
                self.bid(bidder, ts, bool(auto), quick_ms)

    @property
    def open_bids(self) -> int:
        """Bids kept for a void (none once the lot closed: its sums are final)."""
        return len(self.seqs)

    def keep(self, event: BidPlaced) -> None:
        self.seqs.append(event.seq)
        self.stamps.append(event.ts)
        self.autos.append(event.auto)
        self.bidders.append(event.bidder)

    def forget_bids(self) -> None:
        self.seqs, self.stamps, self.autos = array("q"), array("q"), bytearray()
        self.bidders, self.voided = [], set()


@dataclass(slots=True)
class SaleTrack:
    """One sale's lots as the integrity rules need them; ``apply`` each lot event in order."""

    sale: str
    quick_ms: int = QUICK_MS
    lots: dict[str, LotTrack] = field(default_factory=dict)

    def apply(self, event: LotEvent) -> bool:
        """False if ``event`` came after a gap (events of the lot are missing before it: the
        bus between nodes lost them); it is applied all the same, and the caller reads the
        sale again from the log."""
        track = self.lots.get(event.lot)
        if track is None:
            track = self.lots[event.lot] = LotTrack()
        if event.seq <= track.seq:
            return True  # seen already (a start reads the log while the bus is heard)
        in_order = event.seq == track.seq + 1
        track.seq = event.seq
        if isinstance(event, BidPlaced | BidVoided | LotOpened | LotExtended | LotResumed):
            track.ends_at = event.ends_at
        if isinstance(event, BidPlaced):
            track.keep(event)
            track.bid(event.bidder, event.ts, event.auto, self.quick_ms)
        elif isinstance(event, BidVoided):
            track.voided.update(event.voided)
            track.rebuild(self.quick_ms)
        elif isinstance(event, LotOpened):
            if track.opened_at is None:
                track.opened_at = event.ts
        elif isinstance(event, LotClosed):
            track.forget_bids()  # only an open lot's bids may be voided: the sums are final
            track.closed_at = event.ts
            track.withdrawn = event.reason == "withdrawn"
            track.winner = event.winner if event.outcome == "sold" else None
        return in_order


def track_of_facts(
    sale_id: str, runs: Iterable[LotRun], parts: Iterable[BidderPart], quick_ms: int = QUICK_MS
) -> SaleTrack:
    """A sale's track from the store's counted facts (``Store.integrity_facts``): the same
    sums ``SaleTrack.apply`` keeps, for scoring only."""
    track = SaleTrack(sale_id, quick_ms)
    for run in runs:
        track.lots[run.lot_id] = LotTrack(
            opened_at=run.opened_at,
            closed_at=run.closed_at,
            ends_at=run.ends_at,
            winner=run.winner if run.outcome == "sold" else None,
            withdrawn=run.reason == "withdrawn",
        )
    for part in parts:
        lot = track.lots.setdefault(part.lot_id, LotTrack())
        lot.parts[part.bidder] = _Part(part.bids, part.placed, part.quick, part.first, part.last)
        lot.count += part.bids
        if part.leads:
            lot.leader, lot.leader_ts = part.bidder, part.last
    return track


def _clamp(x: float) -> float:
    return 0.0 if x < 0 else 1.0 if x > 1 else x


@dataclass(slots=True)
class _Acc:
    """One bidder's sums over their lots, while a sale is scored."""

    lots: int = 0
    ratio: float = 0.0
    busy: float = 0.0
    timed: int = 0
    """Lots with a window to measure early and last bidding against."""
    early: float = 0.0
    late: float = 0.0
    bids: int = 0
    placed: int = 0
    quick: int = 0
    wins: int = 0
    won: int = 0
    """Lots won, or led while open."""
    decided: int = 0
    """Lots that count for the winning ratio (withdrawn ones do not)."""


def score_sale(
    track: SaleTrack, now_ms: int, policy: IntegrityPolicy | None = None, limit: int | None = None
) -> list[BidderSignals]:
    """Every bidder's features and score (the first ``limit`` only), flagged first, then by
    score (highest first)."""
    policy = policy or IntegrityPolicy()
    return [_signals(r, policy.raised_at) for r in _ranked(track, now_ms, policy)[:limit]]


_Ranked = tuple[bool, float, str, tuple[float, ...], "_Acc"]
"""(not flagged, -score, bidder, the features in FEATURES' order, the sums): sorted as listed."""

_WEIGHT_LIST = tuple(WEIGHTS[name] for name in FEATURES)
_RANK = itemgetter(0, 1, 2)


def _ranked(track: SaleTrack, now_ms: int, policy: IntegrityPolicy) -> list[_Ranked]:
    """One pass over the (lot, bidder) sums, then each bidder's features and score, ranked.
    Only the numbers: the objects of a listing are built for the bidders listed (a sale of
    1,000 bidders is listed 100 at a time, and building all cost most of a read)."""
    busiest = max((lot.count for lot in track.lots.values()), default=0)
    accs: dict[str, _Acc] = {}
    for lot in track.lots.values():
        if not lot.parts:
            continue
        start = lot.opened_at
        closed = lot.closed_at is not None
        end = now_ms if lot.closed_at is None else lot.closed_at
        if closed and lot.ends_at is not None:
            end = min(end, lot.ends_at)
        window = end - start if start is not None else 0
        busy = lot.count / busiest if busiest else 0.0
        counted = not lot.withdrawn
        leader = lot.winner if closed else lot.leader
        for bidder, part in lot.parts.items():
            acc = accs.get(bidder)
            if acc is None:
                acc = accs[bidder] = _Acc()
            acc.lots += 1
            acc.bids += part.bids
            acc.placed += part.placed
            acc.quick += part.quick
            acc.ratio += part.bids / lot.count
            acc.busy += busy
            if start is not None and window > 0:
                acc.timed += 1
                acc.early += 1 - _clamp((part.first - start) / window)
                acc.late += _clamp((end - part.last) / window)
            if counted:
                acc.decided += 1
                if leader == bidder:
                    acc.won += 1
                    acc.wins += closed
    ranked: list[_Ranked] = []
    threshold, min_bids = policy.threshold, policy.min_bids
    w1, w2, w3, w4, w5, w6 = _WEIGHT_LIST
    for bidder, acc in accs.items():
        values = (
            v1 := round(acc.ratio / acc.lots, 4),
            v2 := round(acc.quick / acc.placed, 4) if acc.placed else 0.0,
            v3 := round(acc.early / acc.timed, 4) if acc.timed else 0.0,
            v4 := round(acc.late / acc.timed, 4) if acc.timed else 0.0,
            v5 := round(acc.busy / acc.lots, 4),
            v6 := round(1 - acc.won / acc.decided, 4) if acc.decided else 0.0,
        )
        # spelled out, in FEATURES' order: the weighted mean of the docs, a generator less
        score = round(w1 * v1 + w2 * v2 + w3 * v3 + w4 * v4 + w5 * v5 + w6 * v6, 4)
        flagged = score >= threshold and acc.bids >= min_bids
        ranked.append((not flagged, -score, bidder, values, acc))
    ranked.sort(key=_RANK)
    return ranked


def _signals(ranked: _Ranked, raised_at: float) -> BidderSignals:
    not_flagged, minus_score, bidder, values, acc = ranked
    named = dict(zip(FEATURES, values, strict=True))
    raised = sorted(
        (name for name in FEATURES if named[name] >= raised_at),
        key=lambda name: -WEIGHTS[name] * named[name],
    )
    return BidderSignals(
        bidder=bidder,
        score=-minus_score,
        flagged=not not_flagged,
        raised_by=raised,
        features=IntegrityFeatures(**named),
        bids=acc.bids,
        lots=acc.lots,
        wins=acc.wins,
    )


def report_of(
    track: SaleTrack,
    now_ms: int,
    policy: IntegrityPolicy,
    *,
    live: bool,
    limit: int = LISTED_BIDDERS,
) -> IntegrityReport:
    ranked = _ranked(track, now_ms, policy)
    return IntegrityReport(
        sale=track.sale,
        threshold=policy.threshold,
        min_bids=policy.min_bids,
        weights=dict(WEIGHTS),
        live=live,
        flagged=sum(not r[0] for r in ranked),
        bidders=[_signals(r, policy.raised_at) for r in ranked[:limit]],
        bidders_total=len(ranked),
        ts=now_ms,
    )


# -- the component ---------------------------------------------------------------------------

Push = Callable[[bytes], bool]
"""Hand an encoded report to one connection; False: it is gone (transports' part)."""


class Integrity:
    """Feeds a ``SaleTrack`` per running sale from the bus (``listen``), rebuilt from the log
    for sales that were running before it listened (a restart); answers ``report``."""

    def __init__(
        self,
        house: AuctionHouse,
        policy: IntegrityPolicy | None = None,
        *,
        live: bool = True,
    ) -> None:
        self.house = house
        self.policy = policy or IntegrityPolicy()
        self.live = live
        self.tracks: dict[str, SaleTrack] = {}
        """Running sales, followed live."""
        self._loading: dict[str, list[LotEvent]] = {}
        """Sales being read from the log -> the events heard meanwhile (applied after)."""
        self._lot_sale: dict[str, str] = {}
        self._ended: OrderedDict[str, SaleTrack] = OrderedDict()
        self._scored: dict[str, IntegrityReport] = {}
        """Each followed sale's last report (reused for REFRESH_MS)."""
        self._followers: dict[str, dict[object, Push]] = {}
        """Sale -> the connections told of its changes (key -> how to tell it)."""
        self._following: dict[object, str] = {}
        self._push_due: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self.heard = 0
        """Lot events applied live (tests and metrics)."""

    def listen(self, bus: Bus) -> None:
        if not self.live:
            return
        self._unsubscribe = bus.subscribe(self._heard)
        for sale in list(self.house.sales.values()):
            if sale.running:
                self._load(sale.id)

    def close(self) -> None:
        for due in self._push_due.values():
            due.cancel()
        self._push_due.clear()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in self._tasks:
            task.cancel()

    async def settled(self) -> None:
        """Until every sale being read from the log is followed (what tests await)."""
        for _ in range(1_000):
            if not self._tasks:
                return
            await asyncio.wait(set(self._tasks))

    def _sale_of(self, lot_id: str) -> str | None:
        sale = self._lot_sale.get(lot_id)
        if sale is None:
            view = self.house.views.lots.get(lot_id) or self.house.lots.get(lot_id)
            if view is not None:
                sale = self._lot_sale[lot_id] = view.sale
        return sale

    def _heard(self, message: Message) -> None:
        event = message.event
        if message.stream != "lot":
            if isinstance(event, SaleEnded):
                self._end(event.sale)
            return
        lot_event: LotEvent = event  # type: ignore[assignment]
        if isinstance(lot_event, LotOpened):
            self._lot_sale[lot_event.lot] = lot_event.sale
        sale = self._sale_of(lot_event.lot)
        if sale is None:
            return
        track = self.tracks.get(sale)
        if track is not None:
            if not track.apply(lot_event):
                # events the bus lost (a follower's): the sale is read again from the log,
                # what is heard meanwhile applied after, as when it was first followed
                del self.tracks[sale]
                self._scored.pop(sale, None)
                self._load(sale)
                return
            self.heard += 1
            if self._followers and sale in self._followers and sale not in self._push_due:
                self._push_due[sale] = asyncio.get_running_loop().call_later(
                    REFRESH_MS / 1000, self._push, sale
                )
            return
        pending = self._loading.get(sale)
        if pending is None:
            pending = self._load(sale)
        pending.append(lot_event)

    # -- pushes to the connections that follow a sale ------------------------------------------

    def follow(self, sale_id: str, key: object, push: Push) -> None:
        """Tell ``push`` each fresh report of the sale, at most twice a second, while it runs
        (``key`` is the connection: one sale at a time; ``push`` returns False once gone)."""
        if not self.live:
            raise BadRequest("this server scores sales when asked (live integrity is off)")
        if sale_id not in self.house.sales:
            raise UnknownSale(f"there is no sale {sale_id[:64]!r}")
        self.unfollow(key)
        followers = self._followers.setdefault(sale_id, {})
        if len(followers) >= MAX_FOLLOWERS:
            raise BadRequest(f"{MAX_FOLLOWERS} connections follow this sale already")
        followers[key] = push
        self._following[key] = sale_id

    def unfollow(self, key: object) -> None:
        sale_id = self._following.pop(key, None)
        if sale_id is not None:
            followers = self._followers.get(sale_id, {})
            followers.pop(key, None)
            if not followers:
                self._followers.pop(sale_id, None)

    def _push(self, sale_id: str) -> None:
        self._push_due.pop(sale_id, None)
        track = self.tracks.get(sale_id)
        followers = self._followers.get(sale_id)
        if track is None or not followers:
            return
        report = self._scored[sale_id] = report_of(
            track, self.house.clock.now_ms(), self.policy, live=True
        )
        data = msgspec.json.encode(report)  # once, for every follower
        for key, push in list(followers.items()):
            if not push(data):
                self.unfollow(key)

    def _end(self, sale_id: str) -> None:
        due = self._push_due.pop(sale_id, None)
        if due is not None:
            due.cancel()
        self._push(sale_id)  # the last word, then nobody follows an ended sale
        for key in list(self._followers.get(sale_id, {})):
            self.unfollow(key)
        self._scored.pop(sale_id, None)
        track = self.tracks.pop(sale_id, None)
        if track is not None:
            self._keep(track)
        for lot_id in [lot for lot, sale in self._lot_sale.items() if sale == sale_id]:
            del self._lot_sale[lot_id]

    def _keep(self, track: SaleTrack) -> None:
        self._ended[track.sale] = track
        self._ended.move_to_end(track.sale)
        while len(self._ended) > MAX_KEPT_SALES:
            self._ended.popitem(last=False)

    def _load(self, sale_id: str) -> list[LotEvent]:
        pending: list[LotEvent] = []
        self._loading[sale_id] = pending
        task = asyncio.ensure_future(self._follow(sale_id, pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return pending

    async def _follow(self, sale_id: str, pending: list[LotEvent]) -> None:
        try:
            track = await self._read(sale_id)
        except Exception:  # the sale's signals are read from the log when asked instead
            log.exception("reading sale %s's log for its integrity signals", sale_id)
            self._loading.pop(sale_id, None)
            return
        for event in pending:
            track.apply(event)
        self._loading.pop(sale_id, None)
        sale = self.house.sales.get(sale_id)
        if sale is not None and sale.ended_at is not None:
            self._keep(track)
        else:
            self.tracks[sale_id] = track

    async def _read(self, sale_id: str) -> SaleTrack:
        """The sale's track from its lots' logs in the store."""
        sale = self.house.sales.get(sale_id) or self.house.retired_sales.get(sale_id)
        if sale is None:
            raise UnknownSale(f"there is no sale {sale_id[:64]!r}")
        track = SaleTrack(sale_id, self.policy.quick_ms)
        read = 0
        for lot_id in sale.spec.lot_ids:
            self._lot_sale.setdefault(lot_id, sale_id)
            since = 0
            while True:
                bodies = await self.house.store.events_since(lot_id, since, READ_PAGE)
                for event in _decode(bodies):
                    track.apply(event)
                    since = event.seq
                read += len(bodies)
                if read > MAX_SALE_EVENTS:
                    raise BadRequest(f"sale {sale_id} has too many events to score here")
                if len(bodies) < READ_PAGE:
                    break
        return track

    async def _counted(self, sale_id: str) -> SaleTrack:
        """The sale's sums as the store counts them (SQL), for a sale not followed live: an
        ended one, or any with live integrity off. Not for following: no seqs, no bids kept."""
        sale = self.house.sales.get(sale_id) or self.house.retired_sales.get(sale_id)
        if sale is None:
            raise UnknownSale(f"there is no sale {sale_id[:64]!r}")
        runs, parts = await self.house.store.integrity_facts(
            sale.spec.lot_ids, self.policy.quick_ms
        )
        return track_of_facts(sale_id, runs, parts, self.policy.quick_ms)

    async def report(self, sale_id: str, limit: int = LISTED_BIDDERS) -> IntegrityReport:
        if not 1 <= limit <= MAX_LISTED_BIDDERS:
            raise BadRequest(f"limit must be between 1 and {MAX_LISTED_BIDDERS}")
        if sale_id not in self.house.sales and sale_id not in self.house.retired_sales:
            raise UnknownSale(f"there is no sale {sale_id[:64]!r}")
        now = self.house.clock.now_ms()
        track = self.tracks.get(sale_id)
        if track is not None:
            last = self._scored.get(sale_id)
            if (
                last is not None
                and 0 <= now - last.ts < REFRESH_MS
                and (len(last.bidders) >= limit or len(last.bidders) == last.bidders_total)
            ):
                return _first(last, limit)
            report = self._scored[sale_id] = report_of(
                track, now, self.policy, live=True, limit=max(limit, LISTED_BIDDERS)
            )
            return _first(report, limit)
        track = self._ended.get(sale_id)
        if track is None:
            try:
                track = await self._counted(sale_id)
            except BidwireError:
                raise
            except Exception as exc:
                log.exception("reading sale %s's log", sale_id)
                raise StoreUnavailable(
                    "the sale's log cannot be read right now; try again"
                ) from exc
            sale = self.house.sales.get(sale_id) or self.house.retired_sales.get(sale_id)
            if sale is not None and sale.ended_at is not None:
                self._keep(track)
        return report_of(track, now, self.policy, live=False, limit=limit)


def _first(report: IntegrityReport, limit: int) -> IntegrityReport:
    """A report with its first ``limit`` bidders (a reused one may list more)."""
    if len(report.bidders) <= limit:
        return report
    return msgspec.structs.replace(report, bidders=report.bidders[:limit])


def _decode(bodies: Iterable[bytes]) -> Iterable[LotEvent]:
    for body in bodies:
        event = EVENT_DECODER.decode(body)
        if not isinstance(event, SALE_EVENT_TYPES):
            yield event
