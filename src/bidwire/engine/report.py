"""A sale's report for admins (issue 13, analytics): counts, sell-through, hammer, bids,
sniping, time to sell and bidders' margins, made from the store's aggregates over the event
log (``Store.report_facts``), never by rebuilding the lots; and the same headline figures
across the sales started in a time range (``sales_report``). A sale still running reports so
far: its open lots count as offered but neither sold nor unsold. docs/protocol.md, "Sale
report", describes every field."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, Protocol

import msgspec

from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import Sale, SaleSpec
from bidwire.engine.live_report import LiveFacts
from bidwire.store.base import BidderTally, LotTally, Store

EstimateBand = Literal["below", "within", "above"]
ReserveBand = Literal["below", "met"]

MAX_SALES_PAGE = 1_000
"""Sales in one across-sales report at most (``next_from`` says where the next page starts)."""


class Terms(Protocol):
    """What the figures need of a lot's catalog entry (a LotSpec or the store's LotTerms)."""

    @property
    def id(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def starting_price(self) -> int: ...
    @property
    def reserve(self) -> int | None: ...
    @property
    def estimate_low(self) -> int | None: ...
    @property
    def estimate_high(self) -> int | None: ...


class LotReport(msgspec.Struct, kw_only=True):
    lot: str
    title: str
    currency: str
    outcome: Literal["sold", "unsold", "open"]
    reason: str | None
    """The close's reason (``hammer``, ``buy_now``, ``reserve_not_met``, ``no_bids``,
    ``withdrawn``); null while open."""
    winner: str | None
    hammer: int | None
    """The price it sold at (a buy-now's price), minor units of ``currency``; null unless sold."""
    bids: int
    bidders: int
    estimate: EstimateBand | None
    """The hammer against the catalog's estimate; null unless sold with an estimate."""
    extensions: int
    starting_price: int
    estimate_low: int | None
    estimate_high: int | None
    start_ratio: float | None
    """hammer / starting_price; null unless sold."""
    reserve_band: ReserveBand | None
    """Against the lot's reserve: ``met`` sold, ``below`` closed reserve_not_met; null without
    a reserve, unsold otherwise, or open."""
    time_to_sell_ms: int | None
    """From the lot's first opening to its close; null unless sold."""
    late_share: float
    """Of its bids, the share in the final 10% of its window (0 while open)."""
    extend_share: float
    """Of its bids, the share placed in the last ``extend_ms`` before the deadline they found."""


class BidderReport(msgspec.Struct, kw_only=True):
    bidder: str
    lots: int
    bids: int
    wins: int
    win_ratio: float
    margin_lots: int
    """Lots won over a second bidder (what the margins are counted over)."""
    margin_over_second: int | None
    """The sum over those of hammer minus the second bidder's best bid (minor units); null
    in a sale of several currencies."""
    mean_margin_over_second: int | None
    """margin_over_second / margin_lots rounded down; null without any or several currencies."""


class CurrencyTotal(msgspec.Struct, kw_only=True):
    """The totals of one currency's lots: ``offered_value`` is the hammer of the sold ones
    plus ``offered_value(spec)`` of those closed unsold (withdrawn and open lots left out);
    ``sell_through_value`` is hammer_total / offered_value (0..1; 0 when nothing was)."""

    currency: str
    hammer_total: int
    offered_value: int
    sell_through_value: float


class MinuteBids(msgspec.Struct, kw_only=True):
    minute: int
    """The minute's start, ms since the epoch (a multiple of 60,000)."""
    bids: int


class Figures(msgspec.Struct, kw_only=True):
    """The headline figures of a set of lots: one sale's, or the sales of a range's."""

    lots: int
    sold: int
    unsold: int
    withdrawn: int
    bought_now: int
    bought_in: int
    open: int
    sell_through_lots: float
    currency: str | None
    hammer_total: int | None
    sell_through_value: float | None
    mean_hammer: int | None
    median_hammer: int | None
    by_currency: list[CurrencyTotal]
    bids: int
    auto_bids: int
    auto_share: float
    unique_bidders: int
    sniping_share: float
    sniping_extend_share: float
    extensions: int
    mean_time_to_sell_ms: int | None


class SaleReport(Figures, kw_only=True):
    """A sale's figures for admins (GET /api/admin/sales/{id}/report, ``bidwire report``)."""

    sale: str
    title: str
    top_bidder_share: float
    bids_per_minute: list[MinuteBids]
    per_lot: list[LotReport]
    per_bidder: list[BidderReport]
    ts: int


class SaleSummary(Figures, kw_only=True):
    """One sale's row of the across-sales report."""

    sale: str
    title: str
    started_at: int


class SalesReport(msgspec.Struct, kw_only=True):
    """The sales started in [from_ms, to_ms) (GET /api/admin/report, ``bidwire report --all``)."""

    from_ms: int
    to_ms: int
    sales: list[SaleSummary]
    totals: Figures
    """Over the listed sales' lots (``unique_bidders``: distinct people over all of them)."""
    next_from: int | None
    """Where the next page starts (the start of the first sale left out), or null."""
    ts: int


def offered_value(spec: Terms) -> int:
    """What an unsold lot was expected to make, for ``sell_through_value``: the largest of
    its reserve, starting price and low estimate (those it has). A sold lot's is its hammer."""
    return max(spec.starting_price, spec.reserve or 0, spec.estimate_low or 0)


def estimate_band(spec: Terms, hammer: int | None) -> EstimateBand | None:
    if hammer is None or (spec.estimate_low is None and spec.estimate_high is None):
        return None
    if spec.estimate_low is not None and hammer < spec.estimate_low:
        return "below"
    if spec.estimate_high is not None and hammer > spec.estimate_high:
        return "above"
    return "within"


def reserve_band(spec: Terms, close: LotTally | None) -> ReserveBand | None:
    if spec.reserve is None or close is None:
        return None
    if close.outcome == "sold":
        return "met"
    return "below" if close.reason == "reserve_not_met" else None


def _outcome(close: LotTally | None) -> Literal["sold", "unsold", "open"]:
    outcome = None if close is None else close.outcome
    return "sold" if outcome == "sold" else "unsold" if outcome == "unsold" else "open"


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _median(values: Sequence[int]) -> int | None:
    """The middle value; of an even count, the mean of the two middle ones rounded down."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) // 2


def figures(terms: Sequence[Terms], closes: Mapping[str, LotTally], unique_bidders: int) -> Figures:
    """The headline figures of ``terms``' lots from their tallies by lot id (pure: no I/O,
    no clock); a lot without a tally has no events yet."""
    totals: dict[str, list[int]] = {}
    hammers: dict[str, list[int]] = {}
    counts = {"sold": 0, "unsold": 0, "open": 0}
    reasons: dict[str | None, int] = {}
    late = closed_bids = bids = auto = extend = extensions = 0
    sell_times: list[int] = []
    for spec in terms:
        close = closes.get(spec.id)
        outcome = _outcome(close)
        counts[outcome] += 1
        total = totals.setdefault(spec.currency, [0, 0])
        if close is None:
            continue
        reasons[close.reason] = reasons.get(close.reason, 0) + 1
        bids, auto, extend = bids + close.bids, auto + close.auto, extend + close.extend
        extensions += close.extensions
        if outcome != "open":
            late, closed_bids = late + close.late, closed_bids + close.bids
        if outcome == "sold" and close.amount is not None:
            total[0] += close.amount
            total[1] += close.amount
            hammers.setdefault(spec.currency, []).append(close.amount)
            if close.opened_at is not None and close.closed_at is not None:
                sell_times.append(close.closed_at - close.opened_at)
        elif outcome == "unsold" and close.reason != "withdrawn":
            total[1] += offered_value(spec)
    by_currency = [
        CurrencyTotal(
            currency=currency,
            hammer_total=hammer_total,
            offered_value=value,
            sell_through_value=_share(hammer_total, value),
        )
        for currency, (hammer_total, value) in sorted(totals.items())
    ]
    single = by_currency[0] if len(by_currency) == 1 else None
    sold_hammers = hammers.get(single.currency, []) if single else []
    withdrawn = reasons.get("withdrawn", 0)
    return Figures(
        lots=len(terms),
        sold=counts["sold"],
        unsold=counts["unsold"] - withdrawn,
        withdrawn=withdrawn,
        bought_now=reasons.get("buy_now", 0),
        bought_in=reasons.get("reserve_not_met", 0),
        open=counts["open"],
        sell_through_lots=_share(counts["sold"], len(terms) - withdrawn),
        currency=single.currency if single else None,
        hammer_total=single.hammer_total if single else None,
        sell_through_value=single.sell_through_value if single else None,
        mean_hammer=sum(sold_hammers) // len(sold_hammers) if sold_hammers else None,
        median_hammer=_median(sold_hammers),
        by_currency=by_currency,
        bids=bids,
        auto_bids=auto,
        auto_share=_share(auto, bids),
        unique_bidders=unique_bidders,
        sniping_share=_share(late, closed_bids),
        sniping_extend_share=_share(extend, bids),
        extensions=extensions,
        mean_time_to_sell_ms=sum(sell_times) // len(sell_times) if sell_times else None,
    )


def build_report(
    sale: SaleSpec,
    specs: Sequence[LotSpec],
    lots: Sequence[LotTally],
    bidders: Sequence[BidderTally],
    now_ms: int,
    minutes: Sequence[tuple[int, int]] = (),
) -> SaleReport:
    """The report from the catalog and the store's tallies (pure: no I/O, no clock)."""
    closes = {tally.lot_id: tally for tally in lots}
    head = figures(specs, closes, len({t.bidder for t in bidders}))
    per_lot = [_lot_report(spec, closes.get(spec.id)) for spec in specs]
    by_bidder: dict[str, int] = {}
    for tally in bidders:
        by_bidder[tally.bidder] = by_bidder.get(tally.bidder, 0) + tally.bids
    return SaleReport(
        **{field: getattr(head, field) for field in Figures.__struct_fields__},
        sale=sale.id,
        title=sale.title,
        top_bidder_share=_share(max(by_bidder.values(), default=0), head.bids),
        bids_per_minute=[MinuteBids(minute=m, bids=n) for m, n in minutes],
        per_lot=per_lot,
        per_bidder=_per_bidder(bidders, per_lot, single=head.currency is not None),
        ts=now_ms,
    )


