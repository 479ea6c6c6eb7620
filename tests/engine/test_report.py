"""A sale's report (engine/report.py) from a scripted log on every store: the figures are
counted by hand in the comments, never by the code under test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from bidwire.domain.events import BidPlaced, BidVoided, LotClosed, LotEvent, LotOpened
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.engine.report import sale_report
from bidwire.store import Store, open_store

pytestmark = pytest.mark.timeout(30)

LOTS = [
    LotSpec("clock", "Clock", starting_price=1_000, estimate_low=2_000, estimate_high=3_000),
    LotSpec("vase", "Vase", starting_price=500, reserve=4_000, estimate_low=3_000),
    LotSpec("lamp", "Lamp", starting_price=700),
    LotSpec("rug", "Rug", starting_price=2_000, buy_now=8_000),
    LotSpec("chair", "Chair", starting_price=300, estimate_low=400),
    LotSpec("desk", "Desk", starting_price=1_000),
]
SALE = SaleSpec("s", "Spring sale", tuple(lot.id for lot in LOTS), mode="timed")


def opened(lot: str, ends_at: int = 100_000) -> LotOpened:
    return LotOpened(lot, 1, "s", lot, "", "USD", 0, 0, ends_at, 0)


def bid(lot: str, seq: int, amount: int, who: str, ts: int, ends: int, **kw: object) -> BidPlaced:
    return BidPlaced(lot, seq, amount, who, ends, amount + 100, ts, **kw)  # type: ignore[arg-type]


SCRIPT: list[LotEvent] = [
    # clock: ann's maximum of 3,000 answers bob twice; carl's typo is voided; bob's last bid
    # comes at 115 s and moves the end to 117 s; sold to ann at 2,600, within the estimate.
    opened("clock"),
    bid("clock", 2, 1_000, "ann", 10_000, 100_000, max_amount=3_000),
    bid("clock", 3, 1_500, "bob", 20_000, 100_000),
    bid("clock", 4, 1_600, "ann", 20_000, 100_000, auto=True, max_amount=3_000),
    bid("clock", 5, 9_000, "carl", 92_000, 110_000),  # extension 1 (110 s > 100 s)
    BidVoided("clock", 6, [5], 1_600, "ann", 1_700, 3, 110_000, "root", 93_000),
    bid("clock", 7, 2_500, "bob", 115_000, 117_000),  # extension 2; late (>= 105.3 s)
    bid("clock", 8, 2_600, "ann", 115_000, 117_000, auto=True, max_amount=3_000),  # late
    LotClosed("clock", 9, "sold", "ann", 2_600, 117_000),
    # vase: dan's 3,500 does not meet the 4,000 reserve
    opened("vase"),
    bid("vase", 2, 3_500, "dan", 50_000, 100_000, reserve_met=False),
    LotClosed("vase", 3, "unsold", None, None, 100_000, "reserve_not_met"),
    # lamp: withdrawn after bob's bid
    opened("lamp"),
    bid("lamp", 2, 700, "bob", 30_000, 100_000),
    LotClosed("lamp", 3, "unsold", None, None, 40_000, "withdrawn", "root"),
    # rug: dan buys it now at 8,000
    opened("rug"),
    LotClosed("rug", 2, "sold", "dan", 8_000, 5_000, "buy_now"),
    # chair: no bids
    opened("chair"),
    LotClosed("chair", 2, "unsold", None, None, 100_000, "no_bids"),
    # desk: not open yet
]


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/r.db"
    async with open_store(url) as opened_store:
        await opened_store.add_sale(SALE, LOTS)
        for event in SCRIPT:
            await opened_store.append([event])
        yield opened_store


async def test_a_scripted_sale_reports_the_figures_counted_by_hand(store: Store) -> None:
    report = msgspec.to_builtins(await sale_report(store, SALE, 200_000))
    per_lot = {row.pop("lot"): row for row in report.pop("per_lot")}
    per_bidder = report.pop("per_bidder")
    assert report == {
        "sale": "s",
        "title": "Spring sale",
        "lots": 6,
        "sold": 2,  # clock, rug (a buy-now is sold)
        "unsold": 2,  # vase, chair (the withdrawn lamp is not)
        "withdrawn": 1,
        "bought_now": 1,
        "bought_in": 1,
        "open": 1,
        "sell_through_lots": 2 / 5,  # withdrawn lots are not offered
        "currency": "USD",
        "hammer_total": 2_600 + 8_000,
        # sold hammers over sold hammers + vase's reserve + chair's low estimate
        "sell_through_value": 10_600 / (10_600 + 4_000 + 400),
        "by_currency": [
            {
                "currency": "USD",
                "hammer_total": 10_600,
                "offered_value": 15_000,
                "sell_through_value": 10_600 / 15_000,
            }
        ],
        "bids": 7,  # clock 5 (carl's voided one left out), vase 1, lamp 1
        "auto_bids": 2,
        "unique_bidders": 3,  # ann, bob, dan: carl's only bid was voided
        "sniping_share": 2 / 7,
        "ts": 200_000,
        "mean_hammer": (2_600 + 8_000) // 2,
        "median_hammer": (2_600 + 8_000) // 2,  # two sold: the mean of the middle two
        "auto_share": 2 / 7,
        # bob's 2,500 found the voided bid's deadline (110 s) passed, ann's answer found 2 s
        # left of bob's 117 s: both under the 10 s extend window; nothing else came that late
        "sniping_extend_share": 2 / 7,
        "top_bidder_share": 3 / 7,  # ann 3 (and bob 3) of 7
        "extensions": 2,
        "mean_time_to_sell_ms": (117_000 + 5_000) // 2,  # clock 0 -> 117 s, rug 0 -> 5 s
        # bids at 10, 20, 20, 30 (lamp), 50 (vase) s; then 115, 115 s (carl's voided one out)
        "bids_per_minute": [{"minute": 0, "bids": 5}, {"minute": 60_000, "bids": 2}],
    }
    assert per_lot == {
        "clock": {
            "title": "Clock",
            "currency": "USD",
            "outcome": "sold",
            "reason": "hammer",
            "winner": "ann",
            "hammer": 2_600,
            "bids": 5,
            "bidders": 2,
            "estimate": "within",
            "extensions": 2,
            "starting_price": 1_000,
            "estimate_low": 2_000,
            "estimate_high": 3_000,
            "start_ratio": 2.6,
            "reserve_band": None,  # no reserve
            "time_to_sell_ms": 117_000,
            "late_share": 2 / 5,
            "extend_share": 2 / 5,
        },
        "vase": {
            "title": "Vase",
            "currency": "USD",
            "outcome": "unsold",
            "reason": "reserve_not_met",
            "winner": None,
            "hammer": None,
            "bids": 1,
            "bidders": 1,
            "estimate": None,
            "extensions": 0,
            "starting_price": 500,
            "estimate_low": 3_000,
            "estimate_high": None,
            "start_ratio": None,
            "reserve_band": "below",  # 3,500 under the 4,000 reserve
            "time_to_sell_ms": None,
            "late_share": 0.0,  # 50 s of a 0-100 s window
            "extend_share": 0.0,
        },
        "lamp": {
            "title": "Lamp",
            "currency": "USD",
            "outcome": "unsold",
            "reason": "withdrawn",
            "winner": None,
            "hammer": None,
            "bids": 1,
            "bidders": 1,
            "estimate": None,
            "extensions": 0,
            "starting_price": 700,
            "estimate_low": None,
            "estimate_high": None,
            "start_ratio": None,
            "reserve_band": None,
            "time_to_sell_ms": None,
            "late_share": 0.0,
            "extend_share": 0.0,
        },
        "rug": {
            "title": "Rug",
            "currency": "USD",
            "outcome": "sold",
            "reason": "buy_now",
            "winner": "dan",
            "hammer": 8_000,
            "bids": 0,
            "bidders": 0,
            "estimate": None,
            "extensions": 0,
            "starting_price": 2_000,
            "estimate_low": None,
            "estimate_high": None,
            "start_ratio": 4.0,  # bought now at 8,000 from 2,000
            "reserve_band": None,
            "time_to_sell_ms": 5_000,
            "late_share": 0.0,
            "extend_share": 0.0,
        },
        "chair": {
            "title": "Chair",
            "currency": "USD",
            "outcome": "unsold",
            "reason": "no_bids",
            "winner": None,
            "hammer": None,
            "bids": 0,
            "bidders": 0,
            "estimate": None,
            "extensions": 0,
            "starting_price": 300,
            "estimate_low": 400,
            "estimate_high": None,
            "start_ratio": None,
            "reserve_band": None,
            "time_to_sell_ms": None,
            "late_share": 0.0,
            "extend_share": 0.0,
        },
        "desk": {
            "title": "Desk",
            "currency": "USD",
            "outcome": "open",
            "reason": None,
            "winner": None,
            "hammer": None,
            "bids": 0,
            "bidders": 0,
            "estimate": None,
            "extensions": 0,
            "starting_price": 1_000,
            "estimate_low": None,
            "estimate_high": None,
            "start_ratio": None,
            "reserve_band": None,
            "time_to_sell_ms": None,
            "late_share": 0.0,
            "extend_share": 0.0,
        },
    }
    no_margin = {"margin_lots": 0, "margin_over_second": 0, "mean_margin_over_second": None}
    assert per_bidder == [
        # ann won the clock at 2,600 over bob's best 2,500: 100 over the second
        {"bidder": "ann", "lots": 1, "bids": 3, "wins": 1, "win_ratio": 1.0}
        | {"margin_lots": 1, "margin_over_second": 100, "mean_margin_over_second": 100},
        {"bidder": "bob", "lots": 2, "bids": 3, "wins": 0, "win_ratio": 0.0} | no_margin,
        # dan's rug was bought now with nobody else bidding: no second bid to be over
        {"bidder": "dan", "lots": 1, "bids": 1, "wins": 1, "win_ratio": 1.0} | no_margin,
    ]


async def test_a_running_lot_reports_so_far_and_a_mixed_sale_totals_by_currency(
    store: Store,
) -> None:
    more = [LotSpec("print", "Print", currency="EUR", starting_price=100, estimate_high=500)]
    grown = SaleSpec("s", "Spring sale", (*SALE.lot_ids, "print"), mode="timed")
    await store.add_lots(grown, more)
    await store.append([LotOpened("print", 1, "s", "Print", "", "EUR", 100, 100, 50_000, 0)])
    await store.append([bid("print", 2, 600, "eve", 49_000, 50_000)])
    running = await sale_report(store, grown, 49_500)
    assert (running.open, running.bids, running.unique_bidders) == (2, 8, 4)
    # the open print's bid is near its end but the lot has no close yet: not counted as late
    assert running.sniping_share == 2 / 7
    await store.append([LotClosed("print", 3, "sold", "eve", 600, 50_000)])
    closed = await sale_report(store, grown, 50_000)
    assert (closed.currency, closed.hammer_total, closed.sell_through_value) == (None, None, None)
    assert [(t.currency, t.hammer_total, t.offered_value) for t in closed.by_currency] == [
        ("EUR", 600, 600),
        ("USD", 10_600, 15_000),
    ]
    assert closed.per_lot[-1].estimate == "above" and closed.sniping_share == 3 / 8
