"""The terminal client: its sans-I/O state, its input parsing, and a run against a fake server."""

from __future__ import annotations

import asyncio
import json
import random
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bidwire.client.terminal import (
    BuyNow,
    ClientState,
    Confirm,
    Help,
    Invalid,
    LeaveMax,
    ListLots,
    PlaceBid,
    Quit,
    TerminalClient,
    format_remaining,
    parse_input,
)

REPO = Path(__file__).resolve().parents[2]
SERVER_TS = 1_700_000_000_000  # the server's clock, far from any local monotonic reading
NOW = 5_000  # the local monotonic clock at the first message


def welcome(user: str = "bob", ts: int = SERVER_TS, id: str | None = "hello") -> dict[str, Any]:
    """The answer to the client's hello (its id echoed, as the server does)."""
    return {
        "type": "welcome",
        "user": user,
        "role": "guest",
        "token": "t",
        "protocol": 1,
        "ts": ts,
        "id": id,
    }


def snapshot(seq: int = 3, **fields: Any) -> dict[str, Any]:
    msg = {
        "type": "snapshot",
        "lot": "L1",
        "seq": seq,
        "state": "open",
        "sale": "S1",
        "title": "Vintage Watch",
        "description": "",
        "currency": "USD",
        "starting_price": 10000,
        "min_amount": 11000,
        "ends_at": SERVER_TS + 60_000,
        "high_bid": {"amount": 10000, "bidder": "alice"},
        "bids": [{"amount": 10000, "bidder": "alice", "ts": SERVER_TS - 1000}],
        "ts": SERVER_TS,
    }
    msg.update(fields)
    return msg


def bid_placed(seq: int, amount: int, bidder: str = "bob", lot: str = "L1") -> dict[str, Any]:
    return {
        "type": "bid_placed",
        "lot": lot,
        "seq": seq,
        "amount": amount,
        "bidder": bidder,
        "ends_at": SERVER_TS + 60_000,
        "min_amount": amount + 1000,
        "ts": SERVER_TS,
    }


def opened_state(user: str = "bob") -> ClientState:
    state = ClientState()
    state.receive(welcome(user), NOW)
    state.receive(snapshot(), NOW)
    return state


# -- ClientState -------------------------------------------------------------------------------


def test_snapshot_then_bid_placed_updates_the_high_bid() -> None:
    state = ClientState()
    state.receive(welcome("carol"), NOW)
    reaction = state.receive(snapshot(), NOW)
    assert reaction.lines == (
        "Vintage Watch [L1]: high bid 100.00 USD by alice, next bid at least 110.00 USD,"
        " ends in 1:00",
    )
    assert state.on_block is state.lots["L1"]

    reaction = state.receive(bid_placed(4, 15000), NOW + 100)

    assert reaction.lines == ("New high bid 150.00 USD by bob on Vintage Watch",)
    assert reaction.send == ()
    view = state.lots["L1"]
    assert (view.high_amount, view.high_bidder, view.min_amount, view.seq) == (
        15000,
        "bob",
        16000,
        4,
    )
    assert "high 150.00 USD by bob | next 160.00 USD" in state.status(NOW + 100)


def test_a_seq_gap_asks_for_a_resync_once_and_applies_events_in_order() -> None:
    state = opened_state()

    first = state.receive(bid_placed(6, 15000, "carol"), NOW)
    second = state.receive(bid_placed(7, 16000, "dave"), NOW)

    assert first.send == ({"type": "resync", "lot": "L1", "since_seq": 3},)
    assert first.lines == () and second.send == () and second.lines == ()
    assert state.lots["L1"].seq == 3 and state.lots["L1"].high_amount == 10000

    # The resync reply fills the gap; the held events follow in order, each once.
    assert state.receive(bid_placed(4, 12000, "erin"), NOW).lines == (
        "New high bid 120.00 USD by erin on Vintage Watch",
    )
    reaction = state.receive(bid_placed(5, 13000, "fred"), NOW)
    assert reaction.lines == (
        "New high bid 130.00 USD by fred on Vintage Watch",
        "New high bid 150.00 USD by carol on Vintage Watch",
        "New high bid 160.00 USD by dave on Vintage Watch",
    )
    assert state.receive(bid_placed(6, 15000, "carol"), NOW).lines == ()  # replayed again: dup
    assert (state.lots["L1"].seq, state.lots["L1"].high_bidder) == (7, "dave")
    # The gap is closed, so a new gap asks again.
    assert state.receive(bid_placed(9, 20000), NOW).send == (
        {"type": "resync", "lot": "L1", "since_seq": 7},
    )


