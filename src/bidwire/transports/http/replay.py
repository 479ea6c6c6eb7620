"""Replays of closed lots and of sales (engine/replay.py reads them); this parses, asks and
renders. Public: a replay shows what the live feed showed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from bidwire.engine.replay import (
    DEFAULT_REPLAY_PAGE,
    MAX_REPLAY_PAGE,
    LotReplay,
    Replays,
    SaleReplay,
)
from bidwire.transports.http.edge import Context, error_responses, wire_json, wire_schema

router = APIRouter()

Limit = Annotated[int, Query(ge=1, le=MAX_REPLAY_PAGE, description="The most events in the page.")]


@router.get(
    "/api/lots/{lot_id}/replay",
    responses={
        **wire_schema(LotReplay, "A page of the closed lot's public events, oldest first."),
        **error_responses("unknown_lot", "not_closed", "bad_request", "unavailable"),
    },
)
async def lot_replay(
    lot_id: str,
    ctx: Context,
    after_seq: Annotated[
        int, Query(ge=0, le=2**62, description="Only events with a greater seq.")
    ] = 0,
    limit: Limit = DEFAULT_REPLAY_PAGE,
) -> Response:
    """A closed lot's log as the public saw it, to replay: every event (opening, bids, voids,
    extensions, pauses, the close) oldest first, pseudonyms in an anonymous sale, never a
    maximum; ``voided`` lists the seqs of bids an admin voided. An open lot is refused
    (409 not_closed)."""
    return wire_json(await Replays(ctx.queries).lot(lot_id, after_seq, limit))


@router.get(
    "/api/sales/{sale_id}/replay",
    responses={
        **wire_schema(SaleReplay, "A page of the sale's closed lots and their public events."),
        **error_responses("unknown_sale", "bad_request", "unavailable"),
    },
)
async def sale_replay(
    sale_id: str,
    ctx: Context,
    after: Annotated[
        str | None,
        Query(max_length=40, description="The previous page's next_after, to go on from it."),
    ] = None,
    limit: Limit = DEFAULT_REPLAY_PAGE,
) -> Response:
    """A sale's closed lots in catalogue order, each with its public events oldest first (as
    ``/api/lots/{id}/replay``), at most ``limit`` events a page; ``pending`` names the lots not
    closed yet, which are not replayed."""
    return wire_json(await Replays(ctx.queries).sale(sale_id, after, limit))
