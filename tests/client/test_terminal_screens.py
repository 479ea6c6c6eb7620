"""The terminal client's side of issue 12: paused, resumed, withdrawn and cancelled lots said
honestly; "you" in anonymous sales; a blocked user told so (and not reconnected); the house's
confirmation limit; a renamed guest told; login, name, mine; a name asked on start."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from bidwire.client.terminal import (
    ClientState,
    Confirm,
    Invalid,
    LeaveMax,
    Login,
    Mine,
    PlaceBid,
    Rename,
    TerminalClient,
    ask_name,
    parse_input,
)
from tests.client.test_terminal import (
    NOW,
    SERVER_TS,
    bid_placed,
    opened_state,
    queued_lines,
    read,
    send,
    snapshot,
    start_fake_server,
    welcome,
)

# -- paused, resumed, withdrawn, cancelled -----------------------------------------------------


def test_a_paused_lot_says_paused_with_its_time_frozen_and_refuses_bids_locally() -> None:
    state = opened_state()
    paused = {"type": "lot_paused", "lot": "L1", "seq": 4, "remaining_ms": 42_000}
    reaction = state.receive({**paused, "by": "admin", "ts": SERVER_TS + 5_000}, NOW + 5_000)
    assert reaction.lines == (
        "PAUSED by the auctioneer: Vintage Watch. Bids wait until it resumes, 0:42 left when"
        " it resumes.",
    )
    # the clock stands still while paused, however long it lasts
    for later in (NOW + 5_000, NOW + 60_000, NOW + 600_000):
        status = state.status(later)
        assert "PAUSED by the auctioneer" in status and "0:42 left, stopped" in status
        assert "closing" not in status
    assert "PAUSED by the auctioneer" in state.describe(state.lots["L1"], NOW + 60_000)
    refused = parse_input("150", state)
    assert isinstance(refused, Invalid) and "PAUSED by the auctioneer" in refused.message
    assert isinstance(parse_input("buy", state), Invalid)

    resumed = {
        "type": "lot_resumed",
        "lot": "L1",
        "seq": 5,
        "ends_at": SERVER_TS + 600_000 + 42_000,
    }
    reaction = state.receive({**resumed, "by": "admin", "ts": SERVER_TS + 600_000}, NOW + 600_000)
    assert reaction.lines == ("Resumed: Vintage Watch is open for bids again, ends in 0:42.",)
    assert "0:42 left" in state.status(NOW + 600_000)  # from the new ends_at, not the old one
    assert "0:12 left" in state.status(NOW + 630_000)
    assert "PAUSED" not in state.status(NOW + 600_000)
    assert isinstance(parse_input("150", state), PlaceBid)


def test_a_paused_snapshot_carries_its_frozen_time_left() -> None:
    state = ClientState()
    state.receive(welcome(), NOW)
    state.receive(snapshot(state="paused", remaining_ms=75_000, ends_at=None), NOW)
    assert state.on_block is state.lots["L1"]
    assert "1:15 left, stopped" in state.status(NOW + 30_000)
    assert "1:15 left when it resumes" in state.describe(state.lots["L1"], NOW)


def test_withdrawn_and_cancelled_are_said_as_such() -> None:
    state = opened_state()
    state.receive({"type": "sale_started", "sale": "S1", "seq": 1, "title": "Autumn sale"}, NOW)
    closed = {"type": "lot_closed", "lot": "L1", "seq": 4, "outcome": "unsold", "winner": None}
    reaction = state.receive({**closed, "amount": None, "reason": "withdrawn", "by": "admin"}, NOW)
    assert reaction.lines == ("Vintage Watch: withdrawn by the auctioneer",)
    assert "not sold" not in state.describe(state.lots["L1"], NOW)
    ended = {"type": "sale_ended", "sale": "S1", "seq": 3, "reason": "cancelled", "ts": 1}
    assert state.receive(ended, NOW).lines == ("Sale cancelled by the auctioneer: Autumn sale",)
    done = {"type": "sale_ended", "sale": "S1", "seq": 4, "reason": "done", "ts": 1}
    assert state.receive(done, NOW).lines == ("Sale ended: Autumn sale",)
    paused = {"type": "sale_paused", "sale": "S1", "seq": 2, "by": "admin", "ts": 1}
    assert state.receive(paused, NOW).lines == ("The auctioneer paused the sale Autumn sale.",)


# -- you, in an anonymous sale -------------------------------------------------------------------


def test_my_pseudonym_is_you_in_an_anonymous_sale() -> None:
    state = ClientState()
    state.receive(welcome("bob"), NOW)
    high = {"amount": 12000, "bidder": "Bidder 7"}
    state.receive(snapshot(high_bid=high), NOW)
    assert "high 120.00 USD by Bidder 7" in state.status(NOW)  # not yet known to be us
    alias = {"type": "alias", "sale": "S1", "bidder": "Bidder 7", "ts": SERVER_TS}
    assert state.receive(alias, NOW).lines == (
        "The sale of Vintage Watch is anonymous: the others see you as Bidder 7 (shown here as"
        " you).",
    )
    assert state.receive(alias, NOW).lines == ()  # said once
    assert "you lead at 120.00 USD" in state.status(NOW)
    assert "you lead at 120.00 USD" in state.describe(state.lots["L1"], NOW)

    outbid = state.receive(bid_placed(4, 13000, "Bidder 3"), NOW)
    assert outbid.lines == (
        "New high bid 130.00 USD by Bidder 3 on Vintage Watch",
        "You have been outbid on Vintage Watch.",
    )
    back = state.receive(bid_placed(5, 14000, "Bidder 7"), NOW)
    assert back.lines == ("New high bid 140.00 USD by Bidder 7 (you) on Vintage Watch",)
    closed = {"type": "lot_closed", "lot": "L1", "seq": 6, "outcome": "sold", "ts": SERVER_TS}
    won = state.receive({**closed, "winner": "Bidder 7", "amount": 14000, "reason": "hammer"}, NOW)
    assert won.lines == (
        "SOLD! Vintage Watch: won by you (Bidder 7) for 140.00 USD",
        "Congratulations, Vintage Watch is yours!",
    )


def test_a_bid_accepted_names_my_pseudonym_when_no_alias_came() -> None:
    state = ClientState()
    state.receive(welcome("bob"), NOW)
    state.receive(snapshot(high_bid=None), NOW)
    state.asked("r1", "bid", "L1")
    accepted = {"type": "bid_accepted", "id": "r1", "lot": "L1", "amount": 11000, "seq": 4}
    state.receive({**accepted, "bidder": "Bidder 7", "ts": SERVER_TS}, NOW)
    state.receive(bid_placed(4, 11000, "Bidder 7"), NOW)
    assert "you lead at 110.00 USD" in state.status(NOW)


def test_a_pseudonym_is_you_only_in_its_own_sale() -> None:
    state = ClientState()
    state.receive(welcome("bob"), NOW)
    state.receive({"type": "alias", "sale": "S2", "bidder": "Bidder 7", "ts": SERVER_TS}, NOW)
    state.receive(snapshot(high_bid={"amount": 12000, "bidder": "Bidder 7"}), NOW)  # sale S1
    assert "high 120.00 USD by Bidder 7" in state.status(NOW)


# -- a session ended by the server -----------------------------------------------------------------

BLOCKED = {
    "type": "error",
    "code": "forbidden",
    "reason": "blocked",
    "message": "the auctioneer has blocked your account; you can no longer bid here",
    "ts": SERVER_TS,
}


def test_blocked_and_logged_out_are_said_in_words() -> None:
    state = opened_state()
    lines = state.receive(BLOCKED, NOW).lines
    assert lines[0] == "The auctioneer has blocked your account; you can no longer bid here."
    assert "will not be reconnected" in lines[1]
    assert "restart" not in " ".join(lines) and state.ended == "blocked"
    state = opened_state()
    out = {**BLOCKED, "reason": "logged_out", "message": "you have logged out"}
    lines = state.receive(out, NOW).lines
    assert lines[0] == "You have logged out." and "login NAME" in lines[1]


async def test_a_blocked_client_does_not_reconnect_until_told_to() -> None:
    firsts: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()

    async def handler(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await read(reader)
        assert first is not None
        await firsts.put((n, first))
        if n == 1:
            await send(writer, {**welcome("carol", id="auth"), "role": "bidder"})
            await send(writer, snapshot())
            await send(writer, BLOCKED)  # and the server closes the connection
            return
        await send(writer, welcome(first["name"]))
        await reader.read()

    server, port = await start_fake_server(handler)
    out: list[str] = []
    client = TerminalClient(
        "127.0.0.1", port, "carol", out.append, rng=random.Random(7), backoff_initial=0.01
    )
    client.state.token = "carol's token"
    running = asyncio.create_task(client.run(None))
    try:
        assert await asyncio.wait_for(firsts.get(), 5) == (
            1,
            {"type": "auth", "id": "auth", "token": "carol's token"},
        )
        await asyncio.wait_for(client.waiting.wait(), 5)
        assert firsts.empty() and not client.connected  # no reconnect by itself
        assert client.toolbar().startswith("[disconnected: login NAME or name NEW] ")
        assert await client.handle_line("150")
        assert out[-1] == (
            "Not connected: your bid was not sent. Type login NAME or name NEW to join again."
        )
        assert await client.handle_line("name carol the guest")  # no longer an account's
        assert await asyncio.wait_for(firsts.get(), 5) == (
            2,
            {"type": "hello", "id": "hello", "name": "carol the guest"},
        )
        await asyncio.wait_for(client.until_connected(), 5)
    finally:
        running.cancel()
        server.close()
        await server.wait_closed()
    assert "The auctioneer has blocked your account; you can no longer bid here." in out
    assert "Connection lost, reconnecting..." not in out


async def test_a_refused_name_is_said_once_and_a_new_name_tried_when_typed() -> None:
    hellos: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def handler(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        msg = await read(reader)
        assert msg is not None
        await hellos.put(msg)
        if msg["name"] == "alice":
            message = "alice is a registered name; log in instead"
            await send(writer, {"type": "error", "code": "forbidden", "message": message})
            await reader.read()  # the server would wait for a login; the client hangs up
            return
        await send(writer, welcome(msg["name"]))
        await reader.read()

    server, port = await start_fake_server(handler)
    out: list[str] = []
    client = TerminalClient("127.0.0.1", port, "alice", out.append, backoff_initial=0.01)
    running = asyncio.create_task(client.run(None))
    try:
        assert (await asyncio.wait_for(hellos.get(), 5))["name"] == "alice"
        await asyncio.wait_for(client.waiting.wait(), 5)
        assert hellos.empty()  # not said again and again
        assert await client.handle_line("name ann")
        assert (await asyncio.wait_for(hellos.get(), 5))["name"] == "ann"
        await asyncio.wait_for(client.until_connected(), 5)
    finally:
        running.cancel()
        server.close()
        await server.wait_closed()
    assert "Cannot join as 'alice': alice is a registered name; log in instead." in out
    assert "Connected as ann (guest)." in out


# -- the house's confirmation limit ---------------------------------------------------------


def test_any_bid_or_maximum_above_the_house_limit_is_asked_about_in_words() -> None:
    state = ClientState()
    state.receive({**welcome(), "confirm_above": 50_000}, NOW)
    state.receive(snapshot(min_amount=30_000), NOW)  # 600.00 is only twice the minimum
    bid = parse_input("600", state)
    assert isinstance(bid, Confirm) and bid.bid == PlaceBid("L1", 60_000)
    assert bid.question.startswith(
        "Bid 600.00 USD on Vintage Watch? That is above the house's confirmation limit of"
        " 500.00 USD."
    )
    maximum = parse_input("max 600", state)
    assert isinstance(maximum, Confirm) and maximum.bid == LeaveMax("L1", 60_000)
    assert maximum.question.startswith("Leave a maximum of 600.00 USD on Vintage Watch?")
    assert parse_input("500", state) == PlaceBid("L1", 50_000)  # at the limit: not above it
    assert parse_input("max 500", state) == LeaveMax("L1", 50_000)
    both = parse_input("2000", state)
    assert isinstance(both, Confirm) and both.question.startswith(
        "Bid 2,000.00 USD on Vintage Watch? That is 6.7 times the minimum (300.00 USD) and"
        " above the house's confirmation limit of 500.00 USD."
    )
    state.receive(welcome(), NOW)  # a server without a limit
    assert parse_input("max 600", state) == LeaveMax("L1", 60_000)


async def test_a_confirmed_maximum_is_sent() -> None:
    sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def handler(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (msg := await read(reader)) is not None:
            if msg["type"] == "hello":
                await send(writer, {**welcome(), "confirm_above": 50_000})
                await send(writer, snapshot())
            elif msg["type"] == "bid":
                await sent.put(msg)

    server, port = await start_fake_server(handler)
    out: list[str] = []
    client = TerminalClient("127.0.0.1", port, "bob", out.append)
    running = asyncio.create_task(client.run(None))
    try:
        await asyncio.wait_for(client.until_connected(), 5)
        await client.handle_line("max 600")
        assert out[-1].startswith("Leave a maximum of 600.00 USD on Vintage Watch?")
        await client.handle_line("y")
        msg = await asyncio.wait_for(sent.get(), 5)
        assert (msg["lot"], msg["max_amount"]) == ("L1", 60_000) and "amount" not in msg
    finally:
        running.cancel()
        server.close()
        await server.wait_closed()


# -- who I am: a renamed guest, login, name -------------------------------------------------------


def test_a_renamed_guest_is_told_and_keeps_its_session_across_reconnects() -> None:
    state = ClientState()
    assert state.identify("bob") == {"type": "hello", "id": "hello", "name": "bob"}
    given = {**welcome("bob-2"), "token": None, "guest_token": "g-1"}
    assert state.receive(given, NOW).lines == (
        "Connected as bob-2 (guest).",
        "bob is taken by another guest; you bid as bob-2.",
    )
    # the reconnect gives the session back, so the guest keeps bob-2 (and is not told again)
    assert state.identify("bob") == {
        "type": "hello",
        "id": "hello",
        "name": "bob",
        "guest_token": "g-1",
    }
    assert state.receive(given, NOW).lines == ("Reconnected as bob-2; catching up.",)
    state.rename()
    assert state.identify("ann") == {"type": "hello", "id": "hello", "name": "ann"}


def test_a_greeting_before_our_hello_is_not_taken_for_its_answer() -> None:
    """A connection silent for 0.3 s is greeted as a text-mode guest (the original client
    never speaks first); a slow start can send our hello after that. The greeting's welcome
    (no id) is not our name being taken: the hello's own answer follows."""
    state = ClientState()
    state.identify("ann")
    greeting = {**welcome("guest-7611", id=None), "guest_token": "g-0"}
    assert state.receive(greeting, NOW).lines == ()
    alias = {"type": "alias", "sale": "S1", "bidder": "Bidder 1", "ts": SERVER_TS}
    assert state.receive(alias, NOW).lines == ()
    assert state.receive(welcome("ann"), NOW).lines == ("Connected as ann (guest).",)
    # an older server refuses the hello instead ("you are already guest-7611")
    state = ClientState()
    state.identify("ann")
    state.receive(greeting, NOW)
    refused = {"type": "error", "id": "hello", "code": "bad_request"}
    lines = state.receive({**refused, "message": "you are already guest-7611"}, NOW).lines
    assert lines == (
        "Connected as guest-7611 (guest).",
        "The server named you guest-7611 before your name reached it (you are already"
        " guest-7611); type name ann to ask for it again.",
    )
    assert state.refused is None