def _lot_report(spec: LotSpec, close: LotTally | None) -> LotReport:
    outcome = _outcome(close)
    sold = close is not None and outcome == "sold"
    hammer = close.amount if close is not None and sold else None
    opened_at = close.opened_at if close is not None else None
    closed_at = close.closed_at if close is not None else None
    bids = close.bids if close is not None else 0
    return LotReport(
        lot=spec.id,
        title=spec.title,
        currency=spec.currency,
        outcome=outcome,
        reason=close.reason if close is not None else None,
        winner=close.winner if close is not None and sold else None,
        hammer=hammer,
        bids=bids,
        bidders=close.bidders if close is not None else 0,
        estimate=estimate_band(spec, hammer),
        extensions=close.extensions if close is not None else 0,
        starting_price=spec.starting_price,
        estimate_low=spec.estimate_low,
        estimate_high=spec.estimate_high,
        start_ratio=None if hammer is None else hammer / spec.starting_price,
        reserve_band=reserve_band(spec, close),
        time_to_sell_ms=(
            closed_at - opened_at
            if sold and opened_at is not None and closed_at is not None
            else None
        ),
        late_share=_share(close.late, bids) if close is not None else 0.0,
        extend_share=_share(close.extend, bids) if close is not None else 0.0,
    )


def _per_bidder(
    bidders: Sequence[BidderTally], per_lot: Sequence[LotReport], *, single: bool
) -> list[BidderReport]:
    won = {row.lot: row for row in per_lot if row.winner is not None}
    wins: dict[str, int] = {}
    for row in won.values():
        assert row.winner is not None
        wins[row.winner] = wins.get(row.winner, 0) + 1
    second: dict[str, int] = {}
    """Per lot won, the best bid of anyone but its winner."""
    for tally in bidders:
        lot = won.get(tally.lot_id)
        if lot is not None and tally.bidder != lot.winner:
            second[tally.lot_id] = max(second.get(tally.lot_id, 0), tally.best)
    margins: dict[str, list[int]] = {}
    for lot_id, best in second.items():
        lot = won[lot_id]
        assert lot.winner is not None and lot.hammer is not None
        margin = margins.setdefault(lot.winner, [0, 0])
        margin[0] += 1
        margin[1] += lot.hammer - best
    tallies: dict[str, list[int]] = {}
    for tally in bidders:
        counts = tallies.setdefault(tally.bidder, [0, 0])
        counts[0] += 1
        counts[1] += tally.bids
    reports = []
    for bidder, (lots, bids) in sorted(tallies.items()):
        margin_lots, margin_sum = margins.get(bidder, (0, 0))
        reports.append(
            BidderReport(
                bidder=bidder,
                lots=lots,
                bids=bids,
                wins=wins.get(bidder, 0),
                win_ratio=_share(wins.get(bidder, 0), lots),
                margin_lots=margin_lots,
                margin_over_second=margin_sum if single else None,
                mean_margin_over_second=(
                    margin_sum // margin_lots if single and margin_lots else None
                ),
            )
        )
    return reports


