"""Bid histories over HTTP: a sale's (public, and admins' with the names), a bidder's own
(``/api/me/bids``) and any bidder's for admins. engine/history.py decides what each shows;
this parses, asks and renders. The admin router checks the role itself before any handler."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from bidwire.engine.history import MAX_CURSOR, MAX_PAGE, PAGE, Histories, History
from bidwire.transports.http.admin import ADMIN_ERRORS, ADMIN_PREFIX
from bidwire.transports.http.auth import ReaderOf, require_admin
from bidwire.transports.http.edge import Context, error_responses, wire_json, wire_schema
from bidwire.transports.http.me import _who

router = APIRouter()

admin_router = APIRouter(
    prefix=ADMIN_PREFIX,
    dependencies=[Depends(require_admin)],
    tags=["admin"],
    responses=error_responses(*ADMIN_ERRORS),
)

Before = Annotated[
    str | None,
    Query(max_length=MAX_CURSOR, description="next_before of the previous page: older bids."),
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Bids in the page.")]


@router.get(
    "/api/sales/{sale_id}/bids",
    responses={
        **wire_schema(History, "A page of the sale's bids, newest first."),
        **error_responses("unknown_sale", "bad_request", "unavailable"),
    },
)
async def sale_bids(
    sale_id: str, ctx: Context, who: ReaderOf, before: Before = None, limit: Limit = PAGE
) -> Response:
    """Every bid on the sale's lots, newest first, a page at a time: each with its lot,
    ``auto`` where the house placed it for a maximum, ``voided`` where an admin voided it.
    Pseudonyms in an anonymous sale (for everyone: admins read the names under
    /api/admin/sales/{id}/bids); maximums only to admins."""
    histories = Histories(ctx.queries)
    return wire_json(await histories.sale(sale_id, before, limit, maxima=who.admin))


@router.get(
    "/api/me/bids",
    responses={
        **wire_schema(History, "A page of your bids, newest first."),
        **error_responses("not_authenticated", "forbidden", "bad_request", "unavailable"),
    },
)
async def my_bids(
    request: Request, ctx: Context, before: Before = None, limit: Limit = PAGE
) -> Response:
    """Your own bids in every sale, newest first, a page at a time, named as yours (with
    ``alias``, how the others saw you, in an anonymous sale) and with your maximums. The
    caller is the login, else the guest session."""
    who = await _who(request)
    return wire_json(await Histories(ctx.queries).bidder(who.name, before, limit))


@admin_router.get(
    "/sales/{sale_id}/bids",
    responses={
        **wire_schema(History, "A page of the sale's bids with their bidders' names."),
        **error_responses("unknown_sale", "bad_request"),
    },
)
async def every_sale_bid(
    sale_id: str, ctx: Context, before: Before = None, limit: Limit = PAGE
) -> Response:
    """The sale's bids as /api/sales/{id}/bids has them, with the real bidders (in an
    anonymous sale too) and their maximums."""
    histories = Histories(ctx.queries)
    return wire_json(await histories.sale(sale_id, before, limit, admin=True))


@admin_router.get(
    "/bidders/{name}/bids",
    responses={
        **wire_schema(History, "A page of the bidder's bids, newest first."),
        **error_responses("bad_request"),
    },
)
async def bidder_bids(
    name: str, ctx: Context, before: Before = None, limit: Limit = PAGE
) -> Response:
    """Every bid of one bidder (an account's username or a guest's name, exactly), newest
    first, in every sale, with ``alias`` in anonymous sales and the bidder's maximums. A name
    that never bid has an empty history."""
    return wire_json(await Histories(ctx.queries).bidder(name, before, limit))
