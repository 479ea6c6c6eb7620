"""The HTTP side: the JSON API, the WebSocket endpoint and the web client, on one port.

Thin like the TCP transport: handlers translate HTTP into calls on the house and the feed and
back; every auction rule stays in the engine (a bid here is ``house.place_bid``, exactly as on
the wire). Pydantic lives only here, at the edge, to validate requests and to describe the
responses in ``/openapi.json``.

uvicorn runs inside the application's event loop, beside the TCP server, and leaves the
signals to ``bidwire.app.serve`` so that SIGTERM stops everything in one orderly sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import uvicorn
from fastapi import FastAPI, Query, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from bidwire.domain.commands import Actor
from bidwire.domain.events import BidPlaced
from bidwire.domain.lot import Lot, Refusal
from bidwire.domain.money import MAX_AMOUNT
from bidwire.engine.feed import snapshot_of
from bidwire.store.base import EVENT_DECODER
from bidwire.transports.session import _NAME as VALID_NAME
from bidwire.transports.session import SessionContext
from bidwire.transports.ws import FRAME_LIMIT, websocket_endpoint

log = logging.getLogger("bidwire.http")

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
MAX_PAGE = 200
SHUTDOWN_SECONDS = 3

STATUS_OF: Mapping[str, int] = {
    "bad_json": 400,
    "not_authenticated": 401,
    "forbidden": 403,
    "unknown_lot": 404,
    "not_found": 404,
    "method_not_allowed": 405,
    "too_low": 409,
    "already_leading": 409,
    "lot_not_open": 409,
    "too_large": 413,
    "bad_amount": 422,
    "bad_request": 422,
    "rate_limited": 429,
    "unavailable": 503,
}


# -- models (the edge only) --------------------------------------------------------------------


class ErrorBody(BaseModel):
    code: str = Field(description="The wire protocol's error code, e.g. too_low or unknown_lot.")
    message: str
    min_amount: int | None = Field(
        default=None, description="For too_low and already_leading: the least acceptable bid."
    )


class HighBid(BaseModel):
    amount: int
    bidder: str


class SnapshotBid(BaseModel):
    amount: int
    bidder: str
    ts: int


class LotState(BaseModel):
    """A lot as the feed last published it (the same fields as the wire's ``snapshot``)."""

    lot: str
    seq: int
    state: Literal["scheduled", "open", "closed"]
    sale: str
    title: str
    description: str
    currency: str
    starting_price: int
    min_amount: int
    ends_at: int | None
    high_bid: HighBid | None
    bid_count: int
    outcome: Literal["sold", "unsold"] | None


class Snapshot(LotState):
    type: Literal["snapshot"] = "snapshot"
    bids: list[SnapshotBid] = Field(description="The most recent bids, newest first.")
    ts: int


class Sale(BaseModel):
    sale: str
    title: str
    mode: Literal["live", "timed"]
    state: Literal["scheduled", "running", "ended"]
    starts_at: int | None
    started_at: int | None
    ended_at: int | None
    lots: list[LotState] = Field(description="The sale's lots in catalogue order.")


class SalesPage(BaseModel):
    sales: list[Sale]
    ts: int


class LotsPage(BaseModel):
    lots: list[LotState]
    ts: int


class HistoryBid(BaseModel):
    seq: int
    amount: int
    bidder: str
    ts: int
    ends_at: int


class BidHistory(BaseModel):
    lot: str
    bids: list[HistoryBid] = Field(description="Newest first.")
    next_before_seq: int | None = Field(
        description="Pass as before_seq for the next (older) page; null when there is none."
    )
    ts: int


class BidRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    amount: int = Field(
        strict=True, ge=1, le=MAX_AMOUNT, description="Minor units (cents): 12500 is 125.00."
    )
    bidder: str = Field(
        min_length=1, max_length=32, description="A guest name, as in the wire's hello."
    )
    request_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Idempotency key: repeating it returns the first answer, no second bid.",
    )


class BidAccepted(BaseModel):
    type: Literal["bid_accepted"] = "bid_accepted"
    lot: str
    amount: int
    seq: int
    bidder: str
    ts: int


