"""Everything under /api/admin. The router itself checks the admin role (``dependencies``),
so every route it holds does, before any handler runs and before a body is validated; a test
walks ``app.routes`` and fails on any route about administration that does not refuse
anonymous users and bidders."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from bidwire.accounts.records import UserRecord
from bidwire.catalog import Defaults, edited_lot, parse_catalog
from bidwire.domain.events import BidVoided
from bidwire.domain.lot import LotSpec
from bidwire.domain.money import DEFAULT_INCREMENTS, FixedIncrement, TieredIncrement
from bidwire.domain.sale import SaleSpec
from bidwire.engine.queries import BidHistory, SalesPage
from bidwire.engine.report import (
    MAX_SALES_PAGE,
    SaleReport,
    SalesReport,
    sale_report,
    sales_report,
)
from bidwire.errors import CatalogError
from bidwire.transports.http.auth import AdminUser, require_admin
from bidwire.transports.http.edge import (
    MAX_BODY_BYTES,
    ApiError,
    Context,
    error_responses,
    wire_json,
    wire_schema,
)
from bidwire.transports.http.models import (
    AuditEntry,
    AuditPage,
    CatalogProblems,
    Done,
    LotEdit,
    LotsIn,
    LotSpecOut,
    Problem,
    SaleCreated,
    SaleIn,
    SalesCreated,
    StartRequest,
    UserOut,
    UsersPage,
    VoidRequest,
)
from bidwire.transports.session import SessionContext

ADMIN_PREFIX = "/api/admin"
ADMIN_ERRORS = ("not_authenticated", "forbidden", "unavailable")
MAX_ADMIN_PAGE = 1_000
CATALOG_TYPES = {
    "csv": "text/csv",
    "json": "application/json",
    "toml": "application/toml",
}

router = APIRouter(
    prefix=ADMIN_PREFIX,
    dependencies=[Depends(require_admin)],
    tags=["admin"],
    responses=error_responses(*ADMIN_ERRORS),
)


def catalog_defaults(request: Request) -> Defaults:
    """What a lot gets for what its row leaves out (``create_app``'s ``catalog_defaults``)."""
    defaults: Defaults = request.app.state.catalog_defaults
    return defaults


CatalogDefaults = Annotated[Defaults, Depends(catalog_defaults)]


def _user_out(user: UserRecord) -> UserOut:
    return UserOut(
        username=user.username, role=user.role, blocked=user.blocked, created_at=user.created_at
    )


def _fresh_ids(
    catalog: list[tuple[SaleSpec, list[LotSpec]]], lots: Iterable[str], sales: Iterable[str]
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


async def _create(
    ctx: SessionContext, catalog: list[tuple[SaleSpec, list[LotSpec]]], admin: UserRecord
) -> SalesCreated:
    house = ctx.house
    catalog = _fresh_ids(catalog, house.lot_ids(), house.sale_ids())
    for sale, lots in catalog:
        # Built here, a sale waits for its start (or schedule): POST .../start.
        await house.create_sale(dataclasses.replace(sale, held=True), lots, by=admin.username)
    return SalesCreated(
        sales=[
            SaleCreated(sale=sale.id, title=sale.title, lots=list(sale.lot_ids))
            for sale, _ in catalog
        ],
        ts=ctx.clock.now_ms(),
    )


@router.get("/users", response_model=UsersPage)
async def users(admin: AdminUser, ctx: Context) -> UsersPage:
    assert ctx.accounts is not None  # an admin was authenticated, so there are accounts
    listed = await ctx.accounts.store.list_users()
    return UsersPage(users=[_user_out(user) for user in listed], ts=ctx.clock.now_ms())


@router.get("/sales", responses=wire_schema(SalesPage, "Every sale, held ones too."))
async def every_sale(admin: AdminUser, ctx: Context) -> Response:
    """Every sale with its lots, as an admin sees them (``bidwire admin sales``): a listing
    of its own, so paging the public one cannot hide a sale from the admin."""
    return wire_json(await ctx.queries.sales(admin=True, maxima=True))


async def _set_blocked(
    ctx: SessionContext, username: str, blocked: bool, admin: UserRecord
) -> UserOut:
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
    responses=error_responses("unknown_user", "bad_request"),
)
async def block(username: str, admin: AdminUser, ctx: Context) -> UserOut:
    """Block a user: every token of theirs dies at once, and they cannot log in."""
    return await _set_blocked(ctx, username, True, admin)


@router.post(
    "/users/{username}/unblock",
    response_model=UserOut,
    responses=error_responses("unknown_user", "bad_request"),
)
async def unblock(username: str, admin: AdminUser, ctx: Context) -> UserOut:
    return await _set_blocked(ctx, username, False, admin)


@router.post(
    "/sales",
    response_model=SalesCreated,
    responses={
        **error_responses("bad_json", "bad_request", "unavailable"),
        422: {"model": CatalogProblems, "description": "bad_request, bad_catalog"},
    },
)
async def create_sale(
    body: SaleIn, admin: AdminUser, ctx: Context, defaults: CatalogDefaults
) -> SalesCreated:
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
    return await _create(ctx, catalog, admin)


@router.post(
    "/catalog",
    response_model=SalesCreated,
    responses={
        **error_responses("bad_request", "too_large", "unavailable"),
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
    ctx: Context,
    defaults: CatalogDefaults,
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
    return await _create(ctx, catalog, admin)


def _parsed(rows: list[dict[str, object]], defaults: Defaults, what: str) -> list[LotSpec]:
    """Catalog rows as lots, each bad one reported with its position (1 is the first)."""
    try:
        catalog = parse_catalog(
            json.dumps({"sales": [{"title": "lots", "lots": rows}]}), "json", defaults, "request"
        )
    except CatalogError as exc:
        raise ApiError(
            "bad_catalog",
            what,
            [Problem(line=line, message=message) for line, message in exc.problems],
        ) from None
    return catalog[0][1]


@router.post(
    "/sales/{sale_id}/lots",
    response_model=SaleCreated,
    responses={
        **error_responses("bad_json", "bad_request", "unknown_sale", "unavailable"),
        422: {"model": CatalogProblems, "description": "bad_request, bad_catalog"},
    },
)
async def add_lots(
    sale_id: str, body: LotsIn, admin: AdminUser, ctx: Context, defaults: CatalogDefaults
) -> SaleCreated:
    """Add lots (catalog rows) at the end of a sale that has not ended. In a sale not yet
    started they wait with the others; in a running live sale they come up after its last
    lot; in a running timed sale they open at once. An id taken is given a suffix."""
    house = ctx.house
    sale = house.sales.get(sale_id)
    if sale is None:
        raise ApiError("unknown_sale", f"there is no sale {sale_id[:64]!r}")
    rows = [lot.model_dump(exclude_none=True) for lot in body.lots]
    lots = _parsed(rows, defaults, "the lots have bad rows")
    spec = dataclasses.replace(sale.spec, lot_ids=tuple(lot.id for lot in lots))
    ((_, lots),) = _fresh_ids([(spec, lots)], house.lot_ids(), ())
    await house.add_lots(sale_id, lots, by=admin.username)
    return SaleCreated(sale=sale_id, title=sale.spec.title, lots=[lot.id for lot in lots])


def _increment_out(spec: LotSpec) -> int | list[tuple[int, int]] | None:
    rule = spec.increment
    if rule == DEFAULT_INCREMENTS:
        return None
    if isinstance(rule, FixedIncrement):
        return rule.step
    assert isinstance(rule, TieredIncrement)
    return [(start, step) for start, step in rule.tiers]


@router.get(
    "/lots/{lot_id}",
    response_model=LotSpecOut,
    responses=error_responses("unknown_lot", "unavailable"),
)
async def lot_spec(lot_id: str, admin: AdminUser, ctx: Context) -> LotSpecOut:
    """A lot's catalog entry: reserve, increment, buy-now and times, which the public does
    not see, for an admin editing it."""
    lot = await ctx.house.find_lot(lot_id)
    if lot is None:
        raise ApiError("unknown_lot", f"there is no lot {lot_id[:64]!r}")
    spec = lot.spec
    return LotSpecOut(
        lot=lot.id,
        sale=lot.sale,
        state=lot.status,
        editable=lot.status == "scheduled",
        title=spec.title,
        description=spec.description,
        currency=spec.currency,
        starting_price=spec.starting_price,
        reserve=spec.reserve,
        increment=_increment_out(spec),
        buy_now=spec.buy_now,
        opening_seconds=spec.opening_ms / 1000,
        extend_seconds=spec.extend_ms / 1000,
        hard_end_seconds=None if spec.hard_end_ms is None else spec.hard_end_ms / 1000,
    )


@router.put(
    "/lots/{lot_id}",
    response_model=Done,
    responses=error_responses("bad_json", "bad_request", "unknown_lot", "unavailable"),
)
async def update_lot(
    lot_id: str, body: LotEdit, admin: AdminUser, ctx: Context, defaults: CatalogDefaults
) -> Done:
    """Edit a lot while its sale is still scheduled (the lot keeps its id): the fields sent
    change, the others stay as they are."""
    if not ctx.house.knows(lot_id):
        raise ApiError("unknown_lot", f"there is no lot {lot_id[:64]!r}")
    lot = ctx.house.lots.get(lot_id)
    if lot is None:  # closed: kept in the store
        raise ApiError("bad_request", "that lot has closed; only lots not yet open can be edited")
    if body.id is not None and body.id != lot_id:
        raise ApiError("bad_request", "a lot's id cannot change")
    row = body.model_dump(exclude_unset=True, exclude={"id"})
    try:
        spec = edited_lot(lot.spec, row, defaults)
    except (ValueError, TypeError) as exc:
        raise ApiError("bad_request", str(exc)) from None
    await ctx.house.update_lot(lot_id, spec, by=admin.username)
    return Done(ts=ctx.clock.now_ms())


@router.post(
    "/sales/{sale_id}/start",
    response_model=Done,
    responses=error_responses("bad_json", "unknown_sale", "bad_request", "unavailable"),
)
async def start_sale(
    sale_id: str, admin: AdminUser, ctx: Context, body: StartRequest | None = None
) -> Done:
    """Start a held sale now, or schedule it (``at``, ms since the epoch)."""
    at = body.at if body is not None else None
    await ctx.house.start_sale(sale_id, admin.username, at)
    return Done(ts=ctx.clock.now_ms())


# No docstrings on these three: the summary is the whole description.
@router.post(
    "/sales/{sale_id}/pause",
    response_model=Done,
    responses=error_responses("unknown_sale", "bad_request"),
    summary="Pause a running sale: its open lots stop taking bids",
)
async def pause_sale(sale_id: str, admin: AdminUser, ctx: Context) -> Done:
    await ctx.house.pause_sale(sale_id, admin.username)
    return Done(ts=ctx.clock.now_ms())


@router.post(
    "/sales/{sale_id}/resume",
    response_model=Done,
    responses=error_responses("unknown_sale", "bad_request"),
    summary="Resume a paused sale",
)
async def resume_sale(sale_id: str, admin: AdminUser, ctx: Context) -> Done:
    await ctx.house.resume_sale(sale_id, admin.username)
    return Done(ts=ctx.clock.now_ms())


@router.post(
    "/sales/{sale_id}/cancel",
    response_model=Done,
    responses=error_responses("unknown_sale", "bad_request"),
    summary="Cancel a sale: its lots close unsold",
)
async def cancel_sale(sale_id: str, admin: AdminUser, ctx: Context) -> Done:
    await ctx.house.cancel_sale(sale_id, admin.username)
    return Done(ts=ctx.clock.now_ms())


@router.post(
    "/lots/{lot_id}/withdraw",
    response_model=Done,
    responses=error_responses("unknown_lot", "bad_request", "unavailable"),
)
async def withdraw_lot(lot_id: str, admin: AdminUser, ctx: Context) -> Done:
    """Withdraw a lot from its sale: it closes unsold, whatever its bids."""
    await ctx.house.withdraw_lot(lot_id, admin.username)
    return Done(ts=ctx.clock.now_ms())


@router.get(
    "/lots/{lot_id}/bids",
    responses={
        **wire_schema(BidHistory, "A page of the lot's bids with their bidders."),
        **error_responses("unknown_lot", "bad_request", "unavailable"),
    },
)
async def every_bid(
    lot_id: str,
    admin: AdminUser,
    ctx: Context,
    before_seq: Annotated[
        int | None, Query(ge=1, le=2**62, description="Only bids with a smaller seq.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ADMIN_PAGE)] = MAX_ADMIN_PAGE,
) -> Response:
    """Every bid of a lot with the real bidder (whatever the public sees), newest first."""
    return wire_json(await ctx.queries.bids(lot_id, before_seq, limit, admin=True))


@router.post(
    "/lots/{lot_id}/void",
    responses={
        **wire_schema(BidVoided, "The bid_voided event, as admins see it (names, maximum)."),
        **error_responses("bad_json", "unknown_lot", "bad_request", "unavailable"),
    },
)
async def void_bid(lot_id: str, body: VoidRequest, admin: AdminUser, ctx: Context) -> Response:
    """Void a bid of an open lot (and the automatic bids it caused): the lot stands where its
    bids without them decide, announced to everyone and audited."""
    return wire_json(await ctx.house.void_bid(lot_id, body.seq, admin.username))


@router.get(
    "/sales/{sale_id}/report",
    responses={
        **wire_schema(SaleReport, "The sale's figures so far (docs/protocol.md, Sale report)."),
        **error_responses("unknown_sale", "unavailable"),
    },
)
async def report(sale_id: str, admin: AdminUser, ctx: Context) -> Response:
    """A sale's report: lots sold, unsold and withdrawn, sell-through, hammer, bids, bidders
    and sniping, per lot and per bidder, from the event log (a running sale: so far)."""
    sale = ctx.house.sales.get(sale_id)
    if sale is None:
        raise ApiError("unknown_sale", f"there is no sale {sale_id[:64]!r}")
    now = ctx.clock.now_ms()
    return wire_json(await sale_report(ctx.house.store, sale.spec, now, ctx.live_report))


LATEST_MS = 2**53 - 1
"""The end of every range (the largest integer a browser reads exactly)."""


@router.get(
    "/report",
    responses={
        **wire_schema(SalesReport, "The sales started in the range, and their totals."),
        **error_responses("bad_request", "unavailable"),
    },
)
async def sales_report_route(
    admin: AdminUser,
    ctx: Context,
    from_ms: Annotated[int, Query(alias="from", ge=0, le=LATEST_MS)] = 0,
    to_ms: Annotated[int, Query(alias="to", ge=0, le=LATEST_MS)] = LATEST_MS,
    limit: Annotated[int, Query(ge=1, le=MAX_SALES_PAGE)] = MAX_SALES_PAGE,
) -> Response:
    """Across sales: a summary row for each sale whose start falls in [from, to) (ms since
    the epoch; by default every started sale), oldest first, at most ``limit``, and the
    totals over them; ``next_from`` starts the next page (docs/protocol.md, Sale report)."""
    if to_ms < from_ms:
        raise ApiError("bad_request", f"the range ends ({to_ms}) before it starts ({from_ms})")
    sales = ctx.house.sales.values()
    now = ctx.clock.now_ms()
    return wire_json(await sales_report(ctx.house.store, sales, from_ms, to_ms, now, limit))


@router.get("/audit", response_model=AuditPage)
async def audit(
    admin: AdminUser, ctx: Context, limit: Annotated[int, Query(ge=1, le=MAX_ADMIN_PAGE)] = 200
) -> AuditPage:
    """The audit log, newest first: every admin change and who made it."""
    assert ctx.accounts is not None
    entries = await ctx.accounts.store.audit_log(limit)
    return AuditPage(
        entries=[
            AuditEntry(ts=ts, actor=actor, action=action, detail=detail)
            for ts, actor, action, detail in entries
        ],
        ts=ctx.clock.now_ms(),
    )