def test_a_snapshot_closes_a_gap() -> None:
    state = opened_state()
    state.receive(bid_placed(6, 15000, "carol"), NOW)

    reaction = state.receive(snapshot(5, high_bid={"amount": 14000, "bidder": "dave"}), NOW)

    assert reaction.lines[-1] == "New high bid 150.00 USD by carol on Vintage Watch"
    assert state.lots["L1"].seq == 6
    assert state.receive(snapshot(4), NOW).lines == ()  # older than what we have


def test_duplicates_are_ignored() -> None:
    state = opened_state()
    state.receive(bid_placed(4, 15000), NOW)

    for seq in (4, 3, 1):
        reaction = state.receive(bid_placed(seq, 99000, "mallory"), NOW)
        assert reaction.lines == () and reaction.send == ()
    same = snapshot(4, high_bid={"amount": 15000, "bidder": "bob"}, min_amount=16000)
    assert state.receive(same, NOW).lines == ()  # nothing new to say
    view = state.lots["L1"]
    assert (view.seq, view.high_amount, view.high_bidder) == (4, 15000, "bob")


def test_lot_closed_lines_and_the_block_moves_on() -> None:
    state = opened_state(user="bob")
    state.receive(bid_placed(4, 15000), NOW)

    sold = {"type": "lot_closed", "lot": "L1", "seq": 5, "outcome": "sold", "ts": SERVER_TS}
    reaction = state.receive({**sold, "winner": "bob", "amount": 15000}, NOW)

    assert reaction.lines == (
        "SOLD! Vintage Watch: won by you (bob) for 150.00 USD",
        "Congratulations, Vintage Watch is yours!",
    )
    assert state.lots["L1"].state == "closed"
    assert state.on_block is None
    assert "No lot on the block" in state.status(NOW)

    state.receive(snapshot(1, lot="L2", title="Old Map", high_bid=None), NOW)
    unsold = {"type": "lot_closed", "lot": "L2", "seq": 2, "outcome": "unsold", "winner": None}
    assert state.receive({**unsold, "amount": None, "ts": SERVER_TS}, NOW).lines == (
        "Old Map: not sold",
    )
    state.receive(snapshot(1, lot="L3", title="Clock"), NOW)
    no_reserve = {**unsold, "lot": "L3", "reason": "reserve_not_met", "ts": SERVER_TS}
    assert state.receive(no_reserve, NOW).lines == ("Clock: not sold: the reserve was not met",)
    assert state.describe(state.lots["L3"], NOW) == (
        "Clock [L3]: closed, not sold: the reserve was not met"
    )


def test_countdown_follows_the_server_clock_not_the_local_one() -> None:
    state = ClientState()
    state.receive(welcome(ts=SERVER_TS), NOW)
    state.receive(snapshot(ends_at=SERVER_TS + 60_000), NOW)
    offset = SERVER_TS - NOW
    assert state.offset_ms == offset
    view = state.lots["L1"]

    for local in (NOW, NOW + 12_345, NOW + 59_999, NOW + 61_000):
        assert state.remaining_ms(view, local) == view.ends_at - (local + offset)  # type: ignore[operator]
    assert "1:00 left" in state.status(NOW)
    assert "0:30 left" in state.status(NOW + 30_000)
    assert "closing..." in state.status(NOW + 61_000)

    # An event replayed by a resync carries its old ts: it must not drag the clock back.
    state.receive(bid_placed(4, 15000) | {"ts": SERVER_TS - 600_000}, NOW + 1000)
    assert state.offset_ms == offset
    # A fresher sample (less transit delay) moves the estimate forward.
    state.receive({"type": "pong", "id": 1, "ts": SERVER_TS + 2000}, NOW + 1500)
    assert state.offset_ms == offset + 500


