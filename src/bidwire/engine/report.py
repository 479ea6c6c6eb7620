"""A sale's report for admins (issue 13, analytics): counts, sell-through, hammer and bids,
made from the store's aggregates over the event log (``Store.report_facts``), never by
rebuilding the lots. A sale still running reports so far: its open lots count as offered but
neither sold nor unsold. docs/protocol.md, "Sale report", describes every field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec

from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.store.base import BidderTally, LotTally, Store

EstimateBand = Literal["below", "within", "above"]


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


class BidderReport(msgspec.Struct, kw_only=True):
    bidder: str
    lots: int
    bids: int
    wins: int
    win_ratio: float


class CurrencyTotal(msgspec.Struct, kw_only=True):
    """The totals of one currency's lots: ``offered_value`` is the hammer of the sold ones
    plus ``offered_value(spec)`` of those closed unsold (withdrawn and open lots left out);
    ``sell_through_value`` is hammer_total / offered_value (0..1; 0 when nothing was)."""

    currency: str
    hammer_total: int
    offered_value: int
    sell_through_value: float


class SaleReport(msgspec.Struct, kw_only=True):
    """A sale's figures for admins (GET /api/admin/sales/{id}/report, ``bidwire report``)."""

    sale: str
    title: str
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
    by_currency: list[CurrencyTotal]
    bids: int
    auto_bids: int
    unique_bidders: int
    sniping_share: float
    per_lot: list[LotReport]
    per_bidder: list[BidderReport]
    ts: int


def offered_value(spec: LotSpec) -> int:
    """What an unsold lot was expected to make, for ``sell_through_value``: the largest of
    its reserve, starting price and low estimate (those it has). A sold lot's is its hammer."""
    return max(spec.starting_price, spec.reserve or 0, spec.estimate_low or 0)


def estimate_band(spec: LotSpec, hammer: int | None) -> EstimateBand | None:
    if hammer is None or (spec.estimate_low is None and spec.estimate_high is None):
        return None
    if spec.estimate_low is not None and hammer < spec.estimate_low:
        return "below"
    if spec.estimate_high is not None and hammer > spec.estimate_high:
        return "above"
    return "within"


def _outcome(outcome: str) -> Literal["sold", "unsold", "open"]:
    return "sold" if outcome == "sold" else "unsold" if outcome == "unsold" else "open"


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def build_report(
    sale: SaleSpec,
    specs: Sequence[LotSpec],
    lots: Sequence[LotTally],
    bidders: Sequence[BidderTally],
    now_ms: int,
) -> SaleReport:
    """The report from the catalog and the store's tallies (pure: no I/O, no clock)."""
    closes = {tally.lot_id: tally for tally in lots}
    by_lot: dict[str, list[BidderTally]] = {}
    for tally in bidders:
        by_lot.setdefault(tally.lot_id, []).append(tally)
    per_lot: list[LotReport] = []
    totals: dict[str, list[int]] = {}
    late = closed_bids = 0
    for spec in specs:
        close = closes.get(spec.id)
        tallies = by_lot.get(spec.id, [])
        bids = sum(t.bids for t in tallies)
        outcome = "open" if close is None or close.outcome is None else close.outcome
        hammer = close.amount if close is not None and outcome == "sold" else None
        if outcome != "open":
            late += sum(t.late for t in tallies)
            closed_bids += bids
        total = totals.setdefault(spec.currency, [0, 0])
        if hammer is not None:
            total[0] += hammer
            total[1] += hammer
        elif outcome == "unsold" and close is not None and close.reason != "withdrawn":
            total[1] += offered_value(spec)
        per_lot.append(
            LotReport(
                lot=spec.id,
                title=spec.title,
                currency=spec.currency,
                outcome=_outcome(outcome),
                reason=close.reason if close is not None else None,
                winner=close.winner if close is not None and outcome == "sold" else None,
                hammer=hammer,
                bids=bids,
                bidders=len(tallies),
                estimate=estimate_band(spec, hammer),
                extensions=close.extensions if close is not None else 0,
            )
        )
    reasons = [row.reason for row in per_lot]
    withdrawn = reasons.count("withdrawn")
    sold = sum(row.outcome == "sold" for row in per_lot)
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
    return SaleReport(
        sale=sale.id,
        title=sale.title,
        lots=len(per_lot),
        sold=sold,
        unsold=sum(row.outcome == "unsold" for row in per_lot) - withdrawn,
        withdrawn=withdrawn,
        bought_now=reasons.count("buy_now"),
        bought_in=reasons.count("reserve_not_met"),
        open=sum(row.outcome == "open" for row in per_lot),
        sell_through_lots=_share(sold, len(per_lot) - withdrawn),
        currency=single.currency if single else None,
        hammer_total=single.hammer_total if single else None,
        sell_through_value=single.sell_through_value if single else None,
        by_currency=by_currency,
        bids=sum(t.bids for t in bidders),
        auto_bids=sum(t.auto for t in bidders),
        unique_bidders=len({t.bidder for t in bidders}),
        sniping_share=_share(late, closed_bids),
        per_lot=per_lot,
        per_bidder=_per_bidder(bidders, per_lot),
        ts=now_ms,
    )


def _per_bidder(bidders: Sequence[BidderTally], per_lot: Sequence[LotReport]) -> list[BidderReport]:
    wins: dict[str, int] = {}
    for row in per_lot:
        if row.winner is not None:
            wins[row.winner] = wins.get(row.winner, 0) + 1
    tallies: dict[str, list[int]] = {}
    for tally in bidders:
        counts = tallies.setdefault(tally.bidder, [0, 0])
        counts[0] += 1
        counts[1] += tally.bids
    return [
        BidderReport(
            bidder=bidder,
            lots=lots,
            bids=bids,
            wins=wins.get(bidder, 0),
            win_ratio=_share(wins.get(bidder, 0), lots),
        )
        for bidder, (lots, bids) in sorted(tallies.items())
    ]


async def sale_report(store: Store, sale: SaleSpec, now_ms: int) -> SaleReport:
    """The report of ``sale`` as the store has it now."""
    entries = await store.catalog_lots(sale.lot_ids)
    facts = await store.report_facts(sale.lot_ids)
    return build_report(sale, [entry.spec for entry in entries], facts.lots, facts.bidders, now_ms)


CSV_FIELDS = tuple(LotReport.__struct_fields__)
"""The columns of ``bidwire report --csv``: one row per lot, as in ``per_lot``."""
