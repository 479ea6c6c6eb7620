"""CSV exports guard text a spreadsheet would run as a formula (OWASP "CSV injection")."""

from __future__ import annotations

import csv
import io

import pytest

from bidwire.engine.results import Settlement, SettlementRow, settlement_csv
from bidwire.wire.csv_cells import safe_cell


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx"])
def test_a_cell_a_spreadsheet_would_run_is_kept_as_text(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["Oil Painting", "", "ann", 12_500, -300, None, 0.2])
def test_every_other_cell_is_left_as_it_is(value: object) -> None:
    assert safe_cell(value) == value


def test_the_settlement_export_guards_a_formula_title_and_reads_back_otherwise_as_json() -> None:
    rows = [
        SettlementRow("a", "=cmd|' /C calc'!A0", "ann", 10_000, 0.2, 2_000, 12_000, "USD"),
        SettlementRow("b", "Oil Painting", "bob", 500, 0.2, 100, 600, "USD"),
    ]
    parsed = list(csv.DictReader(io.StringIO(settlement_csv(Settlement("s", "S", 0.2, rows, 0)))))
    assert parsed[0]["title"] == "'=cmd|' /C calc'!A0"
    assert parsed[1] == {
        "lot": "b",
        "title": "Oil Painting",
        "winner": "bob",
        "hammer": "500",
        "buyers_premium": "0.2",
        "premium": "100",
        "total": "600",
        "currency": "USD",
    }