def test_refusals_and_replies_read_like_sentences() -> None:
    state = opened_state()

    too_low = {"type": "bid_rejected", "id": "r1", "lot": "L1", "code": "too_low", "ts": 1}
    assert state.receive({**too_low, "message": "x", "min_amount": 16000}, NOW).lines == (
        "Your bid was refused: too low, bid at least 160.00 USD",
    )
    leading = {**too_low, "code": "already_leading", "message": "x"}
    assert state.receive(leading, NOW).lines == (
        "Your bid was refused: you are already the highest bidder",
    )
    novel = {**too_low, "code": "brand_new", "message": "the moon is full"}
    assert state.receive(novel, NOW).lines == ("Your bid was refused: the moon is full",)
    accepted = {"type": "bid_accepted", "id": "r2", "lot": "L1", "amount": 15000, "seq": 4}
    assert state.receive({**accepted, "ts": 1}, NOW).lines == (
        "Your bid of 150.00 USD on Vintage Watch was accepted.",
    )
    assert state.lots["L1"].seq == 3  # the reply's seq belongs to the bid_placed still to come
    assert state.receive({"type": "something_new", "ts": 1}, NOW) == state.receive({}, NOW)


def test_outbid_notice_and_unknown_lot_event_types_advance_seq() -> None:
    state = opened_state(user="bob")
    state.receive(bid_placed(4, 15000, "bob"), NOW)

    reaction = state.receive(bid_placed(5, 16000, "carol"), NOW)
    assert reaction.lines[-1] == "You have been outbid on Vintage Watch."

    assert state.receive({"type": "lot_annotated", "lot": "L1", "seq": 6, "ts": 1}, NOW).send == ()
    assert state.lots["L1"].seq == 6
    extended = {"type": "lot_extended", "lot": "L1", "seq": 7, "reason": "soft_close", "ts": 1}
    line = state.receive({**extended, "ends_at": SERVER_TS + 90_000}, NOW).lines[0]
    assert line == "Vintage Watch extended: now ends in 1:30 (soft close)"


def test_reconnect_welcome_asks_to_resync_every_lot_still_open() -> None:
    state = opened_state()
    state.receive(bid_placed(4, 15000), NOW)
    state.receive(snapshot(2, lot="L2", title="Old Map"), NOW)
    closed = {"type": "lot_closed", "lot": "L2", "seq": 3, "outcome": "unsold", "ts": 1}
    state.receive(closed, NOW)
    state.receive(bid_placed(5, 100, lot="L3"), NOW)  # never seen: held, asks since 0

    reaction = state.receive(welcome(), NOW)

    assert reaction.lines == ("Reconnected as bob; catching up.",)
    assert reaction.send == (
        {"type": "resync", "lot": "L1", "since_seq": 4},
        {"type": "resync", "lot": "L3", "since_seq": 0},
    )


def test_a_lot_opened_for_a_new_lot_puts_it_on_the_block() -> None:
    state = opened_state()
    lot_opened = {
        "type": "lot_opened",
        "lot": "L9",
        "seq": 1,
        "sale": "S1",
        "title": "Netsuke",
        "description": "",
        "currency": "JPY",
        "starting_price": 5000,
        "min_amount": 5000,
        "ends_at": SERVER_TS + 30_000,
        "ts": SERVER_TS,
    }
    assert state.receive(lot_opened, NOW).lines == (
        "On the block: Netsuke [L9], bids from 5,000 JPY, ends in 0:30",
    )
    assert state.on_block is state.lots["L9"]
    assert parse_input("6000", state) == PlaceBid("L9", 6000)
    # what a server sends now: no reserve is reserve false, reserve_met false
    with_fields = {**lot_opened, "lot": "L10", "reserve": False, "reserve_met": False}
    assert state.receive(with_fields, NOW).lines == (
        "On the block: Netsuke [L10], bids from 5,000 JPY, ends in 0:30",
    )
    assert "reserve" not in state.status(NOW)
    reserved = {**with_fields, "lot": "L11", "reserve": True, "buy_now": 9000}
    assert state.receive(reserved, NOW).lines == (
        "On the block: Netsuke [L11], bids from 5,000 JPY, ends in 0:30, has a reserve",
        "Buy now for 9,000 JPY: type buy.",
    )


def test_format_remaining() -> None:
    assert [format_remaining(ms) for ms in (-5, 0, 1, 59_001, 60_000, 3_600_000)] == [
        "0:00",
        "0:00",
        "0:01",
        "1:00",
        "1:00",
        "1:00:00",
    ]


# -- maximums, buy-now, reserves, voids -------------------------------------------------------


