"""The terminal client's ``history``: what is asked for what is typed, the reply in words, and
``history more`` going on from the last page's cursor."""

from __future__ import annotations

from bidwire.client.history import HistoryAsk
from bidwire.client.terminal import ClientState, Invalid, parse_input
from tests.client.test_terminal import NOW, SERVER_TS, opened_state


def page(**fields: object) -> dict[str, object]:
    bids = [
        {"lot": "L1", "title": "Vintage Watch", "sale": "S1", "currency": "USD", "seq": 5,
         "amount": 12_500, "bidder": "ann", "ts": SERVER_TS, "auto": True},
        {"lot": "L1", "title": "Vintage Watch", "sale": "S1", "currency": "USD", "seq": 4,
         "amount": 12_000, "bidder": "bob", "ts": SERVER_TS, "voided": True},
    ]  # fmt: skip
    return {"type": "history", "scope": "sale", "sale": "S1", "title": "Spring", "bids": bids,
            "next_before": None, "ts": SERVER_TS, **fields}  # fmt: skip


def test_what_history_asks_for() -> None:
    state = opened_state()  # bob, with L1 on the block
    assert parse_input("history", state) == HistoryAsk(lot="L1")
    assert parse_input("history L1", state) == HistoryAsk(lot="L1")
    assert parse_input("history S1", state) == HistoryAsk(sale="S1")
    assert parse_input("history sale L1", state) == HistoryAsk(sale="L1")
    assert parse_input("history lot zz", state) == HistoryAsk(lot="zz")
    assert parse_input("history mine", state) == HistoryAsk(mine=True)
    for typed in ("history more", "history a b c"):
        said = parse_input(typed, state)
        assert isinstance(said, Invalid) and said.message, typed
    assert isinstance(parse_input("history", ClientState()), Invalid)  # nothing on the block
    assert HistoryAsk(sale="S1", before="9:1:L1").message("h1") == {
        "type": "history", "id": "h1", "limit": 20, "sale": "S1", "before": "9:1:L1"
    }  # fmt: skip
    assert HistoryAsk(mine=True).message("h2")["mine"] is True


def test_the_reply_in_words_and_more_from_its_cursor() -> None:
    state = opened_state()
    state.history_asked["h1"] = HistoryAsk(sale="S1")
    lines = state.receive({**page(next_before="1:4:L1"), "id": "h1"}, NOW).lines
    assert lines[0] == "Bids in Spring, newest first:"
    assert lines[1].endswith("125.00 USD on Vintage Watch by ann (automatic)")
    assert lines[2].endswith("120.00 USD on Vintage Watch by you (VOIDED)")
    assert lines[-1] == "  Type history more for older bids."
    more = parse_input("history more", state)
    assert more == HistoryAsk(sale="S1", before="1:4:L1")
    state.history_asked["h2"] = more
    older = state.receive({**page(bids=[]), "id": "h2"}, NOW).lines
    assert older == ("  no older bids.",)  # a later page: no heading again
    assert isinstance(parse_input("history more", state), Invalid)
    state.history_asked["h3"] = HistoryAsk(sale="nope")
    error = {"type": "error", "id": "h3", "code": "unknown_sale", "message": "there is no sale"}
    assert state.receive(error, NOW).lines == ("Cannot show the history: there is no sale.",)
