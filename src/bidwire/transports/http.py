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
import dataclasses
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec
import uvicorn
from fastapi import Depends, FastAPI, Query, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bidwire.accounts.records import UserRecord
from bidwire.accounts.service import TOKEN_TTL_MS, Accounts
from bidwire.catalog import Defaults, lot_from_row, parse_catalog
from bidwire.domain.commands import Actor
from bidwire.domain.events import BidPlaced
from bidwire.domain.lot import MAX_DESCRIPTION, MAX_TITLE, Lot, LotSpec, Refusal, plain_text
from bidwire.domain.money import MAX_AMOUNT
from bidwire.domain.names import skeleton
from bidwire.domain.sale import SaleSpec
from bidwire.engine.gate import HTTP_GUEST_IDLE_MS, HttpGuest
from bidwire.engine.house import SaleState
from bidwire.engine.views import snapshot_of
from bidwire.errors import CatalogError, ClientError
from bidwire.store.base import EVENT_DECODER
from bidwire.transports.session import SessionContext
from bidwire.transports.ws import FRAME_LIMIT, FramingProtocol, same_origin, websocket_endpoint

log = logging.getLogger("bidwire.http")

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
MAX_PAGE = 200
MAX_ADMIN_PAGE = 1_000
SHUTDOWN_SECONDS = 3
MAX_BODY_BYTES = 1 << 20
"""The largest request body we read (a catalog upload); more is refused with 413 unread."""
TOKEN_COOKIE = "bidwire_token"
GUEST_COOKIE = "bidwire_guest"
CATALOG_TYPES = {
    "csv": "text/csv",
    "json": "application/json",
    "toml": "application/toml",
}
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"

STATUS_OF: Mapping[str, int] = {
    "bad_json": 400,
    "not_authenticated": 401,
    "forbidden": 403,
    "unknown_lot": 404,
    "unknown_sale": 404,
    "unknown_user": 404,
    "not_found": 404,
    "method_not_allowed": 405,
    "too_low": 409,
    "already_leading": 409,
    "lot_not_open": 409,
    "conflict": 409,
    "too_large": 413,
    "bad_amount": 422,
    "bad_request": 422,
    "bad_catalog": 422,
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
    state: Literal["scheduled", "open", "paused", "closed"]
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
    state: Literal["held", "scheduled", "running", "paused", "ended"] = Field(
        description="held: built by an admin, waiting for a start or schedule."
    )
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
    bidder: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description=(
            "A guest name, as in the wire's hello. A logged-in user bids as themselves: leave"
            " it out, or give their own username; any other name is refused (forbidden)."
        ),
    )
    max_amount: int | None = Field(
        default=None,
        strict=True,
        ge=1,
        le=MAX_AMOUNT,
        description="A maximum (proxy) bid; refused as on the wire until they are offered.",
    )
    request_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Idempotency key: repeating it returns the first answer, no second bid;"
        " the same key with another lot or amount is refused (bad_request).",
    )
    guest_token: str | None = Field(
        default=None,
        max_length=64,
        description="A guest session's token (POST /api/guest) for API clients without cookies.",
    )


class BidAccepted(BaseModel):
    type: Literal["bid_accepted"] = "bid_accepted"
    lot: str
    amount: int
    seq: int
    bidder: str
    ts: int
    guest_token: str | None = Field(
        default=None,
        description="When this bid made a guest session (it named a bidder and sent none):"
        " send it with the next bids (the browser keeps it in the bidwire_guest cookie).",
    )


class GuestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=64, description="As the wire's hello: 1 to 32 characters.")


class GuestSession(BaseModel):
    user: str = Field(description="The name granted: the one asked for, or name-N if taken.")
    role: Literal["guest"] = "guest"
    guest_token: str = Field(
        description="Send as guest_token in bids (browsers use the HttpOnly cookie instead)."
    )


class Health(BaseModel):
    status: Literal["ok"]
    lots: int
    ts: int


class Me(BaseModel):
    user: str
    role: Literal["bidder", "admin"]


