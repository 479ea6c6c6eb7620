"""The public API: health, sales, lots and their bids, and guest sessions."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from bidwire.domain.commands import Actor
from bidwire.domain.lot import Refusal
from bidwire.engine.queries import BidHistory, LotsPage, SalesPage
from bidwire.engine.views import Snapshot
from bidwire.transports.http.auth import (
    GUEST_COOKIE,
    MaybeUser,
    ReaderOf,
    guest_session,
    set_guest_cookie,
)
from bidwire.transports.http.edge import (
    Context,
    error,
    error_responses,
    wire_json,
    wire_json_packed,
    wire_schema,
)
from bidwire.transports.http.models import (
    BidAccepted,
    BidRequest,
    Bought,
    BuyNowRequest,
    GuestIn,
    GuestSession,
)

log = logging.getLogger("bidwire.http")

MAX_PAGE = 200

router = APIRouter()


@router.get("/api/sales", responses=wire_schema(SalesPage, "Every sale with its lots."))
async def sales(request: Request, ctx: Context, who: ReaderOf) -> Response:
    """Every sale with its lots in order, each lot in its published state (the leader's
    maximum only to that leader and admins). Gzipped when large and the client takes it."""
    listing = await ctx.queries.sales(viewer=who.name, maxima=who.admin)
    return await wire_json_packed(listing, request)


@router.get("/api/lots", responses=wire_schema(LotsPage, "Every lot in its published state."))
async def lots(request: Request, ctx: Context, who: ReaderOf) -> Response:
    """Every lot in its published state (the leader's maximum only to them and admins).
    Gzipped when large and the client takes it."""
    return await wire_json_packed(
        await ctx.queries.lots(viewer=who.name, maxima=who.admin), request
    )


@router.get(
    "/api/lots/{lot_id}",
    responses={
        **wire_schema(Snapshot, "The lot's snapshot."),
        **error_responses("unknown_lot", "bad_request"),
    },
)
async def lot(lot_id: str, ctx: Context, who: ReaderOf) -> Response:
    """The lot's snapshot, exactly as the wire's ``snapshot`` message: ``high_bid.max_amount``
    only for the leader themselves (logged in, or their guest session) and admins."""
    return wire_json(await ctx.queries.snapshot(lot_id, viewer=who.name, maxima=who.admin))


@router.get(
    "/api/lots/{lot_id}/bids",
    responses={
        **wire_schema(BidHistory, "A page of the lot's bids, newest first."),
        **error_responses("unknown_lot", "bad_request", "unavailable"),
    },
)
async def bids(
    lot_id: str,
    ctx: Context,
    who: ReaderOf,
    before_seq: Annotated[
        int | None, Query(ge=1, le=2**62, description="Only bids with a smaller seq.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> Response:
    """The lot's bid history from the store, newest first, a page at a time (pseudonyms in an
    anonymous sale): ``auto`` for bids the house placed for a maximum, ``voided`` for bids an
    admin voided. Maximums only to admins."""
    return wire_json(await ctx.queries.bids(lot_id, before_seq, limit, maxima=who.admin))


async def _bidder(
    ctx: Context,
    user: MaybeUser,
    request: Request,
    response: Response,
    bidder: str | None,
    guest_token: str | None,
) -> tuple[Actor, str | None]:
    """Who a bid or a buy-now is from (``gate.http_bidder``), and the token of the guest
    session it made, if it made one (then also set as the cookie)."""
    session = None if user is not None else await guest_session(request, guest_token)
    actor, made = await ctx.gate.http_bidder(
        user, bidder, session, token_sent=guest_token is not None
    )
    if made is None:
        return actor, None
    set_guest_cookie(request, response, made.token)
    return actor, made.token


def _refused(ctx: Context, response: Response, made: str | None, refusal: Refusal) -> Any:
    """A refusal's error; a guest session the refused request made leaves nothing behind."""
    if made is not None:
        ctx.gate.end_http_guest(made)
        response.delete_cookie(GUEST_COOKIE, path="/")
    return error(refusal.code, refusal.message, refusal.min_amount)


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
    actor, guest_token = await _bidder(ctx, user, request, response, bid.bidder, bid.guest_token)
    command = ctx.gate.bid(actor, lot_id, bid.amount, bid.max_amount, bid.request_id)
    result = command if isinstance(command, Refusal) else await ctx.house.place_bid(command)
    if isinstance(result, Refusal):
        return _refused(ctx, response, guest_token, result)
    return BidAccepted(
        lot=result.lot,
        amount=result.amount,
        seq=result.seq,
        bidder=ctx.queries.public_bidder(lot_id, actor.name),
        max_amount=result.max_amount,
        leading=result.leading,
        ts=ctx.clock.now_ms(),
        guest_token=guest_token,
    )


@router.post(
    "/api/lots/{lot_id}/buy-now",
    response_model=Bought,
    responses=error_responses(
        "bad_json",
        "not_authenticated",
        "forbidden",
        "rate_limited",
        "unknown_lot",
        "not_offered",
        "lot_not_open",
        "bad_request",
        "unavailable",
    ),
)
async def buy_now(
    lot_id: str,
    user: MaybeUser,
    request: Request,
    response: Response,
    ctx: Context,
    body: BuyNowRequest | None = None,
) -> Any:
    """Buy the lot at its buy-now price, as the wire's ``buy_now``: offered while the lot has
    no bid (not_offered after). Who buys is decided as for a bid (login, guest session, or a
    guest name). The answer comes once the lot's close is committed."""
    body = body or BuyNowRequest()
    actor, guest_token = await _bidder(ctx, user, request, response, body.bidder, body.guest_token)
    command = ctx.gate.buy_now(actor, lot_id)
    result = command if isinstance(command, Refusal) else await ctx.house.buy_now(command)
    if isinstance(result, Refusal):
        return _refused(ctx, response, guest_token, result)
    assert result.amount is not None  # a buy-now close is a sale at the price
    return Bought(
        lot=result.lot,
        amount=result.amount,
        seq=result.seq,
        bidder=ctx.queries.public_bidder(lot_id, actor.name),
        ts=result.ts,
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
