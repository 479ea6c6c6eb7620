"""Replies to a TCP peer are bounded like its events: past the limit it is told, then cut off."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bidwire.clock import FakeClock
from bidwire.engine.gate import Gate
from bidwire.store.memory import MemoryStore
from bidwire.transports import tcp
from bidwire.transports.session import SessionContext
from bidwire.transports.tcp import TcpConnection
from tests.engine.test_house import house_and_feed

LIMIT = 64 * 1024
"""A smaller limit than the server's, so the test sends a few thousand requests, not 100,000."""


class StalledTransport:
    """A transport whose peer never reads what it is sent and, whenever the session will take
    more, sends ``request`` again: everything written stays queued."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.connection: TcpConnection | None = None
        self.last_write = b""
        self.queued = 0
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.aborted: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def write(self, data: bytes) -> None:
        self.last_write = data
        self.queued += len(data)

    def get_write_buffer_size(self) -> int:
        return self.queued

    def is_closing(self) -> bool:
        return self.closed.done()

    def close(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def abort(self) -> None:
        self.close()
        if not self.aborted.done():
            self.aborted.set_result(None)

    def get_extra_info(self, name: str) -> Any:
        return ("10.1.2.3", 4000) if name == "peername" else None

    def set_write_buffer_limits(self, high: int) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        self.send_more()

    def send_more(self) -> None:
        assert self.connection is not None
        assert self.queued < 2 * LIMIT, "never cut off"
        self.connection.data_received(self.request * 300)  # past the inbox's 256: it pauses


@pytest.fixture
async def ctx(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SessionContext]:
    monkeypatch.setattr(
        tcp, "CLOSE_TIMEOUT", 0.0, raising=False
    )  # the cut-off comes on the next loop turn
    monkeypatch.setattr(tcp, "REPLY_BUFFER_LIMIT", LIMIT, raising=False)
    clock = FakeClock()
    house, feed = house_and_feed(MemoryStore(), clock)
    yield SessionContext(house, feed, clock, Gate(clock))
    await house.stop()
    feed.close()


def flood(ctx: SessionContext, request: bytes, text_mode: bool = False) -> StalledTransport:
    connection = TcpConnection(ctx, greet_after=3600)
    transport = StalledTransport(request)
    transport.connection = connection
    connection.connection_made(transport)  # type: ignore[arg-type]
    assert connection.session is not None
    if text_mode:
        connection.session.on_idle()  # the original client's way in
    else:
        connection.data_received(b'{"type":"hello","name":"asker"}\n')
    transport.send_more()
    return transport


async def test_json_replies_past_the_limit_close_the_connection(ctx: SessionContext) -> None:
    transport = flood(ctx, b'{"type":"ping","id":1}\n')
    await asyncio.wait_for(transport.aborted, 10)
    last = json.loads(transport.last_write)
    assert (last["type"], last["code"]) == ("error", "not_reading")
    assert "unread" in last["message"]
    assert not ctx.sessions, "the session is still open"


async def test_text_mode_is_told_in_words(ctx: SessionContext) -> None:
    transport = flood(ctx, b"help\n", text_mode=True)
    await asyncio.wait_for(transport.aborted, 10)
    assert transport.last_write.endswith(b"[not_reading]\n")
    assert not ctx.sessions