def test_login_name_and_mine_are_commands() -> None:
    state = opened_state()
    assert parse_input("login alice", state) == Login("alice")
    assert isinstance(parse_input("login", state), Invalid)
    assert parse_input("name Ann Lee", state) == Rename("Ann Lee")
    assert isinstance(parse_input("name", state), Invalid)
    assert isinstance(parse_input("name " + "x" * 33, state), Invalid)
    assert parse_input("mine", state) == Mine()
    state.receive({**welcome("alice"), "role": "bidder"}, NOW)
    refused = parse_input("name Ann", state)
    assert isinstance(refused, Invalid) and "logged in as alice" in refused.message


async def test_login_asks_the_password_then_reconnects_with_the_token() -> None:
    seen: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()

    async def handler(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (msg := await read(reader)) is not None:
            if msg["type"] == "ping":
                continue
            await seen.put((n, msg))
            if msg["type"] == "hello":
                await send(writer, welcome(msg["name"]))
            elif msg["type"] == "login" and msg["password"] == "wrong":
                error = {"type": "error", "id": msg["id"], "code": "not_authenticated"}
                await send(writer, {**error, "message": "wrong username or password"})
            elif msg["type"] == "login":
                reply = {**welcome(msg["username"]), "role": "bidder", "token": "tok-1"}
                await send(writer, {**reply, "id": msg["id"]})
                return  # drop the link: the reconnect must say who we are with the token
            elif msg["type"] == "auth":
                reply = {**welcome("alice", id="auth"), "role": "bidder", "token": msg["token"]}
                await send(writer, reply)

    server, port = await start_fake_server(handler)
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    out: list[str] = []
    client = TerminalClient("127.0.0.1", port, "bob", out.append, rng=random.Random(7))
    running = asyncio.create_task(client.run(queued_lines(lines)))

    async def expect() -> tuple[int, dict[str, Any]]:
        return await asyncio.wait_for(seen.get(), 5)

    try:
        assert await expect() == (1, {"type": "hello", "id": "hello", "name": "bob"})
        await asyncio.wait_for(client.until_connected(), 5)
        await client.handle_line("login alice")
        assert client.wants_password == "alice"  # the terminal asks it without echo
        assert out[-1] == "Password for alice (not shown):"
        await client.handle_line("wrong")
        _, failed = await expect()
        assert failed["type"] == "login" and failed["password"] == "wrong"
        await client.handle_line("login alice")
        await client.handle_line("the right one")
        _, login = await expect()
        assert (login["username"], login["password"]) == ("alice", "the right one")
        assert await expect() == (2, {"type": "auth", "id": "auth", "token": "tok-1"})
        await lines.put("quit")
        assert await asyncio.wait_for(running, 5) == 0
    finally:
        running.cancel()
        server.close()
        await server.wait_closed()
    assert "Login failed: wrong username or password. You are still bob." in out
    assert "Logged in as alice (bidder)." in out, out
    assert all("the right one" not in line for line in out)


async def test_name_joins_again_under_the_new_name() -> None:
    hellos: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()

    async def handler(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (msg := await read(reader)) is not None:
            if msg["type"] == "hello":
                await hellos.put((n, msg))
                await send(writer, {**welcome(msg["name"]), "guest_token": f"g-{n}"})

    server, port = await start_fake_server(handler)
    out: list[str] = []
    client = TerminalClient("127.0.0.1", port, "bob", out.append)
    running = asyncio.create_task(client.run(None))
    try:
        assert await asyncio.wait_for(hellos.get(), 5) == (
            1,
            {"type": "hello", "id": "hello", "name": "bob"},
        )
        await asyncio.wait_for(client.until_connected(), 5)
        await client.handle_line("name ann")
        assert await asyncio.wait_for(hellos.get(), 5) == (
            2,
            {"type": "hello", "id": "hello", "name": "ann"},
        )
    finally:
        running.cancel()
        server.close()
        await server.wait_closed()
    assert "Connection lost, reconnecting..." not in out


async def test_a_name_is_asked_on_start() -> None:
    answers = iter(["", "  Ann  "])
    asked: list[str] = []

    async def ask(prompt: str) -> str:
        asked.append(prompt)
        return next(answers)

    assert await ask_name(ask, "carol") == "carol"
    assert asked == ["Your name in the room (Enter for carol): "]
    assert await ask_name(ask, "carol") == "Ann"


# -- mine ------------------------------------------------------------------------------------------

ACTIVITY = {
    "type": "activity",
    "id": "m1",
    "user": "bob",
    "bids": [
        {"lot": "L1", "title": "Vintage Watch", "currency": "USD", "kind": "bid", "amount": 15000,
         "max_amount": None, "auto": False, "voided": False, "seq": 4, "ts": SERVER_TS},
        {"lot": "L2", "title": "Lamp", "currency": "USD", "kind": "bid", "amount": 2000,
         "max_amount": 4000, "auto": True, "voided": False, "seq": 2, "ts": SERVER_TS},
        {"lot": "L1", "title": "Vintage Watch", "currency": "USD", "kind": "max_raised",
         "amount": None, "max_amount": 30000, "auto": False, "voided": False, "seq": 1,
         "ts": SERVER_TS},
    ],
    "next_before": None,
    "leading": [
        {"lot": "L1", "title": "Vintage Watch", "sale": "S1", "currency": "USD", "state": "open",
         "amount": 15000, "ends_at": None, "my_amount": 15000, "max_amount": 30000}
    ],
    "outbid": [
        {"lot": "L2", "title": "Lamp", "sale": "S1", "currency": "USD", "state": "open",
         "amount": 5000, "ends_at": None, "my_amount": 2000, "max_amount": None}
    ],
    "won": [{"lot": "L0", "title": "Clock", "currency": "USD", "amount": 25000,
             "reason": "hammer", "ts": SERVER_TS}],
    "owed": {"USD": 25000},
    "watching": [],
    "ts": SERVER_TS,
}  # fmt: skip


def test_mine_shows_my_activity_in_words() -> None:
    state = opened_state()
    state.asked("m1", "mine")
    assert state.receive(ACTIVITY, NOW).lines == (
        "My activity (bob):",
        "  you lead: Vintage Watch [L1] at 150.00 USD, your maximum 300.00 USD",
        "  you were outbid: Lamp [L2], now 50.00 USD (your bid 20.00 USD)",
        "  won by you: Clock [L0] for 250.00 USD",
        "  you owe: 250.00 USD",
        "  your latest bids (3):",
        "    150.00 USD on Vintage Watch [L1]",
        "    20.00 USD on Lamp [L2] (automatic)",
        "    raised your maximum to 300.00 USD on Vintage Watch [L1]",
    )
    # the contract's first shape: lots as ids, read from what the client knows
    short = {"type": "activity", "id": "m2", "bids": [], "leading": ["L1"], "outbid": []}
    lines = state.receive({**short, "won": [], "owed": {}, "ts": SERVER_TS}, NOW).lines
    assert lines == ("My activity (bob):", "  you lead: Vintage Watch at 100.00 USD")
    empty = {**short, "leading": [], "won": [], "owed": {}, "ts": SERVER_TS}
    assert state.receive(empty, NOW).lines[-1] == "  nothing yet: no bids, no wins."
    state.asked("m3", "mine")
    unknown = {"type": "error", "id": "m3", "code": "unknown_type", "message": "unknown 'mine'"}
    assert state.receive(unknown, NOW).lines == ("Cannot show your activity: unknown 'mine'.",)


async def test_a_login_typed_before_the_welcome_is_sent_once_welcomed() -> None:
    gate = asyncio.Event()
    seen: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()

    async def handler(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (msg := await read(reader)) is not None:
            if msg["type"] == "ping":
                continue
            await seen.put((n, msg))
            if msg["type"] == "hello":
                await gate.wait()
                await send(writer, welcome(msg["name"]))

    server, port = await start_fake_server(handler)
    out: list[str] = []
    client = TerminalClient("127.0.0.1", port, "bob", out.append)
    running = asyncio.create_task(client.run(None))
    try:
        assert (await asyncio.wait_for(seen.get(), 5))[1]["type"] == "hello"
        await client.handle_line("login alice")
        await client.handle_line("her password")
        assert out[-1] == "Logging in as alice..."
        gate.set()
        n, login = await asyncio.wait_for(seen.get(), 5)
        assert (n, login["type"], login["username"]) == (1, "login", "alice")
    finally:
        running.cancel()
        server.close()
        await server.wait_closed()