class Health(BaseModel):
    status: Literal["ok"]
    lots: int
    ts: int


# -- helpers -----------------------------------------------------------------------------------


def error(code: str, message: str, min_amount: int | None = None) -> JSONResponse:
    body = ErrorBody(code=code, message=message, min_amount=min_amount)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=STATUS_OF.get(code, 400))


def _errors(*codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error codes an operation may answer."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(STATUS_OF[code], []).append(code)
    return {
        status: {"model": ErrorBody, "description": ", ".join(names)}
        for status, names in by_status.items()
    }


def _lot_state(lot: Lot, now: int) -> dict[str, Any]:
    record: dict[str, Any] = msgspec.to_builtins(snapshot_of(lot, now))
    for name in ("type", "bids", "ts"):
        record.pop(name, None)
    return record


def _sale_state(started_at: int | None, ended_at: int | None) -> str:
    if ended_at is not None:
        return "ended"
    return "running" if started_at is not None else "scheduled"


class _WebFiles(StaticFiles):
    """The client's files, always revalidated: a server upgrade never leaves a stale app.js."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["cache-control"] = "no-cache"
        return response


# -- the application ---------------------------------------------------------------------------


def create_app(ctx: SessionContext) -> FastAPI:
    house, feed, clock = ctx.house, ctx.feed, ctx.clock
    app = FastAPI(
        title="bidwire",
        version="1",
        description=(
            "The HTTP JSON API of a bidwire auction house. Money is an integer count of minor"
            " units (cents); time is integer milliseconds since the Unix epoch, from the"
            " server's clock. Live updates are on the WebSocket at /ws (see docs/protocol.md)."
        ),
    )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return error("bad_json", "the request body is not valid JSON")
        shown = "; ".join(
            f"{'.'.join(str(part) for part in p.get('loc', ()))}: {p.get('msg', 'invalid')}"
            for p in problems[:5]
        )
        if any("amount" in p.get("loc", ()) for p in problems):
            return error(
                "bad_amount",
                "amount must be a whole number of minor units (cents) between 1 and 10^15"
                f" ({shown})",
            )
        return error("bad_request", shown or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        response = error(code, str(exc.detail))
        response.status_code = exc.status_code
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.get("/healthz", response_model=Health, responses=_errors("unavailable"))
    async def healthz() -> Health | JSONResponse:
        if not house.accepting:
            return error("unavailable", "the server is shutting down")
        return Health(status="ok", lots=len(feed.views), ts=clock.now_ms())

    @app.get("/api/sales", response_model=SalesPage)
    async def sales() -> dict[str, Any]:
        """Every sale with its lots in order, each lot in its published state."""
        now = clock.now_ms()
        listed = []
        for state in house.sales.values():
            spec = state.spec
            listed.append(
                {
                    "sale": spec.id,
                    "title": spec.title,
                    "mode": spec.mode,
                    "state": _sale_state(state.started_at, state.ended_at),
                    "starts_at": spec.starts_at,
                    "started_at": state.started_at,
                    "ended_at": state.ended_at,
                    "lots": [
                        _lot_state(feed.views[lot_id], now)
                        for lot_id in spec.lot_ids
                        if lot_id in feed.views
                    ],
                }
            )
        return {"sales": listed, "ts": now}

    @app.get("/api/lots", response_model=LotsPage)
    async def lots() -> dict[str, Any]:
        now = clock.now_ms()
        return {"lots": [_lot_state(lot, now) for lot in feed.views.values()], "ts": now}

    @app.get(
        "/api/lots/{lot_id}",
        response_model=Snapshot,
        responses=_errors("unknown_lot", "bad_request"),
    )
    async def lot(lot_id: str) -> Any:
        """The lot's snapshot, exactly as the wire's ``snapshot`` message."""
        if lot_id not in feed.views:
            return error("unknown_lot", f"there is no lot {lot_id[:64]!r}")
        return msgspec.to_builtins(feed.snapshot(lot_id))

    @app.get(
        "/api/lots/{lot_id}/bids",
        response_model=BidHistory,
        responses=_errors("unknown_lot", "bad_request", "unavailable"),
    )
    async def bids(
        lot_id: str,
        before_seq: Annotated[
            int | None, Query(ge=1, le=2**62, description="Only bids with a smaller seq.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    ) -> Any:
        """The lot's bid history from the store, newest first, a page at a time."""
        if lot_id not in feed.views:
            return error("unknown_lot", f"there is no lot {lot_id[:64]!r}")
        try:
            bodies = await house.store.bid_history(lot_id, before_seq, limit + 1)
        except Exception:
            # A failed read is the store's fault, not the client's: say so, and retry later.
            log.exception("reading the bid history of %s", lot_id)
            return error("unavailable", "the bid history cannot be read right now")
        page = [EVENT_DECODER.decode(body) for body in bodies]
        more = len(page) > limit
        page = page[:limit]
        listed = [
            {"seq": e.seq, "amount": e.amount, "bidder": e.bidder, "ts": e.ts, "ends_at": e.ends_at}
            for e in page
            if isinstance(e, BidPlaced)
        ]
        return {
            "lot": lot_id,
            "bids": listed,
            "next_before_seq": page[-1].seq if more and page else None,
            "ts": clock.now_ms(),
        }

    @app.post(
        "/api/lots/{lot_id}/bids",
        response_model=BidAccepted,
        responses=_errors(
            "bad_json",
            "forbidden",
            "rate_limited",
            "unknown_lot",
            "too_low",
            "already_leading",
            "lot_not_open",
            "bad_amount",
            "bad_request",
            "unavailable",
        ),
    )
    async def place_bid(lot_id: str, bid: BidRequest) -> Any:
        """Bid as a guest: the same rules, codes and durability as the wire's ``bid``. The
        answer comes only after the bid is committed to the store."""
        # Who may bid, as the wire's hello and bid decide it: guests only where the server takes
        # them, never under a registered user's name, and no faster than the bid rate limit.
        if not ctx.guests_allowed:
            return error("forbidden", "this server does not take guests; bid as a logged-in user")
        name = bid.bidder.strip()
        if not VALID_NAME.match(name):
            return error(
                "bad_request",
                "bidder is 1 to 32 letters, digits, spaces, dots, dashes or underscores",
            )
        if ctx.accounts is not None and await ctx.accounts.store.get_user(name) is not None:
            return error("forbidden", f"{name!r} is a registered user: log in to bid as them")
        if not ctx.bid_limiter.take(name, clock.now_ms()):
            return error("rate_limited", "too many bids at once; slow down a little")
        result = await house.place_bid(Actor(name, "guest"), lot_id, bid.amount, bid.request_id)
        if isinstance(result, Refusal):
            return error(result.code, result.message, result.min_amount)
        return BidAccepted(
            lot=result.lot,
            amount=result.amount,
            seq=result.seq,
            bidder=name,
            ts=clock.now_ms(),
        )

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket_endpoint(ctx, websocket)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", headers={"cache-control": "no-cache"})

    app.mount("/static", _WebFiles(directory=WEB_DIR), name="static")
    return app


# -- serving -----------------------------------------------------------------------------------


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


class HttpServer:
    def __init__(self, server: _EmbeddedServer, task: asyncio.Task[None]) -> None:
        self._server = server
        self._task = task

    @property
    def port(self) -> int:
        port: int = self._server.servers[0].sockets[0].getsockname()[1]
        return port

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


async def start_http(ctx: SessionContext, host: str, port: int) -> HttpServer:
    config = uvicorn.Config(
        create_app(ctx),
        host=host,
        port=port,
        # The sans-I/O implementation on the websockets library (the legacy "websockets" one is
        # deprecated and warns at start-up). It reads one message at a time, as the app asks.
        ws="websockets-sansio",
        ws_per_message_deflate=False,  # per-connection zlib state costs tens of KiB each
        ws_max_size=FRAME_LIMIT,
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
    return HttpServer(server, task)
