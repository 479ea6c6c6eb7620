"""A sale's integrity signals for admins: engine/integrity.py scores them; this asks and
renders. The router checks the admin role itself, as ``admin.router`` does."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from bidwire.engine.integrity import LISTED_BIDDERS, MAX_LISTED_BIDDERS, IntegrityReport
from bidwire.transports.http.admin import ADMIN_ERRORS, ADMIN_PREFIX
from bidwire.transports.http.auth import require_admin
from bidwire.transports.http.edge import Context, error_responses, wire_json, wire_schema

admin_router = APIRouter(
    prefix=ADMIN_PREFIX,
    dependencies=[Depends(require_admin)],
    tags=["admin"],
    responses=error_responses(*ADMIN_ERRORS),
)


@admin_router.get(
    "/sales/{sale_id}/integrity",
    responses={
        **wire_schema(IntegrityReport, "Every bidder's features and score, flagged first."),
        **error_responses("unknown_sale", "bad_request"),
    },
)
async def integrity(
    sale_id: str,
    ctx: Context,
    limit: Annotated[
        int,
        Query(ge=1, le=MAX_LISTED_BIDDERS, description="Bidders listed, flagged ones first."),
    ] = LISTED_BIDDERS,
) -> Response:
    """Shill-bidding signals of a sale (docs/protocol.md, "Integrity signals"): per bidder
    the six features of the literature (bidding ratio, successive outbidding, early bidding,
    last bidding, auction bids, winning ratio; each 0..1, higher more shill-like), their
    weighted score, whether it passes the threshold, and which features raised it. A running
    sale is scored so far. The first ``limit`` bidders are listed; ``bidders_total`` counts
    them all and ``flagged`` every flagged one."""
    return wire_json(await ctx.integrity.report(sale_id, limit))
