"""The public API: health, sales, lots and their bids, and guest sessions."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from bidwire.domain.commands import Actor
from bidwire.domain.events import BidPlaced
from bidwire.domain.lot import Lot, Refusal
from bidwire.domain.names import skeleton
from bidwire.engine.views import snapshot_of
from bidwire.store.base import EVENT_DECODER
from bidwire.transports.http.auth import (
    GUEST_COOKIE,
    MaybeUser,
    guest_session,
    set_guest_cookie,
)
from bidwire.transports.http.edge import Context, error, error_responses
from bidwire.transports.http.models import (
    BidAccepted,
    BidHistory,
    BidRequest,
    GuestIn,
    GuestSession,
    Health,
    LotsPage,
    SalesPage,
    Snapshot,
)

log = logging.getLogger("bidwire.http")

MAX_PAGE = 200

router = APIRouter()


def _lot_state(lot: Lot, now: int, salt: str | None = None) -> dict[str, Any]:
    record: dict[str, Any] = msgspec.to_builtins(snapshot_of(lot, now, salt))
    for name in ("type", "bids", "ts"):
        record.pop(name, None)
    return record


async def bid_page(
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


@router.get("/healthz", response_model=Health, responses=error_responses("unavailable"))
async def healthz(ctx: Context) -> Health | JSONResponse:
    if not ctx.house.accepting:
        return error("unavailable", "the server is shutting down")
    store_fault = ctx.house.store.fault()
    if store_fault is not None:
        return error("unavailable", store_fault)
    return Health(status="ok", lots=len(ctx.feed.views), ts=ctx.clock.now_ms())


@router.get("/api/sales", response_model=SalesPage)
async def sales(ctx: Context) -> dict[str, Any]:
    """Every sale with its lots in order, each lot in its published state."""
    feed = ctx.feed
    now = ctx.clock.now_ms()
    listed = []
    for state in ctx.house.sales.values():
        spec = state.spec
        listed.append(
            {
                "sale": spec.id,
                "title": spec.title,
                "mode": spec.mode,
                "state": state.status,
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


@router.get("/api/lots", response_model=LotsPage)
async def lots(ctx: Context) -> dict[str, Any]:
    feed = ctx.feed
    now = ctx.clock.now_ms()
    listed = [_lot_state(lot, now, feed.salts.get(lot.sale)) for lot in feed.views.values()]
    return {"lots": listed, "ts": now}


@router.get(
    "/api/lots/{lot_id}",
    response_model=Snapshot,
    responses=error_responses("unknown_lot", "bad_request"),
)
async def lot(lot_id: str, ctx: Context) -> Any:
    """The lot's snapshot, exactly as the wire's ``snapshot`` message."""
    if lot_id not in ctx.feed.views:
        return error("unknown_lot", f"there is no lot {lot_id[:64]!r}")
    return msgspec.to_builtins(ctx.feed.snapshot(lot_id))


@router.get(
    "/api/lots/{lot_id}/bids",
    response_model=BidHistory,
    responses=error_responses("unknown_lot", "bad_request", "unavailable"),
)
async def bids(
    lot_id: str,
    ctx: Context,
    before_seq: Annotated[
        int | None, Query(ge=1, le=2**62, description="Only bids with a smaller seq.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> Any:
    """The lot's bid history from the store, newest first, a page at a time."""
    if lot_id not in ctx.feed.views:
        return error("unknown_lot", f"there is no lot {lot_id[:64]!r}")
    return await bid_page(ctx.house, lot_id, before_seq, limit, ctx.clock.now_ms(), public=True)


@router.post(
    "/api/lots/{lot_id}/bids",
    response_model=BidAccepted,
    responses=error_responses(
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
    lot_id: str,
    bid: BidRequest,
    user: MaybeUser,
    request: Request,
    response: Response,
    ctx: Context,
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
        guest = guest_session(request, bid.guest_token)
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
            set_guest_cookie(request, response, guest.token)
        actor = guest.actor
    command = ctx.gate.bid(actor, lot_id, bid.amount, bid.max_amount, bid.request_id)
    result = command if isinstance(command, Refusal) else await ctx.house.place_bid(command)
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
        ts=ctx.clock.now_ms(),
        guest_token=guest_token,
    )


@router.post(
    "/api/guest",
    response_model=GuestSession,
    responses=error_responses("bad_json", "bad_request", "forbidden"),
)
async def guest(body: GuestIn, request: Request, response: Response, ctx: Context) -> GuestSession:
    """Take part as a guest, as the wire's ``hello`` does: the name, or the first free
    ``name-N`` when it is taken; never a registered user's name or one like it. Sets the
    HttpOnly ``bidwire_guest`` cookie; API clients send ``guest_token`` with their bids."""
    session = await ctx.gate.http_guest(body.name)
    set_guest_cookie(request, response, session.token)
    return GuestSession(user=session.actor.name, guest_token=session.token)
