"""``history`` in the terminal client: what the person typed -> the wire's ``history``
request, and its reply -> lines. Sans-I/O like ``ClientState``: the terminal sends and prints.

``history`` alone is the lot on the block; ``history LOT`` a lot the client knows (any other
word is taken for a sale), ``history lot X`` / ``history sale X`` say which; ``history mine``
your own bids; ``history more`` the next, older page of the last one shown."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bidwire.domain.money import format_amount

if TYPE_CHECKING:
    from bidwire.client.terminal import ClientState

PAGE = 20

USAGE = (
    "Usage: history (the lot on the block), history LOT, history sale SALE, history mine,"
    " or history more (older bids of the last history)."
)


@dataclass(frozen=True, slots=True)
class HistoryAsk:
    """What to ask: exactly one of ``lot``, ``sale``, ``mine``; ``before`` for an older page."""

    lot: str | None = None
    sale: str | None = None
    mine: bool = False
    before: str | None = None

    def message(self, request_id: str) -> dict[str, Any]:
        msg: dict[str, Any] = {"type": "history", "id": request_id, "limit": PAGE}
        if self.lot is not None:
            msg["lot"] = self.lot
        elif self.sale is not None:
            msg["sale"] = self.sale
        else:
            msg["mine"] = True
        if self.before is not None:
            msg["before"] = self.before
        return msg


def parse_history(words: Sequence[str], state: ClientState) -> HistoryAsk | str:
    """``history ...`` typed -> what to ask, or (a str) what to tell the person instead."""
    rest = list(words[1:])
    if not rest:
        view = state.on_block
        if view is None:
            return "There is no lot on the block right now. " + USAGE
        return HistoryAsk(lot=view.lot)
    if len(rest) == 1:
        word = rest[0]
        if word.lower() in ("mine", "me", "my"):
            return HistoryAsk(mine=True)
        if word.lower() in ("more", "older", "next"):
            return state.history_next or "There is no earlier history to go on with."
        return HistoryAsk(lot=word) if word in state.lots else HistoryAsk(sale=word)
    if len(rest) == 2 and rest[0].lower() in ("lot", "sale"):
        return HistoryAsk(lot=rest[1]) if rest[0].lower() == "lot" else HistoryAsk(sale=rest[1])
    return USAGE


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object) -> int | None:
    return value if type(value) is int else None


def history_lines(
    state: ClientState, msg: Mapping[str, Any], asked: HistoryAsk | None
) -> list[str]:
    """The ``history`` reply in words (the page remembered for ``history more``)."""
    scope = _text(msg.get("scope"))
    bids = msg.get("bids")
    listed = [b for b in bids if isinstance(b, Mapping)] if isinstance(bids, list) else []
    after = msg.get("next_before")
    older = asked is not None and asked.before is not None
    if asked is not None and isinstance(after, str):
        state.history_next = HistoryAsk(asked.lot, asked.sale, asked.mine, after)
    else:
        state.history_next = None
    title = _text(msg.get("title"))
    if scope == "lot":
        head = f"Bids on {title or msg.get('lot')}, newest first:"
    elif scope == "sale":
        head = f"Bids in {title or msg.get('sale')}, newest first:"
    else:
        head = "Your bids, newest first:"
    lines = [] if older else [head]
    for bid in listed:
        currency = _text(bid.get("currency"))
        amount = _int(bid.get("amount"))
        shown = format_amount(amount, currency).strip() if amount is not None else "?"
        ts = _int(bid.get("ts"))
        when = time.strftime("%H:%M:%S", time.localtime(ts / 1000)) if ts is not None else ""
        bidder = _text(bid.get("bidder"))
        sale = _text(bid.get("sale"))
        who = "you" if scope == "bidder" or _is_me(state, bidder, sale) else bidder
        where = "" if scope == "lot" else f" on {_text(bid.get('title')) or bid.get('lot')}"
        notes = [
            *(["automatic"] if bid.get("auto") is True else []),
            *(["VOIDED"] if bid.get("voided") is True else []),
        ]
        alias = _text(bid.get("alias"))
        if alias:
            notes.append(f"seen as {alias}")
        extra = f" ({', '.join(notes)})" if notes else ""
        lines.append(f"  {when}  {shown}{where} by {who}{extra}")
    if not listed:
        lines.append("  no older bids." if older else "  no bids yet.")
    if state.history_next is not None:
        lines.append("  Type history more for older bids.")
    return lines


def _is_me(state: ClientState, bidder: str, sale: str) -> bool:
    return bool(bidder) and (bidder == state.user or state._aliases.get(sale) == bidder)
