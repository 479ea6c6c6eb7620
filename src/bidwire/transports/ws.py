"""The WebSocket transport: one JSON message per text frame, nothing about auctions.

Every connection gets the same Session as a TCP JSON client (``text_allowed=False``); this
module only moves frames. Writes never block the feed: each connection has a bounded send queue
drained by one writer task, so fan-out is a ``deque.append`` per subscriber and a browser on a
slow phone line delays nobody. When its queue passes the high-water mark the outlet reports
``backed_up``; the session then stops queueing events and, once the queue has drained, sends a
fresh snapshot instead of the backlog (conflation).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from collections.abc import Callable

from starlette.websockets import WebSocket, WebSocketDisconnect
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from bidwire.accounts.records import UserRecord
from bidwire.errors import ClientError, LimitsUnavailable
from bidwire.transports.fanout import DirectTarget
from bidwire.transports.http.auth import (
    GUEST_COOKIE,
    cookie_token,
    foreign_origin,
    guest_cookie_header,
)
from bidwire.transports.session import Session, SessionContext
from bidwire.wire import codec
from bidwire.wire.batch import Batch
from bidwire.wire.codec import MAX_MESSAGE_BYTES

log = logging.getLogger("bidwire.ws")

SEND_HIGH_WATER = 256 * 1024
"""Queued characters before the peer counts as not reading (the same budget as TCP's)."""
SEND_LOW_WATER = 64 * 1024
"""A backed-up peer is writable again once its queue is this short."""
SEND_HARD_LIMIT = 4 * 1024 * 1024
"""Events stop at the high-water mark, but replies do not: a peer that keeps asking without
reading would grow the queue forever. Past this it is closed."""
FRAME_LIMIT = 2 * MAX_MESSAGE_BYTES
"""The WebSocket library's own cut-off (uvicorn ``ws_max_size``). Frames between the protocol's
64 KiB and this reach us and get a polite ``too_large`` before the close; anything larger is
refused by the library unread (close code 1009), so a hostile peer cannot make us buffer it."""
CLOSE_TIMEOUT = 2.0
"""How long a closing connection may take to flush its last frames (an error, a goodbye)."""

CLOSE_NORMAL = 1000
CLOSE_TOO_BIG = 1009
CLOSE_POLICY = 1008
CLOSE_TRY_LATER = 1013

_TEXT_CACHE_SIZE = 4096
_text_cache: dict[bytes, str] = {}


def _text(body: bytes) -> str:
    """ASGI wants a ``str`` for a text frame. The feed encodes each event once and hands the same
    bytes object to every subscriber, so decode it once for all of them: ``bytes`` caches its
    hash, and the dict finds the same object by identity."""
    text = _text_cache.get(body)
    if text is None:
        if len(_text_cache) >= _TEXT_CACHE_SIZE:
            _text_cache.clear()
        text = _text_cache[body] = body.decode()
    return text


def _byte_length(data: str | bytes) -> int:
    if isinstance(data, bytes):
        return len(data)
    # Each character is at most 4 bytes in UTF-8: skip the encode for everything short.
    return len(data) if len(data) * 4 <= MAX_MESSAGE_BYTES else len(data.encode())


PROTOCOL_SCOPE_KEY = "bidwire.ws_protocol"
DRAIN_POLL_SECONDS = 0.05


class FramingProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol that lets our outlet reach its transport.

    Why: per event and per connection, the ASGI path (queue, writer task, Starlette, uvicorn,
    framing) costs ~12 µs of the server's core; 10,000 watchers saturated it (bench/README.md).
    A server frame is unmasked and uncompressed, so one event's frame bytes are the same for
    every connection (``Batch.ws_frames``): the feed sends them to the socket itself while
    nothing is queued for that peer (fanout.py), and ``WsConnection.send_batch`` writes them to
    the transport otherwise. uvicorn writes each of its own frames with a single
    ``transport.write``, so ours always land between whole frames.
    """

    on_flow: Callable[[], None] | None = None
    """Told when ``queued`` changes or the connection is lost (the WsConnection's redirect)."""
    queued = False
    """The transport holds bytes the socket has not taken yet."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if transport.get_extra_info("sslcontext") is None:
            # High water 0: pause_writing at the first byte the transport has to queue, resume
            # once none is left (uvicorn's own send() then waits for a full drain too). Not
            # for wss, whose events always go through the TLS transport's write.
            self.transport.set_write_buffer_limits(high=0)

    def pause_writing(self) -> None:
        super().pause_writing()
        self.queued = True
        self._tell()

    def resume_writing(self) -> None:
        super().resume_writing()
        self.queued = False
        self._tell()

    def connection_lost(self, exc: Exception | None) -> None:
        # Before the loop closes the socket (right after this returns), while our session
        # only learns of it later, through ASGI: its fd must leave the feed's path now.
        self.queued = True
        self._tell()
        super().connection_lost(exc)

    def _tell(self) -> None:
        if self.on_flow is not None:
            self.on_flow()

    async def run_asgi(self) -> None:
        self.scope[PROTOCOL_SCOPE_KEY] = self  # type: ignore[literal-required]
        await super().run_asgi()


class WsConnection:
    """One WebSocket peer: the reader is the ASGI endpoint itself, plus one writer task."""

    def __init__(self, ctx: SessionContext, websocket: WebSocket, address: str = "") -> None:
        self.websocket = websocket
        self._queue: deque[str] = deque()
        self._queued = 0
        self._backed_up = False
        self._wake = asyncio.Event()
        self._closing = False
        self._close_code = CLOSE_NORMAL
        self._readable = asyncio.Event()
        self._readable.set()
        scope = getattr(websocket, "scope", None) or {}  # test doubles may have none
        self._protocol: FramingProtocol | None = scope.get(PROTOCOL_SCOPE_KEY)
        self._sending = False
        """The writer task holds a reply that uvicorn may not have written yet."""
        self._fd = -1
        self.session = Session(ctx, self, text_allowed=False, address=address)
        if self._protocol is not None:
            transport = self._protocol.transport
            sock = transport.get_extra_info("socket")
            if sock is not None and transport.get_extra_info("sslcontext") is None:
                self._fd = sock.fileno()  # not for wss: TLS must wrap every byte
            self._protocol.on_flow = self._redirect

    async def run(self) -> None:
        writer = asyncio.create_task(self._write())
        try:
            await self._read()
        finally:
            self.session.on_close()
            self._closing = True
            self._wake.set()
            # The writer flushes what the session said last (too_large, server_closing), then
            # closes; a peer that will not take it does not get to hold the endpoint open.
            done, _ = await asyncio.wait({writer}, timeout=CLOSE_TIMEOUT)
            if not done:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer

    async def _read(self) -> None:
        session = self.session
        while not session.closed:
            if not self._readable.is_set():
                # The session's inbox is full: leaving frames in the library's bounded queue
                # makes it stop reading the socket, so the peer feels the backpressure.
                await self._readable.wait()
                continue
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            data: str | bytes = text if text is not None else message.get("bytes") or b""
            if _byte_length(data) > MAX_MESSAGE_BYTES:
                self._close_code = CLOSE_TOO_BIG
                session.on_too_large()
                return
            session.on_message(data)

    async def _write(self) -> None:
        websocket = self.websocket
        try:
            while True:
                if not self._queue:
                    if self._closing:
                        break
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                frame = self._queue.popleft()
                self._queued -= len(frame)
                self._sending = True
                try:
                    await websocket.send_text(frame)
                finally:
                    self._sending = False
                if not self._queue:
                    self._redirect()  # replies all written: events may go straight again
                if self._backed_up and self._queued <= SEND_LOW_WATER:
                    self._backed_up = False
                    self.session.on_writable()
            await websocket.close(self._close_code)
        except (WebSocketDisconnect, RuntimeError, OSError):
            # The peer left (or the close raced its own): nothing more to tell it.
            pass

    def _enqueue(self, frame: str) -> None:
        if self._closing:
            return
        self._queue.append(frame)
        if len(self._queue) == 1:
            self._redirect()  # events must now wait behind this reply
        self._queued += len(frame)
        if self._queued >= SEND_HIGH_WATER:
            self._backed_up = True
            if self._queued >= SEND_HARD_LIMIT:
                log.warning("closing a WebSocket peer that does not read its replies")
                self._queue.clear()
                self._queued = 0
                self._close_code = CLOSE_POLICY
                self.session.close()
                return
        self._wake.set()

    def _redirect(self) -> None:
        self.session.ctx.feed.redirect(self.session)

    # -- Outlet ------------------------------------------------------------------------------

    transport_kind = "ws"
    """How /metrics counts this connection."""

    @property
    def queued_bytes(self) -> int:
        """Replies queued here and bytes the transport holds (read by /metrics)."""
        protocol = self._protocol
        held = 0 if protocol is None else protocol.transport.get_write_buffer_size()
        return self._queued + held

    @property
    def backed_up(self) -> bool:
        return self._backed_up

    @property
    def direct_target(self) -> DirectTarget | None:
        """The socket, and the transport's write, for the feed's direct path; None while a
        reply or queued bytes must go first, or the connection is closing: the feed asks
        again (``_redirect``) when that changes."""
        protocol = self._protocol
        if (
            protocol is None
            or self._queue
            or self._sending
            or self._closing
            or protocol.queued
            or not protocol.handshake_complete
            or protocol.close_sent
            or protocol.transport.is_closing()
        ):
            return None
        return DirectTarget(self._fd, protocol.transport.write, "ws_frames")

    def send_message(self, data: bytes) -> None:
        self._enqueue(data.decode())

    def send_batch(self, batch: Batch) -> None:
        protocol = self._protocol
        if (
            protocol is None
            or self._queue  # replies wait ahead of these events: keep the order
            or self._closing
            or not protocol.handshake_complete
            or protocol.close_sent
            or protocol.transport.is_closing()
        ):
            for item in batch.items:
                self._enqueue(_text(item.json))
            return
        transport = protocol.transport
        transport.write(batch.ws_frames)
        if not self._backed_up and transport.get_write_buffer_size() > SEND_HIGH_WATER:
            self._backed_up = True  # the session conflates until the peer drains
            self._watch_drain()

    def _watch_drain(self) -> None:
        protocol = self._protocol
        if self._closing or protocol is None or protocol.transport.is_closing():
            return
        if protocol.transport.get_write_buffer_size() > SEND_LOW_WATER:
            asyncio.get_running_loop().call_later(DRAIN_POLL_SECONDS, self._watch_drain)
            return
        self._backed_up = False
        self.session.on_writable()

    def send_text(self, data: bytes) -> None:
        # Sessions on this transport never enter text mode; if one ever did, a person reading
        # the frames would still see the lines.
        self._enqueue(data.decode())

    def pause_reading(self) -> None:
        self._readable.clear()

    def resume_reading(self) -> None:
        self._readable.set()

    def close_for_policy(self) -> None:
        """Close with 1008: the session ended for a reason of policy (blocked, logged out)."""
        self._close_code = CLOSE_POLICY
        self.close()

    def close(self) -> None:
        self._closing = True
        self._readable.set()  # a paused reader must notice the close
        self._wake.set()
        self._redirect()


async def _cookie_user(ctx: SessionContext, websocket: WebSocket) -> tuple[UserRecord, str] | str:
    """The user behind the login cookie, or why it was refused ("" when there is none)."""
    token = cookie_token(websocket)
    if token is None or ctx.accounts is None:
        return ""
    try:
        return await ctx.accounts.authenticate(token), token
    except ClientError as err:
        return str(err)


async def websocket_endpoint(ctx: SessionContext, websocket: WebSocket) -> None:
    address = websocket.client.host if websocket.client else "local"
    if foreign_origin(websocket):
        # A page on another site must not ride on this browser's login cookie (cross-site
        # WebSocket hijacking): closing before accept answers the handshake with HTTP 403.
        log.info("refused a WebSocket from origin %.100r", websocket.headers.get("origin"))
        await websocket.close(CLOSE_POLICY)
        return
    headers = []
    minted = None
    cookie = websocket.cookies.get(GUEST_COOKIE)
    try:
        live = await ctx.gate.recall_guest(cookie)
    except LimitsUnavailable:
        live = True  # not known now: keep the browser's cookie rather than replace its guest
    if ctx.guests_allowed and not live:
        # The token of the guest session this connection may become, as the browser's cookie:
        # a reload or a reconnect then resumes that guest (gate.py: mint_token).
        minted = secrets.token_urlsafe(24)
        headers.append(guest_cookie_header(websocket, minted))
    await websocket.accept(headers=headers)
    if not ctx.admit(address):
        # Over the per-address cap, as on TCP: say why in the protocol's words, then hang up.
        await websocket.send_text(
            '{"type":"error","code":"rate_limited","message":"too many connections'
            ' from your address"}'
        )
        await websocket.close(CLOSE_TRY_LATER)
        return
    try:
        connection = WsConnection(ctx, websocket, address)
        if minted is not None:
            ctx.gate.preset_token(connection.session, minted)
        await _identify(ctx, websocket, connection.session)
        await connection.run()
    finally:
        ctx.release(address)


async def _identify(ctx: SessionContext, websocket: WebSocket, session: Session) -> None:
    """A browser logged in over HTTP starts its connection as that user; one with a live guest
    session (the ``bidwire_guest`` cookie), as that guest. An expired or revoked login cookie
    is refused in words (``not_authenticated``); the page may still log in or, where the
    server allows guests, say hello."""
    found = await _cookie_user(ctx, websocket)
    if isinstance(found, str):
        guest = websocket.cookies.get(GUEST_COOKIE)
        if guest and session.adopt_guest(guest):  # the guest session of this browser
            return
        if found:
            session.outlet.send_message(
                codec.encode(
                    codec.Error(
                        "not_authenticated",
                        f"your login cookie was refused: {found}",
                        ctx.clock.now_ms(),
                    )
                )
            )
        return
    user, token = found
    adopt = getattr(session, "adopt", None)
    if adopt is not None:
        adopt(user, token)
    else:
        # Until Session can be told who it is, the same path as a client's own ``auth``.
        session.on_message(json.dumps({"type": "auth", "id": "cookie", "token": token}))
