"""A JSON watcher, on TCP or WebSocket, moves between the feed's direct path (fanout.py) and its
transport's queue, and never gets a byte out of order.

In process, on both event loops, with the server side's kernel send buffer made small so that a
reader that stops reading makes the transport queue within a few hundred events.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
import uvloop

from bidwire.bus.memory import MemoryBus
from bidwire.catalog import Defaults, demo_catalog
from bidwire.clock import SystemClock
from bidwire.domain.commands import Actor, PlaceBid
from bidwire.engine.gate import Gate
from bidwire.engine.house import AuctionHouse
from bidwire.store.memory import MemoryStore
from bidwire.transports.broadcast import Feed
from bidwire.transports.fanout import direct_path
from bidwire.transports.http import start_http
from bidwire.transports.session import SessionContext
from bidwire.transports.tcp import TcpConnection, start_tcp
from bidwire.transports.ws import WsConnection
from tests.e2e.conftest import check_stream
from tests.engine.test_house import Recorder

LoopRunner = Callable[[Coroutine[Any, Any, None]], None]
HELLO = b'{"type":"hello","name":"reader"}'


def read_available(sock: socket.socket) -> bytes:
    out = b""
    while True:
        try:
            chunk = sock.recv(1 << 16)
        except BlockingIOError:
            return out
        if not chunk:
            return out
        out += chunk


def ws_payloads(data: bytes) -> bytes:
    """Server frames (unmasked text frames) to newline-joined payloads; a partial last frame is
    left out. Anything but a whole text frame fails the test."""
    out, i = [], 0
    while i + 2 <= len(data):
        assert data[i] == 0x81, f"not a final text frame at byte {i}: {data[i : i + 8]!r}"
        size, i = data[i + 1], i + 2
        if size == 126:
            size, i = int.from_bytes(data[i : i + 2], "big"), i + 2
        elif size == 127:
            size, i = int.from_bytes(data[i : i + 8], "big"), i + 8
        if i + size > len(data):
            break
        out.append(data[i : i + size])
        i += size
    return b"".join(p + b"\n" for p in out)


def small_socket(port: int) -> socket.socket:
    """A client socket with a small receive buffer (set before connecting, or the window
    advertised at the handshake stays)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    return sock


def ws_client(port: int) -> socket.socket:
    sock = small_socket(port)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    mask = os.urandom(4)
    sock.sendall(
        bytes((0x81, 0x80 | len(HELLO)))
        + mask
        + bytes(b ^ mask[i % 4] for i, b in enumerate(HELLO))
    )
    return sock


class Stalling:
    """The client end: it reads its socket only inside ``read_until``, whenever the socket is
    readable; the rest of the time it stalls, and the server's side backs up."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.received = bytearray()
        self._seen: list[tuple[bytes, asyncio.Future[None]]] = []

    def _readable(self) -> None:
        self.received += read_available(self.sock)
        tail = self.received[-4096:]
        for wanted, future in self._seen:
            if wanted in tail and not future.done():
                future.set_result(None)

    def seen(self, wanted: bytes) -> asyncio.Future[None]:
        """Done once ``wanted`` is among the last bytes read."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seen.append((wanted, future))
        return future

    async def read_until(self, done: Awaitable[object], timeout: float) -> None:
        loop = asyncio.get_running_loop()
        self._readable()
        loop.add_reader(self.sock.fileno(), self._readable)
        try:
            await asyncio.wait_for(done, timeout)
        finally:
            loop.remove_reader(self.sock.fileno())


async def stop_and_go(transport: str) -> None:
    clock = SystemClock()
    bus = MemoryBus()
    feed = Feed(clock, direct=direct_path())
    feed.listen(bus)
    house = AuctionHouse(MemoryStore(), bus, feed.published, clock)
    for sale, lots in demo_catalog(Defaults(opening_seconds=3600)):
        await house.add_sale(sale, lots)
    published = Recorder()
    feed.subscribe_house(published)
    house.start()
    opened = await published.wait_for(lambda m: m["type"] == "lot_opened")
    feed.leave_house(published)
    lot = str(opened["lot"])
    ctx = SessionContext(house, feed, clock, Gate(clock))
    # Asked before connecting: the WebSocket client says hello from a thread while this loop
    # runs, so the session may join the direct path before a later ask would be made.
    joining = feed.on_direct()
    if transport == "tcp":
        tcp = await start_tcp(ctx, "127.0.0.1", 0)
        reader = small_socket(tcp.sockets[0].getsockname()[1])
        reader.sendall(HELLO + b"\n")
    else:
        http = await start_http(ctx, "127.0.0.1", 0)
        reader = await asyncio.to_thread(ws_client, http.port)
    reader.setblocking(False)
    joined = await asyncio.wait_for(joining, 5)  # the reader, once it said hello
    (session,) = ctx.sessions
    assert joined is session
    outlet = session.outlet
    if isinstance(outlet, TcpConnection):
        server_side = outlet.transport
    else:
        assert isinstance(outlet, WsConnection) and outlet._protocol is not None
        server_side = outlet._protocol.transport
    assert server_side is not None
    server_side.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)

    client = Stalling(reader)
    left_path, came_back = 0, 0
    bidders = [Actor("ann"), Actor("bob")]
    for n in range(4_000):
        placed = await house.place_bid(PlaceBid(bidders[n % 2], lot, house.lots[lot].min_amount()))
        assert not hasattr(placed, "code"), placed
        await feed.flushed()
        left_path += session not in feed.direct
        # Drain every 200 bids (back on the direct path), with one long stall in the middle
        # (a long queue; past the high-water mark on uvloop: conflation, then a snapshot).
        if n % 200 == 199 and not 1_000 <= n < 3_600:
            try:  # a WebSocket peer may hold 256 KiB queued: up to 2 s
                await client.read_until(feed.on_direct(session), 2)
                came_back += 1
            except TimeoutError:
                pass  # counted below: most drains must bring it back
    last = f'"seq":{house.lots[lot].seq},'.encode()
    with contextlib.suppress(TimeoutError):  # the asserts below say what is missing
        await client.read_until(client.seen(last), 10)
    received = bytes(client.received)
    reader.close()
    if transport == "tcp":
        tcp.close()
    else:
        await http.stop()
    await house.stop()
    feed.close()
    lines = ws_payloads(received) if transport == "ws" else received
    messages = check_stream(lines[: lines.rfind(b"\n") + 1], lot)
    assert left_path > 0, "the reader never made the transport queue: the test shows nothing"
    assert came_back > 3, "the connection never went back to the direct path"
    assert messages[-1]["seq"] == house.lots[lot].seq


@pytest.mark.parametrize("transport", ["tcp", "ws"])
@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_a_stop_and_go_reader_gets_every_byte_in_order(run: LoopRunner, transport: str) -> None:
    run(asyncio.wait_for(stop_and_go(transport), 60))