class ServerInfo(BaseModel):
    guests: bool = Field(description="Whether guests (a name, no account) may bid here.")
    accounts: bool = Field(description="Whether the server offers registration and login.")
    me: Me | None = Field(
        description="Who the request's login is; null when anonymous or the login was refused"
        " (GET /api/me says why)."
    )
    ts: int


class Credentials(BaseModel):
    """Validated by the accounts service, which says which rule failed (the body limit
    bounds what we read)."""

    model_config = ConfigDict(extra="forbid")

    username: str
    password: str = Field(json_schema_extra={"format": "password"})


class LoggedIn(Me):
    token: str = Field(
        description="For API clients (Authorization: Bearer). The web client uses the"
        " HttpOnly cookie set with it and never sees this."
    )
    expires_at: int


class LoggedOut(BaseModel):
    status: Literal["logged_out"] = "logged_out"


# -- admin models ----------------------------------------------------------------------------


def _plain_text(value: str, name: str, *, multiline: bool = False) -> str:
    """The domain's text rule (``plain_text``), length aside: pydantic checks that first."""
    return plain_text(value, name, multiline=multiline, most=len(value))


Money = int | float | str
"""In currency units as a person writes them (100 or "99.50"), as in catalog files."""


class LotIn(BaseModel):
    """A lot as a catalog row: prices in currency units (100 is 100.00), times in seconds."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, pattern=ID_PATTERN, description="Made from the title.")
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    currency: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")
    starting_price: Money
    reserve: Money | None = None
    increment: Money | list[tuple[Money, Money]] | None = Field(
        default=None,
        description="A fixed step, or [[from, step], ...] tiers; the house table if absent.",
    )
    opening_seconds: float | None = Field(default=None, gt=0, le=86_400 * 365)
    extend_seconds: float | None = Field(default=None, gt=0, le=86_400 * 365)
    hard_end_seconds: float | None = Field(default=None, gt=0, le=86_400 * 365)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title is required")
        return _plain_text(value, "title")

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        return _plain_text(value, "description", multiline=True)


class SaleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, pattern=ID_PATTERN, description="Made from the title.")
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    mode: Literal["live", "timed"] = "live"
    gap_seconds: float | None = Field(default=None, ge=0, le=86_400)
    lots: list[LotIn] = Field(min_length=1, max_length=10_000)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title is required")
        return _plain_text(value, "title")


class Problem(BaseModel):
    line: int = Field(description="The file's line (CSV, TOML), or the lot's position (JSON).")
    message: str


class CatalogProblems(ErrorBody):
    problems: list[Problem]


class SaleCreated(BaseModel):
    sale: str
    title: str
    lots: list[str]


class SalesCreated(BaseModel):
    sales: list[SaleCreated]
    ts: int


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: int | None = Field(
        default=None,
        ge=0,
        le=2**53,
        description="When to start (ms since the epoch); now if absent.",
    )


class Done(BaseModel):
    status: Literal["ok"] = "ok"
    ts: int


class UserOut(BaseModel):
    username: str
    role: Literal["bidder", "admin"]
    blocked: bool
    created_at: int


class UsersPage(BaseModel):
    users: list[UserOut]
    ts: int


class AuditEntry(BaseModel):
    ts: int
    actor: str
    action: str
    detail: str


class AuditPage(BaseModel):
    entries: list[AuditEntry] = Field(description="Newest first.")
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


class ApiError(Exception):
    """A refusal at the edge, answered as ``{code, message}`` with the code's status."""

    def __init__(self, code: str, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.problems = problems


def _refusal(code: str, message: str, problems: list[Problem] | None = None) -> JSONResponse:
    if problems is None:
        return error(code, message)
    body = CatalogProblems(code=code, message=message, problems=problems)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=STATUS_OF.get(code, 400))


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes (413) without buffering them: uvicorn reads
    whatever a client sends, and Starlette keeps a whole body in memory."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._too_large(send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        body = json.dumps(
            {"code": "too_large", "message": f"the request body is over {self.limit} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass


# -- who is asking -------------------------------------------------------------------------------


def _ctx(request: Request) -> SessionContext:
    ctx: SessionContext = request.app.state.ctx
    return ctx


def _token_of(request: Request) -> tuple[str | None, bool]:
    """The request's token and whether it came from the cookie (a browser) or a header."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError("not_authenticated", "use the header Authorization: Bearer <token>")
        return value.strip(), False
    return request.cookies.get(TOKEN_COOKIE) or None, True


async def current_user(request: Request) -> UserRecord | None:
    """The logged-in user, None for an anonymous request. A token that is present but
    expired, revoked or its user blocked is refused (401/403), never taken as anonymous."""
    token, from_cookie = _token_of(request)
    if token is None:
        return None
    ctx = _ctx(request)
    if ctx.accounts is None:
        raise ApiError("not_authenticated", "this server has no accounts")
    if from_cookie and request.method not in ("GET", "HEAD", "OPTIONS"):
        # The cookie is SameSite=Strict already; a foreign Origin on a change is refused too,
        # for browsers that do not honour SameSite.
        origin = request.headers.get("origin")
        if origin is not None and not same_origin(origin, request.headers.get("host", "")):
            raise ApiError("forbidden", "a request from another site cannot use your login")
    user = await ctx.accounts.authenticate(token)
    request.state.token = token
    return user


async def require_user(
    user: Annotated[UserRecord | None, Depends(current_user)],
) -> UserRecord:
    if user is None:
        raise ApiError("not_authenticated", "log in first")
    return user


async def require_admin(
    user: Annotated[UserRecord | None, Depends(current_user)],
) -> UserRecord:
    if user is None:
        raise ApiError("not_authenticated", "log in as an administrator first")
    if user.role != "admin":
        raise ApiError("forbidden", "only administrators may do this")
    return user


LoggedInUser = Annotated[UserRecord, Depends(require_user)]
AdminUser = Annotated[UserRecord, Depends(require_admin)]
MaybeUser = Annotated[UserRecord | None, Depends(current_user)]


def _set_token_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        max_age=TOKEN_TTL_MS // 1000,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _set_guest_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        GUEST_COOKIE,
        token,
        max_age=HTTP_GUEST_IDLE_MS // 1000,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _guest_session(request: Request, token: str | None) -> HttpGuest | None:
    """The request's guest session: its body's token, or the cookie (from this site only)."""
    gate = _ctx(request).gate
    if token is not None:
        return gate.http_guest_of(token)
    cookie = request.cookies.get(GUEST_COOKIE)
    if cookie is None:
        return None
    origin = request.headers.get("origin")
    if origin is not None and not same_origin(origin, request.headers.get("host", "")):
        raise ApiError("forbidden", "a request from another site cannot use your guest session")
    return gate.http_guest_of(cookie)


def _user_out(user: UserRecord) -> UserOut:
    return UserOut(
        username=user.username, role=user.role, blocked=user.blocked, created_at=user.created_at
    )


def _fresh_ids(
    catalog: list[tuple[SaleSpec, list[LotSpec]]], lots: Mapping[str, Any], sales: Mapping[str, Any]
) -> list[tuple[SaleSpec, list[LotSpec]]]:
    """Ids made from titles may collide with lots and sales already in the house: give those a
    suffix, as the demo does, so importing the same catalog twice makes a second sale."""
    taken_lots, taken_sales = set(lots), set(sales)
    renamed: list[tuple[SaleSpec, list[LotSpec]]] = []

    def fresh(wanted: str, taken: set[str]) -> str:
        candidate, n = wanted, 2
        while candidate in taken:
            candidate, n = f"{wanted[:56]}-{n}", n + 1
        taken.add(candidate)
        return candidate

    for sale, specs in catalog:
        new_specs = [dataclasses.replace(spec, id=fresh(spec.id, taken_lots)) for spec in specs]
        renamed.append(
            (
                dataclasses.replace(
                    sale,
                    id=fresh(sale.id, taken_sales),
                    lot_ids=tuple(spec.id for spec in new_specs),
                ),
                new_specs,
            )
        )
    return renamed


def _lot_state(lot: Lot, now: int, salt: str | None = None) -> dict[str, Any]:
    record: dict[str, Any] = msgspec.to_builtins(snapshot_of(lot, now, salt))
    for name in ("type", "bids", "ts"):
        record.pop(name, None)
    return record


def _sale_state(sale: SaleState) -> str:
    if sale.ended_at is not None:
        return "ended"
    if sale.paused_at is not None:
        return "paused"
    if sale.started_at is not None:
        return "running"
    return "held" if sale.spec.held else "scheduled"


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
            await websocket_endpoint(self.ctx, WebSocket(scope, receive, send))
        else:
            await self.app(scope, receive, send)


def create_app(ctx: SessionContext, catalog_defaults: Defaults | None = None) -> FastAPI:
    house, feed, clock = ctx.house, ctx.feed, ctx.clock
    defaults = catalog_defaults or Defaults()
    app = FastAPI(
        title="bidwire",
        version="1",
        description=(
            "The HTTP JSON API of a bidwire auction house. Money is an integer count of minor"
            " units (cents); time is integer milliseconds since the Unix epoch, from the"
            " server's clock. Live updates are on the WebSocket at /ws (see docs/protocol.md)."
            " Log in with POST /api/login: browsers keep the token in an HttpOnly cookie, API"
            " clients send it as Authorization: Bearer <token>. Everything under /api/admin"
            " needs the admin role."
        ),
    )
    app.state.ctx = ctx
    app.add_middleware(BodyLimit)

    @app.exception_handler(ApiError)
    async def refused(request: Request, exc: ApiError) -> JSONResponse:
        return _refusal(exc.code, exc.message, exc.problems)

    @app.exception_handler(ClientError)
    async def client_error(request: Request, exc: ClientError) -> JSONResponse:
        return error(exc.code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return error("bad_json", "the request body is not valid JSON")
        shown = "; ".join(
            f"{'.'.join(str(part) for part in p.get('loc', ()))}: {p.get('msg', 'invalid')}"
            for p in problems[:5]
        )
        if any(str(part).endswith("amount") for p in problems for part in p.get("loc", ())):
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
        store_fault = house.store.fault()
        if store_fault is not None:
            return error("unavailable", store_fault)
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
                    "state": _sale_state(state),
                    "starts_at": spec.starts_at,
                    "started_at": state.started_at,
                    "ended_at": state.ended_at,
                    "lots": [
                        _lot_state(feed.views[lot_id], now, feed.salts.get(spec.id))
                        for lot_id in spec.lot_ids
                        if lot_id in feed.views
                    ],
                }
            )
        return {"sales": listed, "ts": now}

    @app.get("/api/lots", response_model=LotsPage)
    async def lots() -> dict[str, Any]:
        now = clock.now_ms()
        listed = [_lot_state(lot, now, feed.salts.get(lot.sale)) for lot in feed.views.values()]
        return {"lots": listed, "ts": now}

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
        return await _bid_page(house, lot_id, before_seq, limit, clock.now_ms(), public=True)

    @app.post(
        "/api/lots/{lot_id}/bids",
        response_model=BidAccepted,
        responses=_errors(
            "bad_json",
            "not_authenticated",
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
    async def place_bid(
        lot_id: str, bid: BidRequest, user: MaybeUser, request: Request, response: Response
    ) -> Any:
        """Bid as the logged-in user (cookie or bearer token), or as a guest where the server
        takes guests: the same rules, codes and durability as the wire's ``bid``. The answer
        comes only after the bid is committed to the store. A guest is its guest session
        (POST /api/guest, or made by a first bid naming ``bidder``), not the bare name."""
        guest_token = None
        if user is not None:
            # A bidder cannot act as anyone else: the name is the login's, not the body's.
            if bid.bidder is not None and bid.bidder.strip().casefold() != user.username.casefold():
                return error(
                    "forbidden", f"you are logged in as {user.username}; you cannot bid as another"
                )
            actor = Actor(user.username, user.role)
        else:
            guest = _guest_session(request, bid.guest_token)
            if (
                guest is not None
                and bid.bidder is not None
                and skeleton(bid.bidder) != skeleton(guest.actor.name)
            ):
                if bid.guest_token is not None:
                    return error(
                        "forbidden",
                        f"your guest_token is {guest.actor.name}'s; you cannot bid as another",
                    )
                guest = None  # the cookie's session is another name's: this asks for a new one
            if guest is None:
                if bid.bidder is None:
                    return error("bad_request", "bidder: a guest name is required (or log in)")
                if not ctx.guests_allowed:  # as a wire bid before any hello: who are you?
                    return error("not_authenticated", "this server takes bids from accounts only")
                guest = await ctx.gate.http_guest(bid.bidder, suffix=False)
                guest_token = guest.token
                _set_guest_cookie(request, response, guest.token)
            actor = guest.actor
        command = ctx.gate.bid(actor, lot_id, bid.amount, bid.max_amount, bid.request_id)
        result = command if isinstance(command, Refusal) else await house.place_bid(command)
        if isinstance(result, Refusal):
            if guest_token is not None:  # a refused first bid leaves no session behind
                ctx.gate.end_http_guest(guest_token)
                response.delete_cookie(GUEST_COOKIE, path="/")
            return error(result.code, result.message, result.min_amount)
        return BidAccepted(
            lot=result.lot,
            amount=result.amount,
            seq=result.seq,
            bidder=actor.name,
            ts=clock.now_ms(),
            guest_token=guest_token,
        )

    @app.post(
        "/api/guest",
        response_model=GuestSession,
        responses=_errors("bad_json", "bad_request", "forbidden"),
    )
    async def guest(body: GuestIn, request: Request, response: Response) -> GuestSession:
        """Take part as a guest, as the wire's ``hello`` does: the name, or the first free
        ``name-N`` when it is taken; never a registered user's name or one like it. Sets the
        HttpOnly ``bidwire_guest`` cookie; API clients send ``guest_token`` with their bids."""
        session = await ctx.gate.http_guest(body.name)
        _set_guest_cookie(request, response, session.token)
        return GuestSession(user=session.actor.name, guest_token=session.token)

    # -- accounts ------------------------------------------------------------------------------

    @app.get("/api/info", response_model=ServerInfo)
    async def info(request: Request) -> ServerInfo:
        """What this server offers a newcomer (guests, accounts), and who the caller is: the
        web client's first question, answered without an error status either way."""
        try:
            user = await current_user(request)
        except (ApiError, ClientError):
            user = None
        return ServerInfo(
            guests=ctx.guests_allowed,
            accounts=ctx.accounts is not None,
            me=Me(user=user.username, role=user.role) if user is not None else None,
            ts=clock.now_ms(),
        )

    def _accounts() -> Accounts:
        if ctx.accounts is None:
            raise ApiError("bad_request", "this server has no accounts")
        return ctx.accounts

    @app.post(
        "/api/register",
        response_model=LoggedIn,
        responses=_errors("bad_json", "bad_request"),
    )
    async def register(body: Credentials, request: Request, response: Response) -> LoggedIn:
        """Make a bidder account and log in: sets the HttpOnly ``bidwire_token`` cookie. Not a
        name a guest holds now (unless it is this browser's own guest session)."""
        holder = _guest_session(request, None) or object()
        actor, token = await ctx.gate.register(body.username, body.password, holder)
        _set_token_cookie(request, response, token)
        return LoggedIn(
            user=actor.name,
            role="bidder",  # what registration makes
            token=token,
            expires_at=clock.now_ms() + TOKEN_TTL_MS,
        )

    @app.post(
        "/api/login",
        response_model=LoggedIn,
        responses=_errors(
            "bad_json", "bad_request", "not_authenticated", "forbidden", "rate_limited"
        ),
    )
    async def login(body: Credentials, request: Request, response: Response) -> LoggedIn:
        """Log in: sets the HttpOnly ``bidwire_token`` cookie and returns the token for API
        clients. Repeated failures are throttled per account and per address (429)."""
        address = request.client.host if request.client else "local"
        issued = await _accounts().login(body.username, body.password, address)
        _set_token_cookie(request, response, issued.token)
        return LoggedIn(
            user=issued.user.username,
            role=issued.user.role,
            token=issued.token,
            expires_at=clock.now_ms() + TOKEN_TTL_MS,
        )

    @app.post(
        "/api/logout",
        response_model=LoggedOut,
        responses=_errors("not_authenticated", "forbidden"),
    )
    async def logout(request: Request, response: Response) -> LoggedOut:
        """Revoke the token (cookie or bearer) and clear the cookie. Without a token there is
        nothing to revoke, and the answer is the same."""
        token, _ = _token_of(request)
        if token is not None and ctx.accounts is not None:
            await ctx.accounts.logout(token)
            ctx.disconnect(token=token)
        response.delete_cookie(
            TOKEN_COOKIE,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return LoggedOut()

    @app.get("/api/me", response_model=Me, responses=_errors("not_authenticated", "forbidden"))
    async def whoami(user: LoggedInUser) -> Me:
        return Me(user=user.username, role=user.role)

    _add_admin_routes(app, ctx, defaults)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", headers={"cache-control": "no-cache"})

    @app.get("/admin", include_in_schema=False)
    async def admin_page() -> FileResponse:
        # The page itself is public (it holds no data); everything it shows comes from
        # /api/admin, which checks the role on every request.
        return FileResponse(WEB_DIR / "admin.html", headers={"cache-control": "no-cache"})

    app.mount("/static", _WebFiles(directory=WEB_DIR), name="static")
    return app


# -- the admin side ----------------------------------------------------------------------------

ADMIN_ERRORS = ("not_authenticated", "forbidden")


ADMIN_PREFIX = "/api/admin"
_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])


