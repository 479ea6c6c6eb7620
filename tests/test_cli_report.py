"""`bidwire report`'s table at 80 columns, the worst case: a lot with every column filled (an
estimate band and a reserve band), a long title and winner, amounts in the millions."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from bidwire.cli import RESULT_WORDS, report_table, sales_table

pytestmark = pytest.mark.timeout(30)

HEADLINE: dict[str, Any] = {
    "sold": 2, "unsold": 1, "bought_in": 1, "withdrawn": 1, "open": 0, "lots": 4,
    "sell_through_lots": 2 / 3, "bids": 41, "auto_share": 0.25, "unique_bidders": 7,
    "sniping_share": 0.1, "sniping_extend_share": 0.3, "extensions": 1,
    "mean_time_to_sell_ms": 95_000, "currency": "USD", "mean_hammer": 250_000_00,
    "median_hammer": 250_000_00, "top_bidder_share": 0.4,
    "by_currency": [
        {"currency": "USD", "hammer_total": 500_000_00, "sell_through_value": 0.9},
        {"currency": "EUR", "hammer_total": 1_234_00, "sell_through_value": 1.0},
    ],
}  # fmt: skip


def lot_row(lot: str, title: str, reason: str | None, **rest: Any) -> dict[str, Any]:
    row = {"lot": lot, "title": title, "reason": reason, "outcome": "sold", "winner": None,
           "hammer": None, "currency": "USD", "bids": 0, "bidders": 0, "estimate": None,
           "reserve_band": None}  # fmt: skip
    return {**row, **rest}


def rendered(table: Any) -> str:
    console = Console(width=80, record=True, color_system=None)
    console.print(table)
    return console.export_text()


def column(table: Any, heading: str) -> str:
    """A left-aligned column's text, its folded pieces joined: on each line of the table's body,
    the word that starts under the heading (the caption left out)."""
    table.caption = None
    lines = rendered(table).splitlines()
    head = next(i for i, line in enumerate(lines) if f" {heading} " in f" {line} ")
    start = lines[head].index(heading)
    pieces = [
        line[start:].split()[0] for line in lines[head + 2 :] if line[start : start + 1].strip()
    ]
    return "".join(pieces)


def test_every_column_of_a_sale_fits_80_columns_with_nothing_cut() -> None:
    data = {
        **HEADLINE, "sale": "spring-2026", "title": "Spring Sale of Fine [Art]",
        "per_lot": [
            lot_row("lot-17-georgian-silver-tea-service", "A Georgian silver tea service, London"
                    " 1790", "hammer", winner="margaret.featherstonehaugh", hammer=2_500_000_00,
                    bids=30, bidders=6, estimate="above", reserve_band="met"),
            lot_row("vase", "Blue Vase", "reserve_not_met", outcome="unsold", bids=11,
                    bidders=3, estimate="below", reserve_band="below"),
            lot_row("lamp", "Brass Lamp", "withdrawn", outcome="withdrawn"),
            lot_row("car", "Toy Car", "buy_now", winner="gus", hammer=90_00, bids=0),
        ],
    }  # fmt: skip
    table = report_table(data)
    printed = rendered(table)
    assert "…" not in printed, printed
    assert max(len(line) for line in printed.splitlines()) <= 80, printed
    heads = "Lot Result Winner Hammer USD Bids Estimate Reserve"
    assert any(" ".join(line.split()) == heads for line in printed.splitlines()), printed
    assert column(table, "Winner") == "margaret.featherstonehaughgus", printed
    assert "lot-17-georgian-silver-tea-service" in column(table, "Lot"), printed
    assert "2,500,000.00" in printed and "Spring Sale of Fine [Art]" in printed
    for words in ("sold", "bought in", "withdrawn", "bought now"):
        assert words in printed, printed
    assert "41 bids" in printed and "7 bidders" in printed and "1 extension;" in printed


def test_a_column_nobody_fills_is_left_out() -> None:
    data = {**HEADLINE, "sale": "s", "title": "S", "per_lot": [lot_row("a", "A", "no_bids")]}
    printed = rendered(report_table(data))
    assert "Estimate" not in printed and "Reserve" not in printed
    assert "no bids" in printed


def test_the_sales_table_fits_80_columns_with_two_currencies() -> None:
    row = {**HEADLINE, "sale": "autumn-fine-art-2026", "title": "Autumn Fine Art and Antiques",
           "started_at": 1_790_000_000_000}  # fmt: skip
    table = sales_table({"sales": [row], "totals": HEADLINE, "next_from": None})
    printed = rendered(table)
    assert "…" not in printed, printed
    assert max(len(line) for line in printed.splitlines()) <= 80, printed
    assert "500,000.00 USD" in printed and "1,234.00 EUR" in printed
    assert column(table, "Sale") == "autumn-fine-art-2026", printed
    assert printed.splitlines()[0].strip() == "1 sale"


def test_every_closing_reason_has_words() -> None:
    assert set(RESULT_WORDS) == {"hammer", "buy_now", "reserve_not_met", "no_bids", "withdrawn"}
