"""Text mode: what a person at ``nc`` or the original ``client.py`` reads and types.

Sans-I/O: parse a typed line into a command, render events and replies into lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bidwire.domain.events import (
    BidPlaced,
    LotClosed,
    LotEvent,
    LotExtended,
    LotOpened,
    LotPaused,
    LotResumed,
)
from bidwire.domain.lot import Lot
from bidwire.domain.money import format_amount

HELP = (
    "Commands: a number bids that amount on the lot on the block (150 or 150.50);"
    " 'lots' lists the open lots; 'lot ID' picks the lot you bid on; 'name NEW' changes"
    " your name; 'login NAME' signs in; 'help' shows this; 'quit' leaves."
)


@dataclass(frozen=True, slots=True)
class TextCommand:
    verb: str
    """``bid``, ``quit``, ``help``, ``lots``, ``lot``, ``name``, ``empty`` or ``unknown``."""
    arg: str = ""


def parse_line(line: str) -> TextCommand:
    text = line.strip()
    if not text:
        return TextCommand("empty")
    word, _, rest = text.partition(" ")
    verb = word.lower()
    if verb in ("quit", "exit", "bye"):
        return TextCommand("quit")
    if verb in ("help", "?"):
        return TextCommand("help")
    if verb in ("lots", "list"):
        return TextCommand("lots")
    if verb in ("lot", "name", "login"):
        return TextCommand(verb, rest.strip())
    if verb == "bid":
        return TextCommand("bid", rest.strip())
    if text[0].isdigit() or text[0] in "-+.":
        return TextCommand("bid", text)
    return TextCommand("unknown", text[:40])


def seconds_left(ends_at: int, now_ms: int) -> str:
    left = max(0, ends_at - now_ms)
    return f"{(left + 999) // 1000} s left"


def money(lot: Lot, amount: int) -> str:
    return format_amount(amount, lot.spec.currency)


def describe_lot(
    lot: Lot, now_ms: int, shown: Callable[[str, str], str] = lambda sale, name: name
) -> str:
    """One line about a lot, for the greeting and for ``lots``; ``shown(sale, bidder)`` is how
    the public sees a bidder (a pseudonym in an anonymous sale)."""
    title = f"{lot.spec.title} (lot {lot.id})"
    if lot.status == "scheduled":
        return f"Coming up: {title}, starting at {money(lot, lot.spec.starting_price)}."
    if lot.status == "closed":
        return f"Closed: {title}."
    assert lot.ends_at is not None
    if lot.high_amount is None:
        state = f"no bids yet, starting at {money(lot, lot.spec.starting_price)}"
    else:
        bidder = shown(lot.sale, lot.high_bidder or "")
        state = f"high bid {money(lot, lot.high_amount)} by {bidder}"
    return (
        f"On the block: {title}: {state}; next bid at least {money(lot, lot.min_amount())};"
        f" {seconds_left(lot.ends_at, now_ms)}."
    )


def render_event(event: LotEvent, lot: Lot) -> str:
    """The line every text-mode watcher reads for an event; ``lot`` is its state after it."""
    title = lot.spec.title
    if isinstance(event, BidPlaced):
        return (
            f"New high bid: {money(lot, event.amount)} by {event.bidder} on {title}."
            f" Next bid at least {money(lot, event.min_amount)}."
            f" {seconds_left(event.ends_at, event.ts)}."
        )
    if isinstance(event, LotOpened):
        desc = f" {event.description}" if event.description else ""
        return (
            f"On the block: {title} (lot {event.lot}).{desc} Starting at"
            f" {money(lot, event.starting_price)}. {seconds_left(event.ends_at, event.ts)}"
            " for a first bid. Type an amount to bid."
        )
    if isinstance(event, LotExtended):
        return f"{title} is open again after a pause: {seconds_left(event.ends_at, event.ts)}."
    if isinstance(event, LotPaused):
        return f"Bidding on {title} is paused."
    if isinstance(event, LotResumed):
        return f"Bidding on {title} resumes: {seconds_left(event.ends_at, event.ts)}."
    if isinstance(event, LotClosed):
        if event.reason == "withdrawn":
            return f"{title} has been withdrawn from the sale."
        if event.outcome == "sold":
            assert event.amount is not None
            return f"SOLD! {title} to {event.winner} for {money(lot, event.amount)}."
        why = "the reserve was not met" if event.reason == "reserve_not_met" else "no bids"
        return f"{title} closed unsold ({why})."
    return ""


def render_countdown(lot: Lot, now_ms: int) -> str:
    assert lot.ends_at is not None
    left = max(0, lot.ends_at - now_ms)
    call = "Going once" if left > 3_000 else "Going twice"
    high = f"at {money(lot, lot.high_amount)}" if lot.high_amount is not None else "with no bid"
    return f"{call}... {lot.spec.title} {high}, {seconds_left(lot.ends_at, now_ms)}."
