"""A bid history in words, for the text mode (``history``): sans-I/O, the page in, lines out.

Times are the bids' own (the server's clock), shown in UTC to the second: a person at ``nc``
has no time zone the server knows."""

from __future__ import annotations

import time

from bidwire.domain.money import format_amount
from bidwire.engine.history import History, HistoryEntry

TEXT_PAGE = 20
"""Bids one ``history`` shows in the text mode; ``history more`` shows the next ones."""


def _clock(ts: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ts // 1000)) + " UTC"


def heading(page: History, own: bool) -> str:
    if page.scope == "lot":
        return f"Bids on {page.title} [{page.lot}], newest first:"
    if page.scope == "sale":
        return f"Bids in {page.title} [{page.sale}], newest first:"
    return "Your bids, newest first:" if own else f"Bids of {page.bidder}, newest first:"


def entry_line(entry: HistoryEntry, page: History, own: bool) -> str:
    where = f" on {entry.title} [{entry.lot}]" if page.scope != "lot" else ""
    who = "" if page.scope == "bidder" else f" by {entry.bidder}"
    notes = [
        *(["automatic, for a maximum"] if entry.auto else []),
        *(["VOIDED: it does not count"] if entry.voided else []),
        *([f"seen as {entry.alias}"] if entry.alias else []),
        *(
            [f"{'your ' if own else ''}maximum {format_amount(entry.max_amount, entry.currency)}"]
            if entry.max_amount is not None and entry.max_amount != entry.amount
            else []
        ),
    ]
    shown = format_amount(entry.amount, entry.currency)
    extra = f" ({'; '.join(notes)})" if notes else ""
    return f"  {_clock(entry.ts)}  #{entry.seq} {shown}{where}{who}{extra}"


def history_lines(page: History, *, own: bool = False, continued: bool = False) -> list[str]:
    """The page as lines: a heading (unless it continues an earlier page), one line a bid,
    and what to type for older ones."""
    lines = [] if continued else [heading(page, own)]
    lines += [entry_line(entry, page, own) for entry in page.bids]
    if not page.bids:
        lines.append("  no older bids." if continued else "  no bids yet.")
    if page.next_before is not None:
        lines.append("  Type 'history more' for older bids.")
    return lines
