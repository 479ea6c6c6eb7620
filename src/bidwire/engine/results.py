"""A sale's results, for everyone, and its settlement, for admins (issue 13, point 2).

Principles:
- Results are the read layer's published states (``engine/queries.py``), so the public sees
  what was published, and in an anonymous sale pseudonyms; the counts of bids and bidders come
  from the store's aggregates (``EventLog.bid_tallies``), never from replaying events here.
- A sale still running reports what has closed so far; its other lots are listed with their
  state (scheduled, open, paused) and no outcome yet.
- Money is integer minor units. The buyer's premium is ``hammer * rate`` rounded half up to a
  whole minor unit (computed in decimal, so 0.125 of 100 is 13, not a float's 12); the total
  due is hammer + premium.
"""

from __future__ import annotations

import csv
import io
import logging
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal

import msgspec

from bidwire.domain.sale import SaleStatus
from bidwire.engine.queries import Queries
from bidwire.engine.views import LotState
from bidwire.errors import StoreUnavailable, UnknownSale
from bidwire.store.base import BidTally
from bidwire.wire.csv_cells import safe_cell

log = logging.getLogger("bidwire.results")

Outcome = Literal["sold", "unsold", "withdrawn", "bought_now"]


class LotResult(msgspec.Struct):
    lot: str
    title: str
    state: Literal["scheduled", "open", "paused", "closed"]
    outcome: Annotated[
        Outcome | None,
        msgspec.Meta(
            description="sold (hammer), bought_now, unsold (reserve not met, no bids) or "
            "withdrawn; null while the lot has not closed."
        ),
    ]
    reason: Annotated[
        Literal["hammer", "buy_now", "reserve_not_met", "no_bids", "withdrawn"] | None,
        msgspec.Meta(description="Why the lot closed, as its lot_closed said."),
    ]
    hammer: Annotated[
        int | None,
        msgspec.Meta(description="The price it sold at (minor units; a buy-now's price)."),
    ]
    winner: Annotated[
        str | None,
        msgspec.Meta(description="Who bought it: a pseudonym in an anonymous sale."),
    ]
    currency: str
    bids: Annotated[int, msgspec.Meta(description="Bids placed (automatic ones too, not voided).")]
    bidders: Annotated[int, msgspec.Meta(description="Distinct people who placed those bids.")]


class SaleResults(msgspec.Struct):
    """A sale's lots in catalogue order, each with its outcome so far."""

    sale: str
    title: str
    state: Literal["held", "scheduled", "running", "paused", "ended"]
    lots: list[LotResult]
    ts: int


class SettlementRow(msgspec.Struct):
    lot: str
    title: str
    winner: Annotated[str, msgspec.Meta(description="The buyer's real name.")]
    hammer: int
    buyers_premium: Annotated[float, msgspec.Meta(description="The sale's rate (0.2 is 20%).")]
    premium: Annotated[
        int, msgspec.Meta(description="hammer * buyers_premium, rounded half up (minor units).")
    ]
    total: Annotated[int, msgspec.Meta(description="What the buyer owes: hammer + premium.")]
    currency: str


class Settlement(msgspec.Struct):
    """One row per sold lot (bought-now ones too), in catalogue order."""

    sale: str
    title: str
    buyers_premium: float
    rows: list[SettlementRow]
    ts: int


SETTLEMENT_COLUMNS = tuple(SettlementRow.__struct_fields__)


def premium_of(hammer: int, rate: float) -> int:
    """The buyer's premium on ``hammer``: rounded half up to a whole minor unit."""
    exact = Decimal(hammer) * Decimal(str(rate))
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _outcome(state: LotState) -> Outcome | None:
    if state.state != "closed":
        return None
    if state.reason == "withdrawn":
        return "withdrawn"
    if state.reason == "buy_now":
        return "bought_now"
    return "sold" if state.outcome == "sold" else "unsold"


def _sold(state: LotState) -> bool:
    return state.state == "closed" and state.outcome == "sold" and state.high_bid is not None


async def _lots(queries: Queries, sale_id: str, admin: bool) -> tuple[SaleStatus, list[LotState]]:
    sale = queries.house.sales.get(sale_id)
    if sale is None:
        raise UnknownSale(f"there is no sale {sale_id[:64]!r}")
    ids = list(sale.spec.lot_ids)
    states = await queries.lot_states(ids, admin=admin)
    return sale.status, [states[i] for i in ids if i in states]


async def sale_results(queries: Queries, sale_id: str) -> SaleResults:
    """The public's results of a sale (pseudonyms in an anonymous one)."""
    status, states = await _lots(queries, sale_id, admin=False)
    try:
        tallies = await queries.house.store.bid_tallies([s.lot for s in states])
    except Exception as exc:
        log.exception("counting the bids of sale %s", sale_id)
        raise StoreUnavailable("the results cannot be read right now; try again") from exc
    none = BidTally(0, 0)
    lots = []
    for state in states:
        tally = tallies.get(state.lot, none)
        sold = _sold(state)
        high = state.high_bid
        lots.append(
            LotResult(
                state.lot,
                state.title,
                state.state,
                _outcome(state),
                state.reason,
                high.amount if sold and high is not None else None,
                high.bidder if sold and high is not None else None,
                state.currency,
                tally.bids,
                tally.bidders,
            )
        )
    spec = queries.house.sales[sale_id].spec
    return SaleResults(sale_id, spec.title, status, lots, queries.house.clock.now_ms())


async def settlement(queries: Queries, sale_id: str) -> Settlement:
    """What each buyer owes for the lots sold so far (admins: real names)."""
    _, states = await _lots(queries, sale_id, admin=True)
    spec = queries.house.sales[sale_id].spec
    rate = spec.buyers_premium
    rows = []
    for state in states:
        high = state.high_bid
        if not _sold(state) or high is None:
            continue
        premium = premium_of(high.amount, rate)
        rows.append(
            SettlementRow(
                state.lot,
                state.title,
                high.bidder,
                high.amount,
                rate,
                premium,
                high.amount + premium,
                state.currency,
            )
        )
    return Settlement(sale_id, spec.title, rate, rows, queries.house.clock.now_ms())


def settlement_csv(settled: Settlement) -> str:
    """The rows as CSV with a header of the JSON rows' keys (what Python's csv module, and a
    spreadsheet, read back); a text cell a spreadsheet would run as a formula is guarded."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(SETTLEMENT_COLUMNS)
    for row in settled.rows:
        writer.writerow([safe_cell(getattr(row, name)) for name in SETTLEMENT_COLUMNS])
    return out.getvalue()