def closed_msg(seq: int, reason: str, winner: str | None, amount: int | None) -> dict[str, Any]:
    outcome = "sold" if winner else "unsold"
    return {
        "type": "lot_closed",
        "lot": "L1",
        "seq": seq,
        "outcome": outcome,
        "winner": winner,
        "amount": amount,
        "reason": reason,
        "ts": SERVER_TS,
    }


def test_every_close_reason_reads_in_words() -> None:
    cases = [
        ("hammer", "ann", 15000, "SOLD! Vintage Watch: sold to ann for 150.00 USD"),
        ("buy_now", "ann", 50000, "SOLD! Vintage Watch: bought now by ann for 500.00 USD"),
        ("reserve_not_met", None, None, "Vintage Watch: not sold: the reserve was not met"),
        ("no_bids", None, None, "Vintage Watch: not sold: no bids"),
        ("withdrawn", None, None, "Vintage Watch: withdrawn by the auctioneer"),
    ]
    for reason, winner, amount, line in cases:
        state = opened_state(user="bob")
        assert state.receive(closed_msg(4, reason, winner, amount), NOW).lines == (line,)
        assert state.lots["L1"].state == "closed" and state.on_block is None


def test_my_maximum_is_shown_to_me_and_kept_while_it_answers() -> None:
    state = opened_state(user="bob")  # alice leads at 100.00
    state.asked("r1", "max")
    assert state.receive(bid_placed(4, 11000, "bob"), NOW).lines == (
        "New high bid 110.00 USD by bob (you) on Vintage Watch",
    )
    accepted = {
        "type": "bid_accepted",
        "id": "r1",
        "lot": "L1",
        "amount": 11000,
        "max_amount": 40000,
        "leading": True,
        "seq": 4,
        "ts": SERVER_TS,
    }
    assert state.receive(accepted, NOW).lines == (
        "Your maximum of 400.00 USD on Vintage Watch is leading at 110.00 USD (only you see it).",
    )
    assert "your maximum 400.00 USD is leading at 110.00 USD" in state.status(NOW)
    # carol bids, bob's maximum answers in the same commit: no outbid notice in between
    assert state.receive(bid_placed(5, 20000, "carol"), NOW).lines == (
        "New high bid 200.00 USD by carol on Vintage Watch",
    )
    auto = bid_placed(6, 20500, "bob") | {"auto": True}
    assert state.receive(auto, NOW).lines == (
        "New high bid 205.00 USD by bob (you, automatic) on Vintage Watch",
    )
    assert "your maximum 400.00 USD is leading at 205.00 USD" in state.status(NOW)
    # a leader's raise tells everyone else nothing, and advances seq
    assert state.receive({"type": "max_raised", "lot": "L1", "seq": 7, "ts": 1}, NOW).lines == ()
    # dave goes above the maximum: outbid, and the maximum is spent
    assert state.receive(bid_placed(8, 41000, "dave"), NOW).lines == (
        "New high bid 410.00 USD by dave on Vintage Watch",
        "You have been outbid on Vintage Watch: a bid went above your maximum of 400.00 USD.",
    )
    assert state.lots["L1"].my_max is None and "your maximum" not in state.status(NOW)


def test_a_maximum_outbid_at_once_and_a_raise_are_worded() -> None:
    state = opened_state(user="bob")
    state.asked("r1", "max", "L1")
    # bob's bid at his maximum, then the rival maximum's answer: the reply says he is outbid
    mine = state.receive(bid_placed(4, 30000, "bob"), NOW)
    answer = state.receive(bid_placed(5, 30500, "alice") | {"auto": True}, NOW)
    assert mine.lines + answer.lines == (
        "New high bid 300.00 USD by bob (you) on Vintage Watch",
        "New high bid 305.00 USD by alice (automatic) on Vintage Watch",
    )
    outbid = {
        "type": "bid_accepted",
        "id": "r1",
        "lot": "L1",
        "amount": 30000,
        "max_amount": 30000,
        "leading": False,
        "seq": 4,
        "ts": SERVER_TS,
    }
    assert state.receive(outbid, NOW).lines == (
        "Your maximum of 300.00 USD on Vintage Watch was outbid at once: another bidder's"
        " maximum is higher (your bid stood at 300.00 USD).",
    )
    plain = {**outbid, "id": "r2", "max_amount": None}
    assert state.receive(plain, NOW).lines == (
        "Your bid of 300.00 USD on Vintage Watch stands, but another bidder's maximum answered"
        " it at once: you are outbid.",
    )
    state.asked("r3", "max")
    lower = {
        "type": "bid_rejected",
        "id": "r3",
        "lot": "L1",
        "code": "already_leading",
        "message": "you already lead with a maximum of 400.00 USD; a new maximum must be higher",
        "ts": 1,
    }
    assert state.receive(lower, NOW).lines == (
        "Your maximum refused: you already lead with a maximum of 400.00 USD; a new maximum"
        " must be higher",
    )


