"""Text mode: what a person at ``nc`` or the original ``client.py`` reads and types.

Sans-I/O: parse a typed line into a command, render events and replies into lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bidwire.domain.events import (
    BidPlaced,
    BidVoided,
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
    " 'max 400' leaves a maximum: the house bids for you, as little as keeps you leading,"
    " never above it (nobody else sees it); 'buy' buys the lot at its buy-now price, while"
    " offered; 'lots' lists the open lots; 'lot ID' picks the lot you bid on; 'name NEW'"
    " changes your name; 'login NAME' signs in; 'resume CODE' comes back as the guest you were"
    " (the code is given after your first bid); 'history' shows the bids on the lot, 'history"
    " SALE' a sale's, 'history mine' yours ('history more': older ones); 'help' shows this;"
    " 'quit' leaves."
)


@dataclass(frozen=True, slots=True)
class TextCommand:
    verb: str
    """``bid``, ``max``, ``buy``, ``quit``, ``help``, ``lots``, ``lot``, ``name``, ``login``,
    ``resume``, ``history``, ``empty`` or ``unknown``."""
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
    if verb in ("lot", "name", "login", "history", "resume"):
        return TextCommand(verb, rest.strip())
    if verb in ("bid", "max"):
        return TextCommand(verb, rest.strip())
    if verb == "buy" and rest.strip().lower() in ("", "now", "it"):
        return TextCommand("buy")
    if text[0].isdigit() or text[0] in "-+.":
        return TextCommand("bid", text)
    return TextCommand("unknown", text[:40])


def seconds_left(ends_at: int, now_ms: int) -> str:
    left = max(0, ends_at - now_ms)
    return f"{(left + 999) // 1000} s left"


def money(lot: Lot, amount: int) -> str:
    return format_amount(amount, lot.spec.currency)


def _offers(lot: Lot) -> str:
    """What a bidder should know besides the price: the reserve and the buy-now offer. Only
    whether a reserve is met, never its amount (the lot's private state stays server-side)."""
    said = ""
    if lot.spec.reserve is not None:
        said += " The reserve has been met." if lot.reserve_met() else " Reserve not met yet."
    offered = lot.buy_now_offered()
    if offered is not None and lot.status != "scheduled":
        said += f" Buy now for {money(lot, offered)}: type buy."
    return said


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
        state = (
            f"high bid {money(lot, lot.high_amount)} by {bidder};"
            f" next bid at least {money(lot, lot.min_amount())}"
        )
    return f"On the block: {title}: {state}; {seconds_left(lot.ends_at, now_ms)}.{_offers(lot)}"


def _reserve_just_met(event: BidPlaced, lot: Lot) -> bool:
    """Whether ``event`` is the bid that met the reserve: the bid before it (in ``lot``, the
    state after it and maybe a few more) stood below the reserve, or there was none."""
    reserve = lot.spec.reserve
    if not event.reserve_met or reserve is None:
        return False
    before = next((bid for bid in lot.recent if bid.seq < event.seq), None)
    if before is None:
        # every standing bid is in ``recent`` unless it was trimmed: then we cannot tell
        return lot.bid_count <= len(lot.recent)
    return before.amount < reserve


def _closed(event: LotClosed, lot: Lot) -> str:
    title = lot.spec.title
    price = money(lot, event.amount) if event.amount is not None else ""
    if event.reason == "withdrawn":
        return f"{title}: withdrawn by the auctioneer."
    if event.reason == "buy_now":
        return f"SOLD! {title}: bought now by {event.winner} for {price}."
    if event.outcome == "sold":
        return f"SOLD! {title}: sold to {event.winner} for {price}."
    if event.reason == "reserve_not_met":
        return f"{title}: not sold: the reserve was not met."
    return f"{title}: not sold: no bids."


def render_event(event: LotEvent, lot: Lot) -> str:
    """The line every text-mode watcher reads for an event; ``lot`` is its state after it.

    ``event`` is the public form (no maximum in it); from ``lot`` only what the public may
    know is read: never ``high_max``, never the reserve's amount. "" says nothing."""
    title = lot.spec.title
    if isinstance(event, BidPlaced):
        auto = " (automatic, for a maximum)" if event.auto else ""
        line = (
            f"New high bid: {money(lot, event.amount)} by {event.bidder}{auto} on {title}."
            f" Next bid at least {money(lot, event.min_amount)}."
            f" {seconds_left(event.ends_at, event.ts)}."
        )
        if _reserve_just_met(event, lot):
            line += " The reserve has been met."
        elif event.reserve_met is False:
            line += " Reserve not met yet."
        return line
    if isinstance(event, BidVoided):
        if event.amount is None:
            standing = f"no bids stand; bids start at {money(lot, event.min_amount)}"
        else:
            standing = (
                f"the high bid is now {money(lot, event.amount)} by {event.bidder};"
                f" next bid at least {money(lot, event.min_amount)}"
            )
        line = f"The auctioneer voided a bid on {title}: {standing}."
        if event.reserve_met is not None and event.amount is not None:
            line += " The reserve is met." if event.reserve_met else " Reserve not met."
        offered = lot.buy_now_offered()  # offered again once no bid stands
        if event.amount is None and offered is not None:
            line += f" Buy now for {money(lot, offered)}: type buy."
        return line
    if isinstance(event, LotOpened):
        desc = f" {event.description}" if event.description else ""
        reserve = " It has a reserve." if event.reserve else ""
        offer = f" Buy now for {money(lot, event.buy_now)}: type buy." if event.buy_now else ""
        return (
            f"On the block: {title} (lot {event.lot}).{desc} Starting at"
            f" {money(lot, event.starting_price)}. {seconds_left(event.ends_at, event.ts)}"
            f" for a first bid. Type an amount to bid, or max and an amount.{reserve}{offer}"
        )
    if isinstance(event, LotExtended):
        return f"{title} is open again after a pause: {seconds_left(event.ends_at, event.ts)}."
    if isinstance(event, LotPaused):
        left = seconds_left(event.remaining_ms, 0)
        return (
            f"Bidding on {title} is paused by the auctioneer, with {left} on the clock;"
            " bids wait until it resumes."
        )
    if isinstance(event, LotResumed):
        return f"Bidding on {title} resumes: {seconds_left(event.ends_at, event.ts)}."
    if isinstance(event, LotClosed):
        return _closed(event, lot)
    return ""  # max_raised: the public learns nothing from a leader's raise


def render_countdown(lot: Lot, now_ms: int) -> str:
    assert lot.ends_at is not None
    left = max(0, lot.ends_at - now_ms)
    call = "Going once" if left > 3_000 else "Going twice"
    high = f"at {money(lot, lot.high_amount)}" if lot.high_amount is not None else "with no bid"
    return f"{call}... {lot.spec.title} {high}, {seconds_left(lot.ends_at, now_ms)}."
