"""The TCP transport: lines in, bytes out, nothing about auctions.

JSON clients speak first; the original client never does, so a connection that stays silent
for ``greet_after`` seconds is greeted in text mode. The original client also sends its bids
without a line end (the bytes ``150``): in text mode a partial line that sits unfinished for
``partial_after`` seconds is taken as a whole line.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable
from typing import cast

from bidwire.engine.feed import Batch
from bidwire.transports.session import Session, SessionContext
from bidwire.wire.codec import MAX_MESSAGE_BYTES

WRITE_HIGH_WATER = 64 * 1024
"""Bytes buffered for a peer before it counts as not reading (then it gets conflated)."""
KERNEL_SEND_BUFFER = 128 * 1024
"""A fixed kernel send buffer: Linux would let a stalled peer's grow to 4 MiB, hiding it
from us and holding memory; with a cap we notice a slow reader in time and conflate."""


class TcpConnection(asyncio.Protocol):
    def __init__(
        self, ctx: SessionContext, *, greet_after: float = 0.3, partial_after: float = 0.05
    ) -> None:
        self.ctx = ctx
        self.greet_after = greet_after
        self.partial_after = partial_after
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self._buffer = b""
        self._idle: asyncio.TimerHandle | None = None
        self._partial: asyncio.TimerHandle | None = None
        self._backed_up = False
        self._closed = False
        self.address = ""

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one
        self.transport = cast(asyncio.Transport, transport)
        transport = self.transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, KERNEL_SEND_BUFFER)
        peer = transport.get_extra_info("peername")
        self.address = str(peer[0]) if isinstance(peer, tuple) and peer else "local"
        if not self.ctx.admit(self.address):
            # over the per-address cap: say why in both dialects, then hang up
            transport.write(
                b'{"type":"error","code":"rate_limited","message":"too many connections'
                b' from your address"}\nToo many connections from your address. [rate_limited]\n'
            )
            self.address = ""
            transport.close()
            return
        self.session = Session(self.ctx, self, address=self.address)
        self._idle = asyncio.get_running_loop().call_later(self.greet_after, self._on_idle)

    def data_received(self, data: bytes) -> None:
        session = self.session
        if session is None or session.closed:
            return
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._partial is not None:
            self._partial.cancel()
            self._partial = None
        buffer = self._buffer + data if self._buffer else data
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = buffer[start:end]
            start = end + 1
            if len(line) > MAX_MESSAGE_BYTES:
                self._buffer = b""
                session.on_too_large()
                return
            session.on_message(line[:-1] if line.endswith(b"\r") else line)
            if session.closed:
                return
        self._buffer = buffer[start:]
        if len(self._buffer) > MAX_MESSAGE_BYTES:
            self._buffer = b""
            session.on_too_large()
            return
        if self._buffer and session.mode != "json" and not self._buffer.lstrip().startswith(b"{"):
            self._partial = asyncio.get_running_loop().call_later(
                self.partial_after, self._flush_partial
            )

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        for handle in (self._idle, self._partial):
            if handle is not None:
                handle.cancel()
        if self.session is not None:
            self.session.on_close()
        if self.address:
            self.ctx.release(self.address)
            self.address = ""

    def pause_writing(self) -> None:
        self._backed_up = True
        if self.session is not None:
            self.ctx.feed.redirect(self.session)  # off the direct path: deliver() conflates

    def resume_writing(self) -> None:
        self._backed_up = False
        if self.session is not None:
            self.ctx.feed.redirect(self.session)
            self.session.on_writable()

    # -- timers ------------------------------------------------------------------------------

    def _on_idle(self) -> None:
        self._idle = None
        if self.session is not None:
            self.session.on_idle()

    def _flush_partial(self) -> None:
        self._partial = None
        line, self._buffer = self._buffer, b""
        if self.session is not None and line:
            self.session.on_message(line)

    # -- Outlet ------------------------------------------------------------------------------

    @property
    def backed_up(self) -> bool:
        return self._backed_up

    @property
    def direct_write(self) -> Callable[[bytes], object] | None:
        """The transport's own ``write`` for the feed's fast path, or None when it must not be
        used (backed up, closing): the feed asks again through ``redirect``."""
        transport = self.transport
        if transport is None or self._backed_up or self._closed or transport.is_closing():
            return None
        return transport.write

    def send_message(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data + b"\n")

    def send_batch(self, batch: Batch) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(batch.json_lines)

    def send_text(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def pause_reading(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def close(self) -> None:
        self._closed = True
        if self.transport is not None:
            self.transport.close()
        if self.session is not None:
            self.ctx.feed.redirect(self.session)


async def start_tcp(
    ctx: SessionContext,
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    greet_after: float = 0.3,
) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: TcpConnection(ctx, greet_after=greet_after),
        host,
        port,
        backlog=4096,
        ssl=ssl_context,
        reuse_address=True,
    )
