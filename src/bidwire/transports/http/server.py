"""Serving: uvicorn inside the application's event loop, beside the TCP server, leaving the
signals to ``bidwire.app.serve`` so that SIGTERM stops everything in one orderly sequence;
request headers with a deadline; the WebSocket routed around the FastAPI app."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Iterator

import h11
import uvicorn
from fastapi import WebSocket
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from bidwire.catalog import Defaults
from bidwire.errors import RequestTimeout

# The module, not its names: ws.py imports auth from this package, and may be imported first.
from bidwire.transports import ws
from bidwire.transports.http.app import create_app
from bidwire.transports.session import SessionContext

SHUTDOWN_SECONDS = 3
HEADER_TIMEOUT_SECONDS = 10.0
"""How long a request's headers may take to arrive, from the connection or the first byte."""
WS_PATH = "/ws"


class WebSocketFirst:
    """What uvicorn serves: the WebSocket at ``/ws`` straight to its handler, the rest to the
    FastAPI app.

    Why: FastAPI's routing, dependency and middleware layers stay on the stack of every open
    WebSocket for its whole life; without them an idle WebSocket connection costs 26.8 KiB of
    RSS instead of 38.3 (bench/README.md). The handler checks Origin and admission itself.
    """

    def __init__(self, app: ASGIApp, ctx: SessionContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == WS_PATH:
            await ws.websocket_endpoint(self.ctx, WebSocket(scope, receive, send))
        else:
            await self.app(scope, receive, send)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside our loop: it neither takes the signals nor exits the process."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # bidwire.app.serve owns SIGTERM and Ctrl-C; left to uvicorn, they would stop only it.
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        except SystemExit:
            # uvicorn logs the OSError and exits; we want an error the caller can report.
            self.should_exit = True
            if not self.ready.done():
                self.ready.set_exception(
                    OSError(f"cannot listen for HTTP on {self.config.host}:{self.config.port}")
                )
            return
        if not self.ready.done():
            self.ready.set_result(None)


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's headers.

    Why: uvicorn has none. Its keep-alive timer runs only between requests and stops at the
    first byte, so a client that sent "GET / HTTP/1.1" and nothing more held its socket (and
    a slot of the per-address budget an attacker would not respect) forever.
    """

    header_timeout = HEADER_TIMEOUT_SECONDS
    _header_timer: asyncio.TimerHandle | None = None
    _headers_begun = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            self._stop_header_timer()  # the request has begun, or this is a WebSocket now
            return
        self._headers_begun = True
        if self._header_timer is None:  # the next request on a kept-alive connection
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _stop_header_timer(self) -> None:
        self._headers_begun = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            return
        if self._headers_begun:  # a silent connection gets no answer, a stalled request 408
            body = json.dumps(
                {
                    "code": RequestTimeout.code,
                    "message": f"the request headers took more than {self.header_timeout:g} s",
                }
            ).encode()
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
            )
        self.transport.close()


class HttpServer:
    def __init__(self, server: _EmbeddedServer, task: asyncio.Task[None]) -> None:
        self._server = server
        self._task = task

    @property
    def port(self) -> int:
        port: int = self._server.servers[0].sockets[0].getsockname()[1]
        return port

    def http_connections(self) -> int:
        """Open HTTP connections; a WebSocket leaves this count when it upgrades (uvicorn
        hands it to its WebSocket protocol) and is counted by its session instead."""
        return sum(isinstance(c, H11Protocol) for c in self._server.server_state.connections)

    def close(self) -> None:
        """Stop accepting connections; the open ones stay until :meth:`stop`."""
        for server in self._server.servers:
            server.close()

    async def stop(self) -> None:
        self._server.should_exit = True
        done, _ = await asyncio.wait({self._task}, timeout=SHUTDOWN_SECONDS + 1)
        if not done:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def start_http(
    ctx: SessionContext,
    host: str,
    port: int,
    *,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    catalog_defaults: Defaults | None = None,
    header_timeout: float = HEADER_TIMEOUT_SECONDS,
) -> HttpServer:
    """Serve the API, the WebSocket and the web client; over TLS when given a certificate
    (then the login cookie is marked Secure)."""
    config = uvicorn.Config(
        WebSocketFirst(create_app(ctx, catalog_defaults), ctx),
        host=host,
        port=port,
        # h11 (what "auto" picks without httptools), with a deadline for request headers
        http=type(
            "HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": header_timeout}
        ),
        ssl_certfile=ssl_certfile or None,
        ssl_keyfile=ssl_keyfile or None,
        # uvicorn's sans-I/O implementation on the websockets library (the legacy "websockets"
        # one is deprecated), extended so the feed's frames go out pre-built (see ws.py).
        ws=ws.FramingProtocol,
        ws_per_message_deflate=False,  # per-connection zlib state costs tens of KiB each
        ws_max_size=ws.FRAME_LIMIT,
        lifespan="off",
        log_level="warning",
        log_config=None,  # keep the application's logging set-up
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=SHUTDOWN_SECONDS,
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(), name="bidwire-http")
    await asyncio.wait({server.ready, task}, return_when=asyncio.FIRST_COMPLETED)
    if not server.ready.done():
        task.result()  # it ended before listening: raise whatever ended it
        raise RuntimeError("the HTTP server stopped before it started")
    if server.ready.exception() is not None:
        await task
        server.ready.result()
    http = HttpServer(server, task)
    ctx.node.http_connections = http.http_connections
    return http
