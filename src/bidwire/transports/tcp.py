"""The TCP transport: lines in, bytes out, nothing about auctions.

JSON clients speak first; the original client never does, so a connection that stays silent
for ``greet_after`` seconds is greeted in text mode. The original client also sends its bids
without a line end (the bytes ``150``): in text mode a partial line that sits unfinished for
``partial_after`` seconds is taken as a whole line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from typing import cast

from bidwire.transports.fanout import DirectTarget
from bidwire.transports.session import Session, SessionContext
from bidwire.wire.batch import Batch
from bidwire.wire.codec import MAX_MESSAGE_BYTES

log = logging.getLogger("bidwire.tcp")

WRITE_HIGH_WATER = 64 * 1024
"""Bytes queued for a peer before it counts as not reading (then it gets conflated)."""
KERNEL_SEND_BUFFER = 128 * 1024
"""A fixed kernel send buffer: Linux would let a stalled peer's grow to 4 MiB, hiding it
from us and holding memory; with a cap we notice a slow reader in time and conflate."""
REPLY_BUFFER_LIMIT = 4 * 1024 * 1024
"""Bytes queued for a peer past which it is closed (the WebSocket's ``SEND_HARD_LIMIT``).
Events stop at ``WRITE_HIGH_WATER``, but a reply cannot be dropped: a peer that asks for
resyncs without reading grew the server by 3.6 GB in 15 s (tests/e2e/test_reply_flood.py)."""
CLOSE_TIMEOUT = 2.0
"""How long a closing connection may take to flush its last bytes before it is cut: a peer
that does not read would otherwise hold the socket and everything queued for it."""


class TcpConnection(asyncio.Protocol):
    def __init__(
        self,
        ctx: SessionContext,
        *,
        greet_after: float = 0.3,
        partial_after: float = 0.05,
        tls: bool = False,
    ) -> None:
        self.ctx = ctx
        self.tls = tls
        self.greet_after = greet_after
        self.partial_after = partial_after
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self._buffer = b""
        self._idle: asyncio.TimerHandle | None = None
        self._partial: asyncio.TimerHandle | None = None
        self._queued = False
        """The transport holds bytes the socket has not taken yet (see connection_made)."""
        self._fd = -1
        self._closed = False
        self._cut_off = False
        self._abort: asyncio.TimerHandle | None = None
        self.address = ""

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one
        self.transport = cast(asyncio.Transport, transport)
        transport = self.transport
        # High water 0: pause_writing as soon as the transport has to queue a byte, and
        # resume_writing once it has none. While it has none, the feed may send to the socket
        # itself (fanout.py) without overtaking anything. TLS keeps the usual mark: its events
        # always go through the transport's write.
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER if self.tls else 0)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, KERNEL_SEND_BUFFER)
            if not self.tls:
                self._fd = sock.fileno()
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
        for handle in (self._idle, self._partial, self._abort):
            if handle is not None:
                handle.cancel()
        if self.session is not None:
            self.session.on_close()
        if self.address:
            self.ctx.release(self.address)
            self.address = ""

    def pause_writing(self) -> None:
        self._queued = True
        if self.session is not None:
            self.ctx.feed.redirect(self.session)  # off the direct path until drained

    def resume_writing(self) -> None:
        self._queued = False
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

    transport_kind = "tcp"
    """How /metrics counts this connection."""

    @property
    def queued_bytes(self) -> int:
        """Bytes written and not yet taken by the peer's socket (read by /metrics)."""
        return 0 if self.transport is None else self.transport.get_write_buffer_size()

    @property
    def backed_up(self) -> bool:
        """The peer is not reading: the session stops sending events (conflation)."""
        transport = self.transport
        return (
            self._queued
            and transport is not None
            and transport.get_write_buffer_size() > WRITE_HIGH_WATER
        )

    @property
    def direct_target(self) -> DirectTarget | None:
        """The socket and the transport's ``write`` for the feed's direct path, or None while
        the transport holds queued bytes or is closing: the feed asks again through
        ``redirect`` when that changes."""
        transport = self.transport
        if transport is None or self._queued or self._closed or transport.is_closing():
            return None
        return DirectTarget(self._fd, transport.write)

    def send_message(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data + b"\n")
            self._check_unread(self.transport)

    def send_batch(self, batch: Batch) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(batch.json_lines)

    def send_text(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            self._check_unread(self.transport)

    def _check_unread(self, transport: asyncio.Transport) -> None:
        if self._cut_off or transport.get_write_buffer_size() <= REPLY_BUFFER_LIMIT:
            return
        self._cut_off = True  # the session's last word comes back through here
        log.warning("closing a TCP peer that does not read its replies (%s)", self.address)
        if self.session is not None:
            self.session.on_not_reading()
        else:
            self.close()

    def pause_reading(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def close(self) -> None:
        self._closed = True
        transport = self.transport
        if transport is not None:
            transport.close()
            if self._abort is None:
                loop = asyncio.get_running_loop()
                self._abort = loop.call_later(CLOSE_TIMEOUT, transport.abort)
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
    tls = ssl_context is not None
    return await loop.create_server(
        lambda: TcpConnection(ctx, greet_after=greet_after, tls=tls),
        host,
        port,
        backlog=4096,
        ssl=ssl_context,
        reuse_address=True,
    )
