"""Defect 6 (issue 12): a guest is its session, not only a name. A guest who has bid keeps the
name while the session lives (across a restart too), so a newcomer asking for it is another
guest (``bob-2``) and never sees the earlier Bob's bids as its own; the session's token (in
the welcome, the HTTP guest session, the ``bidwire_guest`` cookie) makes a connection that
guest again, on TCP and WebSocket alike."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_helpers import (
    InProcess,
    ServerProcess,
    TcpJson,
    WsJson,
    in_process,
    recv,
    recv_until,
    serving,
)

from bidwire.accounts.service import Accounts
from bidwire.clock import FakeClock
from bidwire.engine import gate as gate_module
from bidwire.engine.gate import GUEST_IDLE_MS, HTTP_GUEST_IDLE_MS, Gate
from bidwire.store.memory import MemoryStore

pytestmark = pytest.mark.timeout(60)
LOT = "vintage-watch"


async def settled(server: InProcess) -> None:
    await asyncio.wait_for(server.ctx.house.settled(), 5)
    await asyncio.wait_for(server.ctx.feed.flushed(), 5)


async def connect(transport: str, ports: Any, cookie: str | None = None) -> TcpJson | WsJson:
    if transport == "tcp":
        return await TcpJson.connect(ports.tcp)
    if cookie is None:
        return await WsJson.connect(ports.http)
    from websockets.asyncio.client import connect as ws_connect

    headers = {"Cookie": f"bidwire_guest={cookie}"}
    ws = await asyncio.wait_for(
        ws_connect(f"ws://127.0.0.1:{ports.http}/ws", compression=None, additional_headers=headers),
        5,
    )
    return WsJson(ws)


async def ask(client: TcpJson | WsJson, message: dict[str, Any], wanted: str) -> dict[str, Any]:
    await client.send({**message, "id": "q"})
    while True:
        reply, _ = await recv_until(client, wanted)
        if reply.get("id") == "q":
            return reply


async def gone(server: InProcess, client: TcpJson | WsJson) -> None:
    """Close, and wait until the server has noticed (its name is then let go, or kept)."""
    released = server.ctx.next_release()
    await client.close()
    await asyncio.wait_for(released, 5)


@pytest.mark.parametrize("transport", ["tcp", "ws"])
async def test_a_guest_who_bid_keeps_the_name_and_comes_back_with_the_token(
    transport: str,
) -> None:
    async with in_process() as server, serving(server.ctx) as ports:
        server.ctx.house.start()
        await settled(server)
        bob = await connect(transport, ports)
        welcome = await ask(bob, {"type": "hello", "name": "Bob"}, "welcome")
        assert (welcome["user"], welcome["role"]) == ("Bob", "guest")
        token = welcome["guest_token"]
        assert isinstance(token, str) and len(token) >= 20
        least = (await server.client().get(f"/api/lots/{LOT}")).json()["min_amount"]
        accepted = await ask(bob, {"type": "bid", "lot": LOT, "amount": least}, "bid_accepted")
        assert accepted["bidder"] == "Bob"
        await gone(server, bob)

        newcomer = await connect(transport, ports)
        other = await ask(newcomer, {"type": "hello", "name": "bob"}, "welcome")
        assert other["user"] == "bob-2"  # Bob's bid, and any win, stays the earlier Bob's
        assert other["guest_token"] != token
        back = await connect(transport, ports)
        again = await ask(back, {"type": "hello", "guest_token": token}, "welcome")
        assert (again["user"], again["guest_token"]) == ("Bob", token)
        snapshot, _ = await recv_until(back, "snapshot")
        assert snapshot["high_bid"]["bidder"] == "Bob"  # the page can say "you lead"
        await newcomer.close()
        await back.close()


async def test_a_guest_who_never_bid_frees_the_name_when_it_leaves() -> None:
    async with in_process() as server, serving(server.ctx) as ports:
        amy = await TcpJson.connect(ports.tcp)
        welcome = await ask(amy, {"type": "hello", "name": "amy"}, "welcome")
        await gone(server, amy)
        again = await TcpJson.connect(ports.tcp)
        assert (await ask(again, {"type": "hello", "name": "amy"}, "welcome"))["user"] == "amy"
        # the ended session's token is no one's: with a name, a new guest; without, told so
        late = await TcpJson.connect(ports.tcp)
        refused = await ask(late, {"type": "hello", "guest_token": welcome["guest_token"]}, "error")
        assert refused["code"] == "not_authenticated" and "ended" in refused["message"]
        named = await ask(
            late, {"type": "hello", "guest_token": welcome["guest_token"], "name": "amy"}, "welcome"
        )
        assert named["user"] == "amy-2"
        await again.close()
        await late.close()


async def test_http_guest_sessions_and_wire_guests_are_one_kind() -> None:
    async with in_process() as server, serving(server.ctx) as ports:
        server.ctx.house.start()
        await settled(server)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports.http}") as http:
            made = (await http.post("/api/guest", json={"name": "cy"})).json()
            token = made["guest_token"]
            assert http.cookies.get("bidwire_guest") == token
            tcp = await TcpJson.connect(ports.tcp)
            welcome = await ask(tcp, {"type": "hello", "guest_token": token}, "welcome")
            assert (welcome["user"], welcome["guest_token"]) == ("cy", token)
            # a browser's WebSocket with the cookie is that guest from its first frame
            ws = await connect("ws", ports, cookie=token)
            unasked, _ = await recv_until(ws, "welcome")
            assert (unasked["user"], unasked["guest_token"]) == ("cy", token)
            # its page saying hello again is welcomed as the same guest, not refused
            hello = await ask(ws, {"type": "hello", "name": "cy"}, "welcome")
            assert hello["user"] == "cy"

            # and the other way: a wire guest's token bids over HTTP as that guest
            wire = await TcpJson.connect(ports.tcp)
            dee = await ask(wire, {"type": "hello", "name": "dee"}, "welcome")
            least = (await http.get(f"/api/lots/{LOT}")).json()["min_amount"]
            reply = await http.post(
                f"/api/lots/{LOT}/bids", json={"amount": least, "guest_token": dee["guest_token"]}
            )
            assert (reply.status_code, reply.json()["bidder"]) == (200, "dee")
            for client in (tcp, ws, wire):
                await client.close()


def test_a_guest_session_that_bid_ends_when_idle_and_stored_ones_are_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def run() -> None:
        clock = FakeClock(1_000_000)
        store = MemoryStore()
        gate = Gate(clock, Accounts(store, clock))
        holder = object()
        actor = await gate.guest("eve", holder)
        assert gate.bid(actor, "lot", 100) is not None
        gate.leave(holder)
        await gate.settled()
        assert [name for _, name, _ in await store.kept_guests(0, 10)] == ["eve"]
        assert (await gate.guest("eve", object())).name == "eve-2"
        clock.advance(GUEST_IDLE_MS + 1)  # a week without use: the name is free again
        assert (await gate.guest("eve", object())).name == "eve"
        await gate.settled()
        assert await store.kept_guests(0, 10) == []

        monkeypatch.setattr(gate_module, "MAX_IDLE_GUESTS", 3)
        for n in range(5):  # five guests who bid and left: only the three latest are kept
            someone = object()
            bidder = await gate.guest(f"g{n}", someone)
            gate.bid(bidder, "lot", 100)
            gate.leave(someone)
            clock.advance(1)
        await gate.settled()
        assert sorted(name for _, name, _ in await store.kept_guests(0, 10)) == ["g2", "g3", "g4"]
        assert (await gate.guest("g0", object())).name == "g0"
        # an HTTP guest session that never bid lives half an hour idle
        session = await gate.http_guest("hal")
        clock.advance(HTTP_GUEST_IDLE_MS + 1)
        assert gate.http_guest_of(session.token) is None

    asyncio.run(asyncio.wait_for(run(), 10))


async def test_a_guest_keeps_the_name_across_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "bidwire.db"
    server = ServerProcess(f"sqlite:///{db}", ["--demo", "--opening-seconds", "60"])
    await asyncio.to_thread(server.start)
    try:
        bob = await TcpJson.connect(server.tcp_port)
        welcome = await ask(bob, {"type": "hello", "name": "bob"}, "welcome")
        token = welcome["guest_token"]
        # the server listens before the first lot opens: its snapshot, or its lot_opened
        while (opened := await recv(bob, 10)) is not None:
            is_open = opened.get("state", "open") == "open"
            if opened["type"] in ("snapshot", "lot_opened") and is_open:
                break
        assert opened is not None
        bid = {"type": "bid", "lot": opened["lot"], "amount": opened["min_amount"]}
        await ask(bob, bid, "bid_accepted")
        await bob.close()
        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(server.start)
        newcomer = await TcpJson.connect(server.tcp_port)
        assert (await ask(newcomer, {"type": "hello", "name": "bob"}, "welcome"))["user"] == "bob-2"
        back = await TcpJson.connect(server.tcp_port)
        again = await ask(back, {"type": "hello", "guest_token": token}, "welcome")
        assert (again["user"], again["guest_token"]) == ("bob", token)
        await newcomer.close()
        await back.close()
    finally:
        await asyncio.to_thread(server.stop)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT token_hash, name FROM guest_sessions").fetchall()
    assert rows == [(hashlib.sha256(token.encode()).hexdigest(), "bob")]
    stored = b"".join(path.read_bytes() for path in tmp_path.iterdir() if path.is_file())
    assert token.encode() not in stored  # the token itself is never written
    assert json.dumps(token).encode() not in stored


async def test_a_websocket_handshake_sets_the_cookie_its_guest_session_will_have() -> None:
    """So a page reloaded, or reconnecting after a restart, is the same guest without asking."""
    async with in_process() as server, serving(server.ctx) as ports:
        first = await connect("ws", ports)
        assert isinstance(first, WsJson)
        set_cookie = first.ws.response.headers["set-cookie"]
        assert set_cookie.startswith("bidwire_guest=")
        assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie
        cookie = set_cookie.split(";", 1)[0].split("=", 1)[1]
        welcome = await ask(first, {"type": "hello", "name": "ann"}, "welcome")
        assert (welcome["user"], welcome["guest_token"]) == ("ann", cookie)
        reloaded = await connect("ws", ports, cookie=cookie)
        assert isinstance(reloaded, WsJson)
        assert "set-cookie" not in reloaded.ws.response.headers  # it is live: kept as it is
        unasked, _ = await recv_until(reloaded, "welcome")
        assert unasked["user"] == "ann"
        await first.close()
        await reloaded.close()


async def test_a_guest_who_registers_its_name_leaves_no_guest_session_behind() -> None:
    async with in_process() as server, serving(server.ctx) as ports:
        server.ctx.house.start()
        await settled(server)
        fay = await TcpJson.connect(ports.tcp)
        welcome = await ask(fay, {"type": "hello", "name": "fay"}, "welcome")
        least = (await server.client().get(f"/api/lots/{LOT}")).json()["min_amount"]
        await ask(fay, {"type": "bid", "lot": LOT, "amount": least}, "bid_accepted")
        account = {"type": "register", "username": "fay", "password": "fay-password-1"}
        assert (await ask(fay, account, "welcome"))["role"] == "bidder"
        # the old guest token cannot come back as a guest called fay: the name is an account's
        other = await TcpJson.connect(ports.tcp)
        hello = {"type": "hello", "guest_token": welcome["guest_token"], "name": "fay"}
        refused = await ask(other, hello, "error")
        assert refused["code"] == "forbidden" and "log in" in refused["message"]
        await fay.close()
        await other.close()