async def sale_report(
    store: Store, sale: SaleSpec, now_ms: int, live: LiveFacts | None = None
) -> SaleReport:
    """The report of ``sale`` as the store has it now; the open lots that ``live`` follows
    from its facts instead of the store's counting (engine/live_report.py)."""
    entries = await store.catalog_lots(sale.lot_ids)
    if live is None:
        facts = await store.report_facts(sale.lot_ids)
    else:
        facts, rest = live.split(sale.lot_ids)
        if rest:
            stored = await store.report_facts(rest)
            facts.lots.extend(stored.lots)
            facts.bidders.extend(stored.bidders)
            minutes = dict(facts.minutes)
            for minute, bids in stored.minutes:
                minutes[minute] = minutes.get(minute, 0) + bids
            facts.minutes = sorted(minutes.items())
    specs = [entry.spec for entry in entries]
    return build_report(sale, specs, facts.lots, facts.bidders, now_ms, facts.minutes)


def started_between(sales: Iterable[Sale], from_ms: int, to_ms: int) -> list[Sale]:
    """The sales whose start falls in [from_ms, to_ms), by start then id."""
    chosen = [s for s in sales if s.started_at is not None and from_ms <= s.started_at < to_ms]
    return sorted(chosen, key=lambda s: (s.started_at or 0, s.id))


