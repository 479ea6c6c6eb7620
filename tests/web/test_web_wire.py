"""The WebSocket speaks the same protocol as TCP: same events, same seqs, same error codes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from web_helpers import (
    Client,
    GuestTokens,
    Ports,
    TcpJson,
    WsJson,
    hello,
    in_process,
    recv,
    recv_until,
    running_server,
    serving,
)

from bidwire.transports.session import SessionContext
from bidwire.transports.ws import FRAME_LIMIT, SEND_HARD_LIMIT, WsConnection
from bidwire.wire.batch import Batch, Outgoing
from bidwire.wire.codec import MAX_MESSAGE_BYTES

pytestmark = pytest.mark.timeout(60)

LOT = "vintage-watch"
LOT_EVENTS = {"lot_opened", "bid_placed", "lot_extended", "lot_closed"}


async def events_until_seq(client: Client, lot: str, seq: int) -> list[str]:
    """The raw event messages about ``lot`` up to and including ``seq``."""
    seen: list[str] = []
    while True:
        raw = await client.recv_raw(5)
        assert raw is not None, f"closed early; had {seen}"
        message = json.loads(raw)
        if message["type"] in LOT_EVENTS and message["lot"] == lot:
            seen.append(raw)
            if message["seq"] >= seq:
                return seen


async def test_websocket_and_tcp_see_the_same_events(live_server: Ports) -> None:
    tcp = await TcpJson.connect(live_server.tcp)
    ws = await WsJson.connect(live_server.http)
    try:
        tcp_snaps = await hello(tcp, "tcp-watcher")
        ws_snaps = await hello(ws, "ws-watcher")
        (tcp_snap,) = [s for s in tcp_snaps if s["lot"] == LOT]
        (ws_snap,) = [s for s in ws_snaps if s["lot"] == LOT]
        assert {k: v for k, v in tcp_snap.items() if k != "ts"} == {
            k: v for k, v in ws_snap.items() if k != "ts"
        }
        start = ws_snap["seq"]

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{live_server.http}") as http:
            amount = ws_snap["min_amount"]
            guests = GuestTokens()
            for i in range(6):
                body = {"amount": amount, "bidder": ("alice", "bob")[i % 2]}
                reply = guests.keep(
                    body, await http.post(f"/api/lots/{LOT}/bids", json=guests.body(body))
                )
                assert reply.status_code == 200, reply.text
                amount = reply.json()["amount"] + 500
        # One bid over each transport too, so both kinds of session publish.
        await tcp.send({"type": "bid", "id": "t1", "lot": LOT, "amount": amount})
        await ws.send({"type": "bid", "id": "w1", "lot": LOT, "amount": amount + 1000})
        last = start + 8

        tcp_events, ws_events = await asyncio.gather(
            events_until_seq(tcp, LOT, last), events_until_seq(ws, LOT, last)
        )
        # Encoded once, sent to both: byte for byte the same messages.
        assert tcp_events == ws_events
        seqs = [json.loads(raw)["seq"] for raw in ws_events]
        assert seqs == list(range(start + 1, last + 1))

        # Catching up by seq gives the same answer on both transports as well.
        for client in (tcp, ws):
            await client.send({"type": "resync", "id": "r", "lot": LOT, "since_seq": start + 2})
        tcp_again, ws_again = await asyncio.gather(
            events_until_seq(tcp, LOT, last), events_until_seq(ws, LOT, last)
        )
        assert tcp_again == ws_again == tcp_events[2:]
    finally:
        await tcp.close()
        await ws.close()


BAD_INPUTS: list[tuple[str, str, str]] = [
    # (what, the raw message, the type and code expected back)
    ("truncated JSON", '{"type": "bid", "lot": "vintage-watch", "amount": ', "error:bad_json"),
    ("not JSON at all", "hello there", "error:bad_json"),
    ("unknown type", '{"type": "dance", "id": 1}', "error:unknown_type"),
    ("missing type", '{"lot": "vintage-watch", "amount": 100}', "error:bad_request"),
    ("type not a string", '{"type": 7}', "error:bad_request"),
    ("JSON but not an object", "[1, 2, 3]", "error:bad_json"),
    ("missing field", '{"type": "bid", "id": "m"}', "error:bad_request"),
    (
        "negative amount",
        '{"type": "bid", "id": "n", "lot": "vintage-watch", "amount": -5}',
        "bid_rejected:bad_amount",
    ),
    (
        "float amount",
        '{"type": "bid", "id": "f", "lot": "vintage-watch", "amount": 150.5}',
        "bid_rejected:bad_amount",
    ),
    (
        "string amount",
        '{"type": "bid", "id": "s", "lot": "vintage-watch", "amount": "150"}',
        "bid_rejected:bad_amount",
    ),
    (
        "huge amount",
        '{"type": "bid", "id": "h", "lot": "vintage-watch", "amount": 10000000000000001}',
        "bid_rejected:bad_amount",
    ),
    (
        "zero amount",
        '{"type": "bid", "id": "z", "lot": "vintage-watch", "amount": 0}',
        "bid_rejected:bad_amount",
    ),
    (
        "unknown lot (bid)",
        '{"type": "bid", "id": "u", "lot": "no-such-lot", "amount": 50000}',
        "bid_rejected:unknown_lot",
    ),
    (
        "unknown lot (subscribe)",
        '{"type": "subscribe", "lots": ["no-such-lot"]}',
        "error:unknown_lot",
    ),
    (
        "unknown lot (resync)",
        '{"type": "resync", "lot": "no-such-lot", "since_seq": 0}',
        "error:unknown_lot",
    ),
]


async def answer(client: Client, raw: str) -> dict[str, Any]:
    await client.send_raw(raw)
    while True:
        message = await recv(client)
        assert message is not None, f"closed after {raw!r}"
        if message["type"] in ("error", "bid_rejected"):
            return message


async def test_bad_input_gets_the_same_codes_on_both_transports(live_server: Ports) -> None:
    tcp = await TcpJson.connect(live_server.tcp)
    ws = await WsJson.connect(live_server.http)
    try:
        await hello(tcp, "tcp-fuzz")
        await hello(ws, "ws-fuzz")
        for what, raw, expected in BAD_INPUTS:
            got = []
            for client in (tcp, ws):
                reply = await answer(client, raw)
                got.append(f"{reply['type']}:{reply['code']}")
            assert got == [expected, expected], what
        # Every one of those left the connection open and working.
        for client in (tcp, ws):
            await client.send({"type": "ping", "id": "still-here"})
            pong, _ = await recv_until(client, "pong")
            assert pong["id"] == "still-here"
    finally:
        await tcp.close()
        await ws.close()


async def test_a_message_over_64_kib_gets_too_large_and_closes(live_server: Ports) -> None:
    big = json.dumps({"type": "ping", "pad": "x" * MAX_MESSAGE_BYTES})
    assert MAX_MESSAGE_BYTES < len(big) < FRAME_LIMIT
    for client in (await TcpJson.connect(live_server.tcp), await WsJson.connect(live_server.http)):
        await hello(client, "big-talker")
        await client.send_raw(big)
        reply = await recv(client)
        assert reply is not None
        assert (reply["type"], reply["code"]) == ("error", "too_large"), type(client)
        assert await recv(client) is None  # and the server closed the connection
        await client.close()


async def test_a_message_of_exactly_64_kib_is_still_read(live_server: Ports) -> None:
    head = '{"type": "ping", "id": "edge", "pad": "'
    exact = head + "x" * (MAX_MESSAGE_BYTES - len(head) - 2) + '"}'
    assert len(exact.encode()) == MAX_MESSAGE_BYTES
    for client in (await TcpJson.connect(live_server.tcp), await WsJson.connect(live_server.http)):
        await hello(client, "edge")
        await client.send_raw(exact)
        pong, _ = await recv_until(client, "pong")
        assert pong["id"] == "edge"
        await client.close()


async def test_a_huge_websocket_frame_is_refused_unread(live_server: Ports) -> None:
    from websockets.exceptions import ConnectionClosed

    ws = await WsJson.connect(live_server.http)
    await hello(ws, "flooder")
    await ws.send_raw("x" * (FRAME_LIMIT + 1))
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big
    await ws.close()


class StuckSocket:
    """A WebSocket whose peer does not read until ``gate`` is set."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.sent: list[str] = []
        self.wrote = asyncio.Event()
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed_with: int | None = None

    async def send_text(self, text: str) -> None:
        await self.gate.wait()
        self.sent.append(text)
        self.wrote.set()

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def close(self, code: int = 1000) -> None:
        self.closed_with = code
        await self.incoming.put({"type": "websocket.disconnect", "code": code})