class _AdminRoutes:
    """Adds routes under /api/admin, each with the admin check as a dependency that runs
    before any handler (and before the body is validated). They go on the app itself, not an
    included router, so ``app.routes`` lists every one of them: a test walks that table and
    fails on any route about administration that does not refuse anonymous users and bidders."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def add_api_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: list[str],
        responses: dict[int | str, dict[str, Any]] | None = None,
        **options: Any,
    ) -> None:
        self.app.add_api_route(
            ADMIN_PREFIX + path,
            endpoint,
            methods=methods,
            dependencies=[Depends(require_admin)],
            tags=["admin"],
            responses={**_errors(*ADMIN_ERRORS), **(responses or {})},
            **options,
        )

    def _route(self, method: str, path: str, **options: Any) -> Callable[[_Endpoint], _Endpoint]:
        def register(endpoint: _Endpoint) -> _Endpoint:
            self.add_api_route(path, endpoint, methods=[method], **options)
            return endpoint

        return register

    def get(self, path: str, **options: Any) -> Callable[[_Endpoint], _Endpoint]:
        return self._route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[_Endpoint], _Endpoint]:
        return self._route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[_Endpoint], _Endpoint]:
        return self._route("PUT", path, **options)


def _add_admin_routes(app: FastAPI, ctx: SessionContext, defaults: Defaults) -> None:
    """Every operation here needs the admin role (see :class:`_AdminRoutes`)."""
    house, feed, clock = ctx.house, ctx.feed, ctx.clock
    router = _AdminRoutes(app)

    async def create(
        catalog: list[tuple[SaleSpec, list[LotSpec]]], admin: UserRecord
    ) -> SalesCreated:
        catalog = _fresh_ids(catalog, house.lots, house.sales)
        for sale, lots in catalog:
            # Built here, a sale waits for its start (or schedule): POST .../start.
            await house.create_sale(dataclasses.replace(sale, held=True), lots, by=admin.username)
        return SalesCreated(
            sales=[
                SaleCreated(sale=sale.id, title=sale.title, lots=list(sale.lot_ids))
                for sale, _ in catalog
            ],
            ts=clock.now_ms(),
        )

    @router.get("/users", response_model=UsersPage)
    async def users(admin: AdminUser) -> UsersPage:
        assert ctx.accounts is not None  # an admin was authenticated, so there are accounts
        listed = await ctx.accounts.store.list_users()
        return UsersPage(users=[_user_out(user) for user in listed], ts=clock.now_ms())

    async def set_blocked(username: str, blocked: bool, admin: UserRecord) -> UserOut:
        assert ctx.accounts is not None
        if username.casefold() == admin.username.casefold():
            raise ApiError("bad_request", "you cannot block yourself")
        if await ctx.accounts.store.get_user(username) is None:
            raise ApiError("unknown_user", f"there is no user {username[:64]!r}")
        user = await ctx.accounts.block(username, blocked, by=admin.username)
        if blocked:
            ctx.disconnect(username=user.username)
        return _user_out(user)

    @router.post(
        "/users/{username}/block",
        response_model=UserOut,
        responses=_errors("unknown_user", "bad_request"),
    )
    async def block(username: str, admin: AdminUser) -> UserOut:
        """Block a user: every token of theirs dies at once, and they cannot log in."""
        return await set_blocked(username, True, admin)

    @router.post(
        "/users/{username}/unblock",
        response_model=UserOut,
        responses=_errors("unknown_user", "bad_request"),
    )
    async def unblock(username: str, admin: AdminUser) -> UserOut:
        return await set_blocked(username, False, admin)

    @router.post(
        "/sales",
        response_model=SalesCreated,
        responses={
            **_errors("bad_json", "bad_request", "unavailable"),
            422: {"model": CatalogProblems, "description": "bad_request, bad_catalog"},
        },
    )
    async def create_sale(body: SaleIn, admin: AdminUser) -> SalesCreated:
        """A sale from lots given as catalog rows (prices in currency units, times in
        seconds). A bad row is reported with its position (``line``: 1 is the first lot)."""
        sale = body.model_dump(exclude_none=True)
        try:
            catalog = parse_catalog(json.dumps({"sales": [sale]}), "json", defaults, "request")
        except CatalogError as exc:
            raise ApiError(
                "bad_catalog",
                "the sale has bad lots",
                [Problem(line=line, message=message) for line, message in exc.problems],
            ) from None
        return await create(catalog, admin)

    @router.post(
        "/catalog",
        response_model=SalesCreated,
        responses={
            **_errors("bad_request", "too_large", "unavailable"),
            422: {"model": CatalogProblems, "description": "bad_request, bad_catalog"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "The catalog file itself (UTF-8), as bidwire serve --catalog reads.",
                "content": {
                    media: {"schema": {"type": "string", "maxLength": MAX_BODY_BYTES}}
                    for media in CATALOG_TYPES.values()
                },
            }
        },
    )
    async def import_catalog(
        request: Request,
        admin: AdminUser,
        format: Annotated[Literal["csv", "json", "toml"], Query(description="The file's format.")],
    ) -> SalesCreated:
        """Import a catalog file (CSV, JSON or TOML; the body is the file): every sale in it
        is created. Nothing is created if any row is bad; each bad row is reported with its
        line number (422, ``problems``)."""
        raw = await request.body()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ApiError("bad_catalog", "the file is not UTF-8 text") from None
        try:
            catalog = parse_catalog(text, format, defaults, "upload")
        except CatalogError as exc:
            raise ApiError(
                "bad_catalog",
                f"the catalog has {len(exc.problems)} bad row(s)",
                [Problem(line=line, message=message) for line, message in exc.problems],
            ) from None
        return await create(catalog, admin)

    @router.put(
        "/lots/{lot_id}",
        response_model=Done,
        responses=_errors("bad_json", "bad_request", "unknown_lot", "unavailable"),
    )
    async def update_lot(lot_id: str, body: LotIn, admin: AdminUser) -> Done:
        """Edit a lot while its sale is still scheduled (the lot keeps its id)."""
        if lot_id not in house.lots:
            raise ApiError("unknown_lot", f"there is no lot {lot_id[:64]!r}")
        if body.id is not None and body.id != lot_id:
            raise ApiError("bad_request", "a lot's id cannot change")
        row = body.model_dump(exclude_none=True)
        row["id"] = lot_id
        try:
            spec = lot_from_row(row, defaults, set())
        except (ValueError, TypeError) as exc:
            raise ApiError("bad_request", str(exc)) from None
        await house.update_lot(lot_id, spec, by=admin.username)
        return Done(ts=clock.now_ms())

    operations: dict[str, Callable[[str, str], Awaitable[None]]] = {
        "pause": house.pause_sale,
        "resume": house.resume_sale,
        "cancel": house.cancel_sale,
    }

    def sale_op(name: str, summary: str) -> None:
        operation = operations[name]

        async def operate(sale_id: str, admin: AdminUser) -> Done:
            await operation(sale_id, admin.username)
            return Done(ts=clock.now_ms())

        router.add_api_route(
            f"/sales/{{sale_id}}/{name}",
            operate,
            methods=["POST"],
            response_model=Done,
            responses=_errors("unknown_sale", "bad_request"),
            summary=summary,
            name=f"{name}_sale",
        )

    @router.post(
        "/sales/{sale_id}/start",
        response_model=Done,
        responses=_errors("bad_json", "unknown_sale", "bad_request", "unavailable"),
    )
    async def start_sale(sale_id: str, admin: AdminUser, body: StartRequest | None = None) -> Done:
        """Start a held sale now, or schedule it (``at``, ms since the epoch)."""
        at = body.at if body is not None else None
        await house.start_sale(sale_id, admin.username, at)
        return Done(ts=clock.now_ms())

    sale_op("pause", "Pause a running sale: its open lots stop taking bids")
    sale_op("resume", "Resume a paused sale")
    sale_op("cancel", "Cancel a sale: its lots close unsold")

    @router.post(
        "/lots/{lot_id}/withdraw",
        response_model=Done,
        responses=_errors("unknown_lot", "bad_request", "unavailable"),
    )
    async def withdraw_lot(lot_id: str, admin: AdminUser) -> Done:
        """Withdraw a lot from its sale: it closes unsold, whatever its bids."""
        await house.withdraw_lot(lot_id, admin.username)
        return Done(ts=clock.now_ms())

    @router.get(
        "/lots/{lot_id}/bids",
        response_model=BidHistory,
        responses=_errors("unknown_lot", "bad_request", "unavailable"),
    )
    async def every_bid(
        lot_id: str,
        admin: AdminUser,
        before_seq: Annotated[
            int | None, Query(ge=1, le=2**62, description="Only bids with a smaller seq.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_ADMIN_PAGE)] = MAX_ADMIN_PAGE,
    ) -> Any:
        """Every bid of a lot with the real bidder (whatever the public sees), newest first."""
        if lot_id not in feed.views:
            raise ApiError("unknown_lot", f"there is no lot {lot_id[:64]!r}")
        return await _bid_page(house, lot_id, before_seq, limit, clock.now_ms())

    @router.get("/audit", response_model=AuditPage)
    async def audit(
        admin: AdminUser, limit: Annotated[int, Query(ge=1, le=MAX_ADMIN_PAGE)] = 200
    ) -> AuditPage:
        """The audit log, newest first: every admin change and who made it."""
        assert ctx.accounts is not None
        entries = await ctx.accounts.store.audit_log(limit)
        return AuditPage(
            entries=[
                AuditEntry(ts=ts, actor=actor, action=action, detail=detail)
                for ts, actor, action, detail in entries
            ],
            ts=clock.now_ms(),
        )


async def _bid_page(
    house: Any, lot_id: str, before_seq: int | None, limit: int, now: int, *, public: bool = False
) -> dict[str, Any] | JSONResponse:
    """A page of bids; ``public`` shows bidders as the public sees them (pseudonyms in an
    anonymous sale), otherwise the real names (the admin's view)."""
    sale = house.lots[lot_id].sale
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
        {
            "seq": e.seq,
            "amount": e.amount,
            "bidder": house.public_name(sale, e.bidder) if public else e.bidder,
            "ts": e.ts,
            "ends_at": e.ends_at,
        }
        for e in page
        if isinstance(e, BidPlaced)
    ]
    return {
        "lot": lot_id,
        "bids": listed,
        "next_before_seq": page[-1].seq if more and page else None,
        "ts": now,
    }


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


async def start_http(
    ctx: SessionContext,
    host: str,
    port: int,
    *,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    catalog_defaults: Defaults | None = None,
) -> HttpServer:
    """Serve the API, the WebSocket and the web client; over TLS when given a certificate
    (then the login cookie is marked Secure)."""
    config = uvicorn.Config(
        WebSocketFirst(create_app(ctx, catalog_defaults), ctx),
        host=host,
        port=port,
        ssl_certfile=ssl_certfile or None,
        ssl_keyfile=ssl_keyfile or None,
        # uvicorn's sans-I/O implementation on the websockets library (the legacy "websockets"
        # one is deprecated), extended so the feed's frames go out pre-built (see ws.py).
        ws=FramingProtocol,
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
