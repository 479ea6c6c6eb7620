"""A JSON watcher on TCP moves between the feed's direct path and its transport's queue.

In process, on both event loops, with the server side's kernel send buffer made small so that
a reader that stops reading makes the transport queue within a few hundred events.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from bidwire.catalog import Defaults, demo_catalog
from bidwire.clock import SystemClock
from bidwire.domain.commands import Actor
from bidwire.engine.feed import Feed
from bidwire.engine.house import AuctionHouse
from bidwire.store.memory import MemoryStore
from bidwire.transports.fanout import direct_path
from bidwire.transports.session import SessionContext
from bidwire.transports.tcp import TcpConnection, start_tcp
from tests.e2e.conftest import check_stream

LoopRunner = Callable[[Coroutine[Any, Any, None]], None]


def read_available(sock: socket.socket, limit: int = 1 << 30) -> bytes:
    out = b""
    while len(out) < limit:
        try:
            chunk = sock.recv(min(1 << 16, limit - len(out)))
        except BlockingIOError:
            break
        if not chunk:
            break
        out += chunk
    return out


async def stop_and_go() -> None:
    clock = SystemClock()
    feed = Feed(clock, direct=direct_path())
    house = AuctionHouse(MemoryStore(), feed, clock)
    for sale, lots in demo_catalog(Defaults(opening_seconds=3600)):
        await house.add_sale(sale, lots)
    house.start()
    deadline = asyncio.get_running_loop().time() + 5
    while not any(lot.status == "open" for lot in house.lots.values()):
        assert asyncio.get_running_loop().time() < deadline, "no lot opened"
        await asyncio.sleep(0.01)
    lot = next(lot for lot in house.lots.values() if lot.status == "open").id
    ctx = SessionContext(house, feed, clock)
    server = await start_tcp(ctx, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader = socket.socket()
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader.connect(("127.0.0.1", port))
    reader.sendall(b'{"type":"hello","name":"reader"}\n')
    reader.setblocking(False)
    loop = asyncio.get_running_loop()
    while not ctx.sessions:
        await asyncio.sleep(0.01)
    (session,) = ctx.sessions
    outlet = session.outlet
    assert isinstance(outlet, TcpConnection) and outlet.transport is not None
    outlet.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    deadline = loop.time() + 5
    while session not in feed.direct and loop.time() < deadline:
        await asyncio.sleep(0.01)
    assert session in feed.direct

    received, left_path, came_back = b"", 0, 0
    amount = house.lots[lot].min_amount()
    bidders = [Actor("ann"), Actor("bob")]
    for n in range(3_000):
        placed = await house.place_bid(bidders[n % 2], lot, amount)
        assert not hasattr(placed, "code"), placed
        amount = house.lots[lot].min_amount()
        await asyncio.sleep(0)  # let the feed flush
        if session not in feed.direct:
            left_path += 1
        if n % 200 == 199:  # drain now and then: back on the direct path
            for _ in range(200):
                received += read_available(reader)
                await asyncio.sleep(0.002)
                if session in feed.direct:
                    came_back += 1
                    break
    last = f'"seq":{house.lots[lot].seq},'.encode()
    deadline = loop.time() + 10
    while last not in received[-4096:] and loop.time() < deadline:
        received += read_available(reader)
        await asyncio.sleep(0.002)
    reader.close()
    server.close()
    await house.stop()
    feed.close()
    messages = check_stream(received[: received.rfind(b"\n") + 1], lot)
    assert left_path > 0, "the reader never made the transport queue: the test shows nothing"
    assert came_back > 3, "the connection never went back to the direct path"
    assert messages[-1]["seq"] == house.lots[lot].seq


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_a_stop_and_go_reader_gets_whole_lines_in_order(run: LoopRunner) -> None:
    run(asyncio.wait_for(stop_and_go(), 60))