def stuck_connection() -> tuple[WsConnection, StuckSocket]:
    from bidwire.clock import FakeClock
    from bidwire.engine.gate import Gate
    from bidwire.transports.broadcast import Feed

    clock = FakeClock()
    ctx = SessionContext(house=None, feed=Feed(clock), clock=clock, gate=Gate(clock))  # type: ignore[arg-type]
    socket = StuckSocket()
    return WsConnection(ctx, socket), socket  # type: ignore[arg-type]


async def test_a_peer_that_stops_reading_is_conflated_not_waited_for() -> None:
    conn, socket = stuck_connection()
    runner = asyncio.create_task(conn.run())
    chunk = b'{"type":"pad","x":"' + b"x" * 60_000 + b'"}'
    for _ in range(5):
        conn.send_message(chunk)  # returns at once although nothing is read
    assert conn.backed_up
    # Backed up, the session stops queueing events for it (it will get a snapshot instead).
    conn.session.deliver(Batch([Outgoing("lot", b'{"type":"bid_placed"}')]))
    assert len(socket.sent) == 0
    socket.gate.set()
    async with asyncio.timeout(5):  # the writer drains; each frame it sends, look again
        while conn.backed_up:
            socket.wrote.clear()
            await socket.wrote.wait()
    assert all("bid_placed" not in frame for frame in socket.sent)
    conn.session.close()
    await asyncio.wait_for(runner, 5)
    assert socket.closed_with == 1000


