"""A sale's results (public) and its settlement export (admins): engine/results.py computes
them; this parses, asks and renders. The admin router checks the role itself, as
``admin.router`` does, before any handler runs."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from bidwire.engine.results import SaleResults, Settlement, sale_results, settlement
from bidwire.engine.results import settlement_csv as to_csv
from bidwire.transports.http.admin import ADMIN_ERRORS, ADMIN_PREFIX
from bidwire.transports.http.auth import require_admin
from bidwire.transports.http.edge import Context, error_responses, wire_json, wire_schema

router = APIRouter()

admin_router = APIRouter(
    prefix=ADMIN_PREFIX,
    dependencies=[Depends(require_admin)],
    tags=["admin"],
    responses=error_responses(*ADMIN_ERRORS),
)


@router.get(
    "/api/sales/{sale_id}/results",
    responses={
        **wire_schema(SaleResults, "Each lot of the sale with its outcome so far."),
        **error_responses("unknown_sale", "unavailable"),
    },
)
async def results(sale_id: str, ctx: Context) -> Response:
    """Each lot of the sale in catalogue order: its outcome (sold, bought_now, unsold,
    withdrawn; null while it has not closed), the close reason, the hammer (minor units,
    null unless sold), the buyer, and the bids that count (voided ones not) and their
    distinct bidders. An anonymous sale shows pseudonyms; a running sale, what closed so far."""
    return wire_json(await sale_results(ctx.queries, sale_id))


@admin_router.get(
    "/sales/{sale_id}/settlement",
    responses={
        200: {
            "description": "One row per sold lot, as JSON (Settlement) or CSV (the rows' keys "
            "as the header).",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Settlement"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        **error_responses("unknown_sale", "bad_request"),
    },
)
async def settlement_export(
    sale_id: str,
    ctx: Context,
    format: Annotated[Literal["json", "csv"], Query(description="The export's format.")] = "json",
) -> Response:
    """What each buyer owes: per sold lot (bought-now ones too) the winner's real name, the
    hammer, the sale's buyer's premium rate, the premium (hammer x rate, rounded half up to a
    minor unit) and the total due (hammer + premium), in minor units."""
    settled = await settlement(ctx.queries, sale_id)
    if format == "json":
        return wire_json(settled)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", sale_id)
    return Response(
        to_csv(settled),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}-settlement.csv"'},
    )


# Settlement's schema is made once (wire_schema registers it for /openapi.json).
wire_schema(Settlement, "")