def test_snapshot_carries_reserve_buy_now_and_my_own_maximum() -> None:
    state = ClientState()
    state.receive(welcome("bob"), NOW)
    fresh = snapshot(1, high_bid=None, bids=[], reserve=True, reserve_met=False, buy_now=50000)
    assert state.receive(fresh, NOW).lines == (
        "Vintage Watch [L1]: no bids yet, next bid at least 110.00 USD, reserve not met yet,"
        " buy now for 500.00 USD (type buy), ends in 1:00",
    )
    assert "reserve not met | buy now 500.00 USD" in state.status(NOW)
    assert parse_input("buy", state) == BuyNow("L1")
    mine = snapshot(
        3,
        high_bid={"amount": 30000, "bidder": "bob", "max_amount": 45000},
        reserve=True,
        reserve_met=True,
        buy_now=None,
    )
    state.receive(mine, NOW)
    assert "your maximum 450.00 USD is leading at 300.00 USD | next 110.00 USD | reserve met" in (
        state.status(NOW)
    )
    assert "buy now" not in state.status(NOW)


def test_the_reserve_met_is_said_once_and_a_first_bid_ends_the_buy_now_offer() -> None:
    state = ClientState()
    state.receive(welcome("bob"), NOW)
    state.receive(
        snapshot(1, high_bid=None, bids=[], reserve=True, reserve_met=False, buy_now=50000), NOW
    )
    below = state.receive(bid_placed(2, 12000, "ann") | {"reserve_met": False}, NOW)
    assert below.lines == ("New high bid 120.00 USD by ann on Vintage Watch",)
    assert state.lots["L1"].buy_now is None
    met = state.receive(bid_placed(3, 30000, "carl") | {"reserve_met": True}, NOW)
    assert met.lines[-1] == "The reserve on Vintage Watch has been met."
    again = state.receive(bid_placed(4, 31000, "ann") | {"reserve_met": True}, NOW)
    assert len(again.lines) == 1


def test_a_void_is_applied_and_can_offer_buy_now_again() -> None:
    state = ClientState()
    state.receive(welcome("bob"), NOW)
    state.receive(
        snapshot(1, high_bid=None, bids=[], reserve=True, reserve_met=False, buy_now=50000), NOW
    )
    state.receive(bid_placed(2, 12000, "ann") | {"reserve_met": False}, NOW)
    state.receive(bid_placed(3, 30000, "carl") | {"reserve_met": True}, NOW)
    voided = {
        "type": "bid_voided",
        "lot": "L1",
        "seq": 4,
        "voided": [3],
        "amount": 12000,
        "bidder": "ann",
        "min_amount": 12250,
        "bid_count": 1,
        "ends_at": SERVER_TS + 9000,
        "by": "admin",
        "ts": SERVER_TS,
        "reserve_met": False,
    }
    assert state.receive(voided, NOW).lines == (
        "The auctioneer voided a bid on Vintage Watch: the high bid is now 120.00 USD by ann.",
        "The reserve on Vintage Watch is no longer met.",
    )
    view = state.lots["L1"]
    assert (view.high_amount, view.high_bidder, view.min_amount) == (12000, "ann", 12250)
    empty = {
        **voided,
        "seq": 5,
        "voided": [2],
        "amount": None,
        "bidder": None,
        "min_amount": 10000,
        "bid_count": 0,
    }
    assert state.receive(empty, NOW).lines == (
        "The auctioneer voided a bid on Vintage Watch: no bids stand.",
        "Buy now for 500.00 USD: type buy.",
    )
    assert view.high_amount is None and view.buy_now == 50000