async def sales_report(
    store: Store,
    sales: Iterable[Sale],
    from_ms: int,
    to_ms: int,
    now_ms: int,
    limit: int = MAX_SALES_PAGE,
) -> SalesReport:
    """A summary row per sale started in [from_ms, to_ms) (at most ``limit``) and their
    totals, from the lots' kept facts (one row per closed lot) and the store's distinct
    bidder counts: no per-bid work but the open lots'."""
    chosen = started_between(sales, from_ms, to_ms)
    page, rest = chosen[:limit], chosen[limit:]
    lot_ids = [lot_id for sale in page for lot_id in sale.spec.lot_ids]
    terms = {t.id: t for t in await store.lot_terms(lot_ids)}
    facts = await store.report_facts(lot_ids, bidders=False)
    closes = {tally.lot_id: tally for tally in facts.lots}
    per_sale, overall = await store.bidder_counts([sale.id for sale in page])
    rows = []
    for sale, unique in zip(page, per_sale, strict=True):
        sale_terms = [terms[lot_id] for lot_id in sale.spec.lot_ids if lot_id in terms]
        head = figures(sale_terms, closes, unique)
        assert sale.started_at is not None
        rows.append(
            SaleSummary(
                **{field: getattr(head, field) for field in Figures.__struct_fields__},
                sale=sale.id,
                title=sale.spec.title,
                started_at=sale.started_at,
            )
        )
    every = [terms[lot_id] for lot_id in lot_ids if lot_id in terms]
    return SalesReport(
        from_ms=from_ms,
        to_ms=to_ms,
        sales=rows,
        totals=figures(every, closes, overall),
        next_from=rest[0].started_at if rest else None,
        ts=now_ms,
    )


CSV_FIELDS = tuple(LotReport.__struct_fields__)
"""The columns of ``bidwire report --csv``: one row per lot, as in ``per_lot``."""

SUMMARY_CSV_FIELDS = tuple(
    field for field in SaleSummary.__struct_fields__ if field != "by_currency"
)
"""The columns of ``bidwire report --all --csv``: one row per sale (``by_currency`` is in
the JSON only)."""
