"""bidwire/charts.py without a server: the server's answers -> ChartData -> a figure -> a file."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from bidwire.charts import (
    BUCKETS_MS,
    MAX_BUCKETS,
    ChartError,
    bucket_width,
    bucketed,
    chart_data,
    chart_format,
    draw,
    save,
)

pytestmark = pytest.mark.timeout(60)

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
MIN = 60_000


def report() -> dict[str, Any]:
    lot = {"currency": "USD", "winner": None, "bidders": 0, "extensions": 0}
    return {
        "sale": "s1",
        "title": "Winter sale",
        "lots": 3,
        "sold": 1,
        "withdrawn": 1,
        "sell_through_lots": 0.5,
        "per_lot": [
            {**lot, "lot": "a", "title": "Brass carriage clock", "outcome": "sold",
             "reason": "hammer", "hammer": 2_500, "bids": 2, "estimate": "within"},
            {**lot, "lot": "b", "title": "Oak writing desk", "outcome": "unsold",
             "reason": "reserve_not_met", "hammer": None, "bids": 1, "estimate": None},
            {**lot, "lot": "c", "title": "Silver teapot", "outcome": "unsold",
             "reason": "withdrawn", "hammer": None, "bids": 0, "estimate": None},
        ],
    }  # fmt: skip


HISTORIES = {
    # newest first, as the admins' bid history lists them; b's best bid was voided
    "a": [
        {"seq": 3, "amount": 2_500, "ts": T0 + 3 * MIN, "bidder": "vera"},
        {"seq": 2, "amount": 2_000, "ts": T0 + MIN, "bidder": "omar"},
    ],
    "b": [
        {"seq": 3, "amount": 9_000, "ts": T0 + 4 * MIN, "bidder": "omar", "voided": True},
        {"seq": 2, "amount": 4_000, "ts": T0 + 2 * MIN + 5, "bidder": "vera"},
    ],
}
ESTIMATES: dict[str, dict[str, Any]] = {
    "a": {"estimate_low": 2_000, "estimate_high": 3_000},
    "b": {"estimate_low": 5_000, "estimate_high": None},
    "c": {},
}


def test_chart_data_leaves_out_voided_bids_and_orders_prices_by_time() -> None:
    data = chart_data(report(), HISTORIES, ESTIMATES)
    a, b, c = data.lots
    assert [(p.ts, p.amount) for p in a.prices] == [(T0 + MIN, 2_000), (T0 + 3 * MIN, 2_500)]
    assert [p.amount for p in b.prices] == [4_000]
    assert (b.high, a.high, c.high) == (4_000, 2_500, None)  # b's 9,000 was voided
    assert (a.estimate_low, a.estimate_high, b.estimate_low, c.estimate_low) == (
        2_000,
        3_000,
        5_000,
        None,
    )
    assert (data.sold, data.offered, data.sell_through_lots) == (1, 2, 0.5)
    # three bids that count, one bucket a minute, the empty minute kept
    assert data.bucket_ms == MIN
    assert data.bids_over_time == ((T0 + MIN, 1), (T0 + 2 * MIN, 1), (T0 + 3 * MIN, 1))


def test_chart_data_prefers_the_reports_bids_per_minute() -> None:
    given = report() | {"bids_per_minute": [{"minute": T0, "bids": 4}, {"minute": T0 + 2 * MIN,
                                                                        "bids": 1}]}  # fmt: skip
    data = chart_data(given, HISTORIES, ESTIMATES)
    assert data.bids_over_time == ((T0, 4), (T0 + MIN, 0), (T0 + 2 * MIN, 1))


def test_estimates_come_from_the_report_row_when_not_given_apart() -> None:
    given = report()
    given["per_lot"][0] |= {"estimate_low": 100, "estimate_high": 200}
    data = chart_data(given, HISTORIES, {})
    assert (data.lots[0].estimate_low, data.lots[0].estimate_high) == (100, 200)


def test_buckets_grow_with_the_span_and_stay_few() -> None:
    assert bucket_width(T0, T0 + 10 * MIN) == MIN
    assert bucket_width(T0, T0 + 239 * MIN) == MIN
    assert bucket_width(T0, T0 + 240 * MIN) == 5 * MIN
    assert bucket_width(T0, T0 + 400 * 86_400_000) == BUCKETS_MS[-1]
    bars, width = bucketed([(T0 + i * 37_000, 1) for i in range(20_000)])  # ~8.5 days
    assert len(bars) <= MAX_BUCKETS and width == 3_600_000
    assert sum(n for _, n in bars) == 20_000
    assert bucketed([]) == ((), MIN)


@pytest.mark.parametrize("name", ["chart.png", "CHART.PNG", "out/c.svg"])
def test_chart_format_takes_png_and_svg(name: str) -> None:
    assert chart_format(name) == name.lower().rsplit(".", 1)[1]


@pytest.mark.parametrize("name", ["chart.jpg", "chart", "chart.png.txt", "chart.pdf"])
def test_chart_format_refuses_anything_else_in_words(name: str) -> None:
    with pytest.raises(ChartError, match=r"\.png or \.svg"):
        chart_format(name)


def test_the_figure_has_three_panels_with_the_lots_in_them() -> None:
    figure = draw(chart_data(report(), HISTORIES, ESTIMATES))
    prices, estimates, over_time = figure.axes[:3]
    assert "Price over time" in prices.get_title(loc="left")
    assert "sell-through 50% (1 of 2 offered)" in estimates.get_title(loc="left")
    assert "3 bids, per minute" in over_time.get_title(loc="left")
    ticks = [t.get_text() for t in estimates.get_yticklabels()]
    assert ticks == [
        "Brass carriage clock",
        "Oak writing desk – reserve not met",
        "Silver teapot – withdrawn",
    ]
    legend = prices.get_legend()
    assert legend is not None
    shown = [t.get_text() for t in legend.get_texts()]
    assert shown == ["Brass carriage clock", "Oak writing desk"]
    assert len(over_time.patches) == 3  # one bar per minute


def test_a_sale_in_two_currencies_draws_the_money_of_the_one_with_more_lots() -> None:
    """One axis cannot hold $25 and ¥9,000: the price and estimate panels draw the dollars
    (two lots of three), say what they leave out, and the bids over time count every bid."""
    given = report()
    given["per_lot"][1]["currency"] = "JPY"  # the desk, in yen
    figure = draw(chart_data(given, HISTORIES, ESTIMATES))
    prices, estimates, over_time = figure.axes[:3]
    assert "(USD lots; 1 in JPY not drawn)" in prices.get_title(loc="left")
    assert "(USD lots; 1 in JPY not drawn)" in estimates.get_title(loc="left")
    assert prices.get_ylabel() == "price (USD)"
    assert estimates.get_xlabel() == "hammer (USD)"
    ticks = [t.get_text() for t in estimates.get_yticklabels()]
    assert ticks == ["Brass carriage clock", "Silver teapot – withdrawn"]
    legend = prices.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["Brass carriage clock"]
    assert "3 bids, per minute" in over_time.get_title(loc="left")
    # one currency: nothing said, every lot drawn
    assert "not drawn" not in draw(chart_data(report(), HISTORIES, ESTIMATES)).axes[0].get_title(
        loc="left"
    )


def test_money_axes_turn_logarithmic_when_one_lot_dwarfs_the_others() -> None:
    given = report()
    assert draw(chart_data(given, HISTORIES, ESTIMATES)).axes[1].get_xscale() == "linear"
    given["per_lot"][0]["hammer"] = 2_000_000  # 800 times the next
    figure = draw(chart_data(given, HISTORIES, ESTIMATES))
    assert figure.axes[1].get_xscale() == "log"
    assert figure.axes[0].get_yscale() == "linear"  # the bids themselves stay close


def test_a_sale_without_bids_draws_and_says_so(tmp_path: Path) -> None:
    data = chart_data(report(), {}, ESTIMATES)
    figure = draw(data)
    said = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert said.count("no bids yet") == 2
    save(figure, tmp_path / "empty.png")
    assert (tmp_path / "empty.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_save_writes_a_png_and_an_svg_whose_words_are_text(tmp_path: Path) -> None:
    figure = draw(chart_data(report(), HISTORIES, ESTIMATES))
    assert save(figure, tmp_path / "r.png") == "png"
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert save(figure, tmp_path / "r.svg") == "svg"
    root = ET.parse(tmp_path / "r.svg").getroot()
    words = " ".join(
        "".join(node.itertext()) for node in root.iter("{http://www.w3.org/2000/svg}text")
    )
    for title in ("Brass carriage clock", "Oak writing desk", "Silver teapot", "Winter sale"):
        assert title in words
    with pytest.raises(ChartError):
        save(figure, tmp_path / "r.gif")
    assert not (tmp_path / "r.gif").exists()