def test_bought_is_a_reply_not_a_lot_event() -> None:
    """``bought`` carries the lot_closed's seq: taken for a lot event, it swallowed the close
    (the close at the same seq then looked like a duplicate)."""
    state = opened_state(user="bob")
    state.asked("r1", "buy")
    bought = {"type": "bought", "id": "r1", "lot": "L1", "amount": 50000, "seq": 4, "ts": 1}
    assert state.receive(bought, NOW).lines == ("You bought Vintage Watch now, for 500.00 USD.",)
    closed = state.receive(closed_msg(4, "buy_now", "bob", 50000), NOW)
    assert closed.lines == (
        "SOLD! Vintage Watch: bought now by you for 500.00 USD",
        "Congratulations, Vintage Watch is yours!",
    )
    state.asked("r2", "buy")
    refused = {
        "type": "bid_rejected",
        "id": "r2",
        "lot": "L1",
        "code": "lot_not_open",
        "message": "Vintage Watch is closed",
        "ts": 1,
    }
    assert state.receive(refused, NOW).lines == ("Buy-now refused: Vintage Watch is closed",)


# -- input parsing -----------------------------------------------------------------------------


def test_amounts_become_exact_minor_units() -> None:
    state = opened_state()
    assert parse_input("150", state) == PlaceBid("L1", 15000)
    assert parse_input("  150.50 \n", state) == PlaceBid("L1", 15050)
    assert parse_input("0.29", state) == PlaceBid("L1", 29)  # float(0.29) * 100 is 28.999...
    far = parse_input("1,250.10", state)  # over 3 times the minimum: asked about first
    assert isinstance(far, Confirm) and far.bid == PlaceBid("L1", 125010)
    assert parse_input("bid 175", state) == PlaceBid("L1", 17500)
    assert parse_input("bid L1 200.05", state) == PlaceBid("L1", 20005)
    assert parse_input("max 400", state) == LeaveMax("L1", 40000)
    assert parse_input("MAX L1 400.50", state) == LeaveMax("L1", 40050)
    assert parse_input("buy", state) == parse_input("buy now", state) == BuyNow("L1")
    assert parse_input("buy L1", state) == BuyNow("L1")


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("150.505", "at most 2 decimal places"),
        ("-5", "negative"),
        ("0", "more than zero"),
        ("12abc", "not a number"),
        ("hello", "Unknown command"),
        ("bid L7 100", "Unknown lot 'L7'"),
        ("bid L1 1 2", "Usage: bid LOT AMOUNT"),
        ("max", "Usage: max AMOUNT"),
        ("max 0", "A maximum must be more than zero"),
        ("max ten", "Cannot leave a maximum of 'ten': 'ten' is not a number"),
        ("buy L7", "Unknown lot 'L7'"),
    ],
)
def test_bad_input_says_why(line: str, words: str) -> None:
    command = parse_input(line, opened_state())
    assert isinstance(command, Invalid)
    assert words in command.message


def test_commands() -> None:
    state = ClientState()
    assert parse_input("quit", state) == Quit()
    assert parse_input("EXIT", state) == Quit()
    assert parse_input("help", state) == Help()
    assert parse_input("lots", state) == ListLots()
    assert parse_input("   ", state) is None
    no_lot = parse_input("150", state)
    assert isinstance(no_lot, Invalid) and "no lot on the block" in no_lot.message


# -- against a fake server ---------------------------------------------------------------------

