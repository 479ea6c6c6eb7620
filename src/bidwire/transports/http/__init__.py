"""The HTTP side: the JSON API, the WebSocket endpoint and the web client, on one port.

Thin like the TCP transport: endpoints translate HTTP into calls on the house and the feed and
back; every auction rule stays in the engine (a bid here is ``house.place_bid``, exactly as on
the wire). Pydantic lives only here, at the edge, to validate requests and to describe the
responses in ``/openapi.json``.

By area: ``public`` (health, sales, lots, bids, guests), ``accounts`` (info, register, login,
logout, me) and ``admin`` (everything under /api/admin) are routers whose endpoints get the
session context by a dependency (``edge.context``); ``app`` composes them; ``auth`` says who is
asking; ``edge`` holds the error answers and the body limit; ``models`` the pydantic models;
``server`` embeds uvicorn.
"""

from __future__ import annotations

from bidwire.transports.http.app import WEB_DIR, create_app
from bidwire.transports.http.auth import GUEST_COOKIE, TOKEN_COOKIE
from bidwire.transports.http.edge import MAX_BODY_BYTES, STATUS_OF, ApiError, BodyLimit, error
from bidwire.transports.http.server import (
    HEADER_TIMEOUT_SECONDS,
    HeaderTimeoutProtocol,
    HttpServer,
    WebSocketFirst,
    start_http,
)

__all__ = [
    "GUEST_COOKIE",
    "HEADER_TIMEOUT_SECONDS",
    "MAX_BODY_BYTES",
    "STATUS_OF",
    "TOKEN_COOKIE",
    "WEB_DIR",
    "ApiError",
    "BodyLimit",
    "HeaderTimeoutProtocol",
    "HttpServer",
    "WebSocketFirst",
    "create_app",
    "error",
    "start_http",
]