async def test_a_peer_that_never_reads_its_replies_is_closed() -> None:
    conn, socket = stuck_connection()
    runner = asyncio.create_task(conn.run())
    chunk = b'{"type":"pad","x":"' + b"x" * 60_000 + b'"}'
    for _ in range(SEND_HARD_LIMIT // 60_000 + 2):
        conn.send_message(chunk)
    assert conn.session.closed
    socket.gate.set()
    await asyncio.wait_for(runner, 5)
    assert socket.closed_with == 1008


async def test_the_per_address_connection_cap_covers_the_websocket() -> None:
    async with in_process(max_connections_per_address=2) as server, serving(server.ctx) as ports:
        first = await WsJson.connect(ports.http)
        second = await TcpJson.connect(ports.tcp)
        await hello(first, "one")
        await hello(second, "two")
        third = await WsJson.connect(ports.http)
        refused = await recv(third)
        assert refused is not None
        assert (refused["type"], refused["code"]) == ("error", "rate_limited")
        assert await recv(third) is None
        noticed = server.ctx.next_release()
        await first.close()
        assert await asyncio.wait_for(noticed, 5) == "127.0.0.1"
        again = await WsJson.connect(ports.http)
        await hello(again, "three")
        for client in (second, third, again):
            await client.close()


async def test_http_bids_keep_the_wire_rules_for_who_may_bid() -> None:
    async with (
        running_server(bid_rate=0.001, bid_burst=2) as ports,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports.http}") as http,
    ):
        least = (await http.get(f"/api/lots/{LOT}")).json()["min_amount"]
        replies = [
            await http.post(f"/api/lots/{LOT}/bids", json={"amount": least, "bidder": "ann"})
            for _ in range(3)
        ]
        assert [r.status_code for r in replies] == [200, 409, 429]
        assert replies[2].json()["code"] == "rate_limited"
    async with (
        running_server(guests=False) as ports,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports.http}") as http,
    ):
        # As on the wire: a guest where guests are not allowed is not_authenticated (log in).
        reply = await http.post(f"/api/lots/{LOT}/bids", json={"amount": 10**6, "bidder": "x"})
        assert (reply.status_code, reply.json()["code"]) == (401, "not_authenticated")
