"""CSV cells safe to open in a spreadsheet.

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by
spreadsheets as a formula (OWASP "CSV injection"): a lot titled ``=HYPERLINK(...)`` would run
in the auctioneer's spreadsheet. Such a cell gets a leading ``'``, which spreadsheets show as
text and do not display. Numbers are written as numbers (a negative amount stays a number);
only text is guarded, so every other cell reads back as the JSON has it.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