Handler = Callable[[int, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def start_fake_server(handler: Handler) -> tuple[asyncio.Server, int]:
    count = 0

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        count += 1
        try:
            await handler(count, reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def send(writer: asyncio.StreamWriter, msg: dict[str, Any]) -> None:
    writer.write(json.dumps(msg).encode() + b"\n")
    await writer.drain()


async def read(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    line = await reader.readline()
    return json.loads(line) if line else None


async def queued_lines(queue: asyncio.Queue[str | None]) -> AsyncIterator[str]:
    while (line := await queue.get()) is not None:
        yield line


async def test_bids_then_reconnects_and_resyncs_after_a_dropped_link() -> None:
    seen: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()

    async def handler(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Welcome to bidwire (text mode greeting, to be ignored)\n")
        while (msg := await read(reader)) is not None:
            if msg["type"] == "ping":
                await send(writer, {"type": "pong", "id": msg["id"], "ts": SERVER_TS})
                continue
            await seen.put((n, msg))
            if msg["type"] == "hello":
                await send(writer, welcome(msg["name"]))
                await send(writer, snapshot(3 if n == 1 else 4))
            elif msg["type"] == "bid" and n == 1:
                reply = {"type": "bid_accepted", "id": msg["id"], "lot": "L1", "seq": 4}
                await send(writer, {**reply, "amount": msg["amount"], "ts": SERVER_TS})
                await send(writer, bid_placed(4, msg["amount"], "bob"))
                return  # drop the link

    server, port = await start_fake_server(handler)
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    out: list[str] = []
    client = TerminalClient("127.0.0.1", port, "bob", out.append, rng=random.Random(7))
    running = asyncio.create_task(client.run(queued_lines(lines)))
    try:
        # Typed at once: the client waits for its first snapshots before reading the amount.
        await lines.put("150")

        async def expect() -> tuple[int, dict[str, Any]]:
            return await asyncio.wait_for(seen.get(), 5)

        assert await expect() == (1, {"type": "hello", "id": "hello", "name": "bob"})
        assert await expect() == (1, {"type": "bid", "id": "r1", "lot": "L1", "amount": 15000})
        assert await expect() == (2, {"type": "hello", "id": "hello", "name": "bob"})
        assert await expect() == (2, {"type": "resync", "lot": "L1", "since_seq": 4})

        await lines.put("quit")
        assert await asyncio.wait_for(running, 5) == 0
    finally:
        running.cancel()
        server.close()
        await server.wait_closed()

    assert "Connected as bob (guest)." in out
    assert "Your bid of 150.00 USD on Vintage Watch was accepted." in out
    assert "New high bid 150.00 USD by bob (you) on Vintage Watch" in out
    assert out.index("Connection lost, reconnecting...") > out.index(
        "New high bid 150.00 USD by bob (you) on Vintage Watch"
    )
    assert "Reconnected as bob; catching up." in out


async def test_server_closing_reconnects_and_bids_offline_are_not_sent() -> None:
    hellos: asyncio.Queue[int] = asyncio.Queue()
    gate = asyncio.Event()

    async def handler(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        msg = await read(reader)
        assert msg is not None and msg["type"] == "hello"
        await hellos.put(n)
        if n == 2:
            await gate.wait()  # hold the second connection before its welcome
        await send(writer, welcome())
        await send(writer, snapshot())
        if n == 1:
            await send(writer, {"type": "server_closing", "message": "restart", "ts": SERVER_TS})
            await reader.read()  # the client hangs up
        else:
            while await reader.readline():
                pass

    server, port = await start_fake_server(handler)
    out: list[str] = []
    client = TerminalClient("127.0.0.1", port, "bob", out.append, rng=random.Random(7))
    running = asyncio.create_task(client.run(None))
    try:
        assert await asyncio.wait_for(hellos.get(), 5) == 1
        assert await asyncio.wait_for(hellos.get(), 5) == 2
        assert not client.connected
        assert client.toolbar().startswith("[reconnecting] ")
        assert await client.handle_line("150")
        assert out[-1] == "Not connected: your bid was not sent. Try again once reconnected."
        gate.set()
        await asyncio.wait_for(client.until_connected(), 5)
        assert client.connected
    finally:
        running.cancel()
        server.close()
        await server.wait_closed()

    assert "The server is closing: restart" in out
    assert "Connection lost, reconnecting..." in out


async def test_client_py_reads_piped_stdin() -> None:
    bids: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def handler(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (msg := await read(reader)) is not None:
            if msg["type"] == "hello":
                await send(writer, welcome(msg["name"]))
                await send(writer, snapshot())
            elif msg["type"] == "ping":
                await send(writer, {"type": "pong", "id": msg["id"], "ts": SERVER_TS})
            elif msg["type"] == "bid":
                await bids.put(msg)
                reject = {"type": "bid_rejected", "id": msg["id"], "lot": "L1", "code": "too_low"}
                await send(writer, {**reject, "message": "", "min_amount": 11000, "ts": 1})

    server, port = await start_fake_server(handler)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(REPO / "client.py"),
            "127.0.0.1",
            str(port),
            "--name",
            "zoe",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(b"105.5\nquit\n"), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    finally:
        server.close()
        await server.wait_closed()

    assert process.returncode == 0, stderr.decode()
    assert bids.get_nowait() == {"type": "bid", "id": "r1", "lot": "L1", "amount": 10550}
    text = stdout.decode()
    assert "Connected as zoe (guest)." in text
    assert "Your bid was refused: too low, bid at least 110.00 USD" in text


async def test_max_and_buy_are_sent_and_their_answers_worded() -> None:
    asked: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def handler(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (msg := await read(reader)) is not None:
            if msg["type"] == "hello":
                await send(writer, welcome(msg["name"]))
                await send(writer, snapshot(3, buy_now=None))
            elif msg["type"] == "ping":
                await send(writer, {"type": "pong", "id": msg["id"], "ts": SERVER_TS})
            elif msg["type"] == "bid":
                await asked.put(msg)
                await send(writer, bid_placed(4, 11000, "bob"))
                reply = {"type": "bid_accepted", "id": msg["id"], "lot": "L1", "seq": 4}
                await send(writer, {**reply, "amount": 11000, "max_amount": msg["max_amount"]})
            elif msg["type"] == "buy_now":
                await asked.put(msg)
                reject = {"type": "bid_rejected", "id": msg["id"], "lot": "L1"}
                message = "Vintage Watch cannot be bought now: a bid has been placed"
                await send(writer, {**reject, "code": "not_offered", "message": message})

    server, port = await start_fake_server(handler)
    out: list[str] = []
    client = TerminalClient("127.0.0.1", port, "bob", out.append, rng=random.Random(7))
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    running = asyncio.create_task(client.run(queued_lines(lines)))
    try:
        await lines.put("max 400")
        maximum = await asyncio.wait_for(asked.get(), 5)
        assert maximum == {"type": "bid", "id": "r1", "lot": "L1", "max_amount": 40000}
        await lines.put("buy")
        assert await asyncio.wait_for(asked.get(), 5) == {
            "type": "buy_now",
            "id": "r2",
            "lot": "L1",
        }
        await lines.put("quit")
        assert await asyncio.wait_for(running, 5) == 0
    finally:
        running.cancel()
        server.close()
        await server.wait_closed()

    assert "Leaving a maximum of 400.00 USD on Vintage Watch..." in out
    assert (
        "Your maximum of 400.00 USD on Vintage Watch is leading at 110.00 USD (only you see it)."
        in out
    )
    assert "Buying Vintage Watch now..." in out
    assert "Buy-now refused: Vintage Watch cannot be bought now: a bid has been placed" in out


def test_a_closed_lots_snapshot_says_why_it_closed() -> None:
    """Joining after the close: the reason comes from the snapshot, not a guess."""
    state = ClientState()
    state.receive(welcome(), NOW)
    closed = snapshot(state="closed", outcome="unsold", reason="withdrawn", high_bid=None, bids=[])
    lines = state.receive(closed, NOW).lines
    assert any("withdrawn by the auctioneer" in line for line in lines), lines


def test_a_bid_far_above_the_minimum_is_asked_about_in_words() -> None:
    state = opened_state(user="bob")  # the minimum is 110.00
    asked = parse_input("25000", state)
    assert isinstance(asked, Confirm) and asked.bid.amount == 2_500_000
    assert asked.question == (
        "Bid 25,000.00 USD on Vintage Watch? That is 227 times the minimum (110.00 USD)."
        " Type y to place it; anything else cancels."
    )
    near = parse_input("330", state)  # three times the minimum: no question
    assert not isinstance(near, Confirm) and near is not None


async def test_a_confirmed_bid_is_sent_and_a_cancelled_one_is_not() -> None:
    asked: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def handler(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (msg := await read(reader)) is not None:
            if msg["type"] == "hello":
                await send(writer, welcome(msg["name"]))
                await send(writer, snapshot(3))
            elif msg["type"] == "ping":
                await send(writer, {"type": "pong", "id": msg["id"], "ts": SERVER_TS})
            elif msg["type"] == "bid":
                await asked.put(msg)

    server, port = await start_fake_server(handler)
    out: list[str] = []
    client = TerminalClient("127.0.0.1", port, "bob", out.append, rng=random.Random(7))
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    running = asyncio.create_task(client.run(queued_lines(lines)))
    try:
        for line in ("25000", "n", "25000", "y"):
            await lines.put(line)
        sent = await asyncio.wait_for(asked.get(), 5)
        assert sent["amount"] == 2_500_000 and asked.empty()  # once: the first was cancelled
        await lines.put("quit")
        await asyncio.wait_for(running, 5)
    finally:
        running.cancel()
        server.close()
        await server.wait_closed()
    assert out.count("Not placed.") == 1
