"""The ``bidwire`` command: ``serve``, ``client``, ``admin``, ``report`` and ``history``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bidwire.settings import Settings
from bidwire.wire.csv_cells import safe_cell

if TYPE_CHECKING:
    from rich.table import Table

    from bidwire.accounts.records import UserRole
    from bidwire.accounts.service import Accounts
    from bidwire.admin_client import AdminApi

app = typer.Typer(help="bidwire: a real-time auction house.", no_args_is_help=True)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bidwire")
    except PackageNotFoundError:  # run from a source tree that was never installed
        from bidwire import __version__

        return __version__


def _print_version(given: bool) -> None:
    if given:
        typer.echo(f"bidwire {_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """bidwire: a real-time auction house (server, terminal client, admin commands)."""


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")
    ] = None,
    tcp_port: Annotated[
        int | None,
        typer.Option(help="TCP port for the terminal client and nc (65432; 0 picks a free one)."),
    ] = None,
    http_port: Annotated[
        int | None,
        typer.Option(help="HTTP/WebSocket port for the web page (8000; 0 picks a free one)."),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(help="Store URL, e.g. sqlite:///bidwire.db or memory:// (nothing kept)."),
    ] = None,
    data_dir: Annotated[
        str | None,
        typer.Option(help="Where the default store lives (~/.local/share/bidwire)."),
    ] = None,
    bus: Annotated[
        str | None,
        typer.Option(help="Bus URL: memory:// (one node, the default) or redis://HOST:6379."),
    ] = None,
    node_name: Annotated[
        str | None,
        typer.Option(help="This node's name in /api/info, /metrics and logs (host:http-port)."),
    ] = None,
    log_format: Annotated[
        str | None,
        typer.Option(help="Log lines: human (the default) or json, one object a line."),
    ] = None,
    clock_skew_ms: Annotated[
        int | None,
        typer.Option(help="Tests of several nodes: run this node's clock this far off (0)."),
    ] = None,
    catalog: Annotated[
        str | None, typer.Option(help="Sales and lots to run, from a .toml, .json or .csv file.")
    ] = None,
    demo: Annotated[
        bool | None, typer.Option("--demo/--no-demo", help="The five sample items.")
    ] = None,
    demo_pause_seconds: Annotated[
        float | None, typer.Option(help="With --demo: pause before the next run (20).")
    ] = None,
    extend_seconds: Annotated[float | None, typer.Option(help="Countdown after a bid.")] = None,
    opening_seconds: Annotated[
        float | None,
        typer.Option(help="Seconds a lot waits for its first bid before closing unsold (30)."),
    ] = None,
    lot_gap_seconds: Annotated[
        float | None, typer.Option(help="Seconds between lots of a live sale (2).")
    ] = None,
    synchronous: Annotated[
        str | None,
        typer.Option(help="SQLite synchronous mode (FULL, the default, survives power cuts)."),
    ] = None,
    guests: Annotated[
        bool | None,
        typer.Option(
            "--guests/--no-guests", help="Let people bid under a name, without an account (on)."
        ),
    ] = None,
    tls_cert: Annotated[
        str | None, typer.Option(help="PEM certificate: TLS on both ports.")
    ] = None,
    tls_key: Annotated[str | None, typer.Option(help="PEM private key for --tls-cert.")] = None,
    max_connections_per_address: Annotated[
        int | None, typer.Option(help="Open connections one address may hold (5000).")
    ] = None,
    bid_rate: Annotated[float | None, typer.Option(help="Bids a second per user (20).")] = None,
    bid_burst: Annotated[int | None, typer.Option(help="Bids at once per user (40).")] = None,
    auth_timeout_seconds: Annotated[
        float | None, typer.Option(help="Close connections with no identity after this (30).")
    ] = None,
    header_timeout_seconds: Annotated[
        float | None, typer.Option(help="Close HTTP requests whose headers stall (10).")
    ] = None,
    currency: Annotated[
        str | None, typer.Option(help="The house currency, for lots without one (USD).")
    ] = None,
    confirm_above: Annotated[
        str | None,
        typer.Option(
            metavar="AMOUNT",
            help="Clients ask to confirm any bid above AMOUNT, in the house currency (none).",
        ),
    ] = None,
    live_integrity: Annotated[
        bool | None,
        typer.Option(
            "--live-integrity/--no-live-integrity",
            help="Follow shill-bidding signals live as bids arrive (on); off: read when asked.",
        ),
    ] = None,
    integrity_threshold: Annotated[
        float | None,
        typer.Option(help="The integrity score (0..1) at which a bidder is flagged (0.65)."),
    ] = None,
) -> None:
    """Run the auction server. BIDWIRE_* environment variables mirror every flag."""
    flags = dict(locals())
    from bidwire.app import run

    try:
        settings = Settings.build(flags)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    run(settings)


@app.command()
def client(
    host: Annotated[str, typer.Argument(help="The server's address.")] = "127.0.0.1",
    port: Annotated[int, typer.Argument(help="The server's TCP port (its --tcp-port).")] = 65432,
    name: Annotated[
        str | None,
        typer.Option(help="The name you bid under as a guest; asked on start when not given."),
    ] = None,
) -> None:
    """Join the auction from the terminal: type an amount to bid, help, quit.

    An amount bids on the lot on the block; help lists every command
    (login, name, mine, history, max, buy, lots); quit leaves."""
    from bidwire.client.terminal import main as client_main

    raise typer.Exit(client_main(host, port, name))


admin = typer.Typer(
    help="Run the house: accounts (create-user, block, users) on the store itself; sales and"
    " lots (sales, import, sale, withdraw, bids, void, buy-now) through a running server,"
    " logged in as an admin.",
    no_args_is_help=True,
)
app.add_typer(admin, name="admin")

StoreOption = Annotated[
    str | None, typer.Option("--store", help="Store URL (default: the server's default store).")
]


def _admin_run(store: str | None, job: Callable[[Accounts], Awaitable[str]]) -> None:
    """Run one account job against the store and print its result; faults become messages."""
    import asyncio

    from bidwire.accounts.service import Accounts
    from bidwire.clock import SystemClock
    from bidwire.errors import ClientError
    from bidwire.store import open_store

    settings = Settings.build({"store": store})

    async def run() -> str:
        async with open_store(settings.store_url) as opened:
            return await job(Accounts(opened, SystemClock()))

    try:
        typer.echo(asyncio.run(run()))
    except ClientError as exc:
        typer.echo(f"bidwire admin: {exc}", err=True)
        raise typer.Exit(1) from None


@admin.command("create-user")
def create_user(
    name: str,
    is_admin: Annotated[bool, typer.Option("--admin", help="Give the user the admin role.")] = (
        False
    ),
    store: StoreOption = None,
) -> None:
    """Create an account; asks for its password (or reads BIDWIRE_NEW_PASSWORD)."""
    import os

    password = os.environ.get("BIDWIRE_NEW_PASSWORD") or typer.prompt(
        f"Password for {name}", hide_input=True, confirmation_prompt=True
    )
    role: UserRole = "admin" if is_admin else "bidder"

    async def job(accounts: Accounts) -> str:
        user = await accounts.create_user(name, password, role)
        detail = f"{user.username} ({role})"
        await accounts.store.audit("cli", "create-user", detail, accounts.clock.now_ms())
        return f"created {user.username} ({user.role})"

    _admin_run(store, job)


@admin.command("block")
def block_user(
    name: str,
    unblock: Annotated[bool, typer.Option("--unblock", help="Lift the block.")] = False,
    store: StoreOption = None,
) -> None:
    """Block (or --unblock) an account in the store: it cannot log in again.

    Its tokens are revoked. A running server does not hear of it, so connections already
    open stay open: block from the admin page to end those at once."""

    async def job(accounts: Accounts) -> str:
        user = await accounts.block(name, not unblock, by="cli")
        return f"{user.username} is {'blocked' if user.blocked else 'unblocked'}"

    _admin_run(store, job)


@admin.command("users")
def list_users(store: StoreOption = None) -> None:
    """List the accounts in the store with their roles, and which are blocked."""

    async def job(accounts: Accounts) -> str:
        users = await accounts.store.list_users()
        rows = [f"{u.username:32} {u.role:8} {'blocked' if u.blocked else ''}" for u in users]
        return "\n".join(rows) or "no users yet"

    _admin_run(store, job)


ServerOption = Annotated[
    str, typer.Option("--url", envvar="BIDWIRE_URL", help="The running server's HTTP address.")
]
UserOption = Annotated[
    str,
    typer.Option(
        "--user",
        envvar="BIDWIRE_ADMIN_USER",
        help="An admin account's username; its password is asked (or BIDWIRE_ADMIN_PASSWORD).",
    ),
]
CaOption = Annotated[
    str | None, typer.Option("--cafile", help="CA certificate to trust (a TLS server).")
]


def _remote(
    url: str, user: str, cafile: str | None, job: Callable[[AdminApi], str | Table]
) -> None:
    """Log in to a running server as an admin, run one job, print its result."""
    import os

    from bidwire.admin_client import AdminApi, AdminApiError

    password = os.environ.get("BIDWIRE_ADMIN_PASSWORD") or typer.prompt(
        f"Password for {user}", hide_input=True
    )
    api = AdminApi(url, cafile=cafile)
    try:
        api.login(user, password)
        result = job(api)
    except AdminApiError as exc:
        typer.echo(f"bidwire admin: {exc}", err=True)
        raise typer.Exit(1) from None
    if isinstance(result, str):
        typer.echo(result)
    else:
        from rich.console import Console

        Console(soft_wrap=False).print(result)


@admin.command("import")
def import_catalog(
    path: str,
    start: Annotated[bool, typer.Option("--start", help="Start the sales at once.")] = False,
    url: ServerOption = "http://127.0.0.1:8000",
    user: UserOption = "admin",
    cafile: CaOption = None,
) -> None:
    """Import sales from a catalog file (.csv, .json, .toml) into a running server.

    The sales wait for a start (--start, or bidwire admin sale start SALE). Bad rows are
    reported with their line numbers, and then nothing is created."""
    from pathlib import Path

    file = Path(path)
    fmt = file.suffix.lstrip(".").lower()
    if fmt not in ("csv", "json", "toml"):
        raise typer.BadParameter("use a .csv, .json or .toml file")
    data = file.read_bytes()

    def job(api: AdminApi) -> str:
        created = api.import_catalog(data, fmt)
        sales = [sale["sale"] for sale in created["sales"]]
        for sale_id in sales if start else []:
            api.sale("start", sale_id)
        return f"created {', '.join(sales)}" + (" (started)" if start else "")

    _remote(url, user, cafile, job)


@admin.command("sale")
def sale_action(
    action: Annotated[str, typer.Argument(help="start, pause, resume or cancel")],
    sale_id: str,
    url: ServerOption = "http://127.0.0.1:8000",
    user: UserOption = "admin",
    cafile: CaOption = None,
) -> None:
    """Start (now), pause, resume or cancel a sale on a running server.

    Cancelling withdraws every lot not yet closed. The sale ids are in: bidwire admin sales."""
    if action not in ("start", "pause", "resume", "cancel"):
        raise typer.BadParameter("the action is start, pause, resume or cancel")
    _remote(url, user, cafile, lambda api: (api.sale(action, sale_id), f"{sale_id}: {action}")[1])


@admin.command("withdraw")
def withdraw_lot(
    lot_id: str,
    url: ServerOption = "http://127.0.0.1:8000",
    user: UserOption = "admin",
    cafile: CaOption = None,
) -> None:
    """Withdraw a lot from its sale: it closes unsold at once, whatever its bids."""
    _remote(url, user, cafile, lambda api: (api.withdraw(lot_id), f"{lot_id}: withdrawn")[1])


JsonOption = Annotated[
    bool, typer.Option("--json", help="JSON instead of a table: a list of rows, one per line.")
]
CsvOption = Annotated[
    bool, typer.Option("--csv", help="CSV instead of a table: a header, then the same rows.")
]


def _one_format(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        raise typer.BadParameter("choose --json or --csv, not both")


def _output(
    rows: list[dict[str, Any]],
    columns: list[tuple[str, str]],
    title: str,
    empty: str,
    as_json: bool,
    as_csv: bool,
) -> str | Table:
    """``rows`` as JSON, CSV or a table. ``columns``: (key of the row, table heading); the
    table shows ``key + "_shown"`` where a row has it (an amount with its currency)."""
    import csv
    import io
    import json

    if as_json:
        return "[" + ",\n ".join(json.dumps(row) for row in rows) + "]"
    if as_csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, fieldnames=list(rows[0]) if rows else [k for k, _ in columns]
        )
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_cell(v) for k, v in row.items()})
        return buffer.getvalue().rstrip("\n")
    if not rows:
        return empty
    from rich import box
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    zone = _local_zone()
    for key, heading in columns:
        heading = heading.format(zone=zone)
        right = key in ("seq", "amount", "max_amount", "lots")
        # an id, an amount or a time is never broken across lines; names and lists wrap
        whole = key in ("seq", "sale", "amount", "max_amount", "time", "lot_ids", "state")
        table.add_column(
            heading,
            justify="right" if right else "left",
            no_wrap=whole,
            overflow="fold",
        )
    for row in rows:
        table.add_row(*(_cell(row.get(f"{key}_shown", row.get(key))) for key, _ in columns))
    return table


def _cell(value: object) -> str:
    if value is None or value is False:
        return ""
    return "yes" if value is True else str(value)


def _csv_cell(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else safe_cell(value)


def _time(ms: int | None) -> str:
    """Milliseconds since the epoch as this machine's local time, to the second."""
    if ms is None:
        return ""
    from datetime import datetime

    return datetime.fromtimestamp(ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _local_zone() -> str:
    from datetime import datetime

    return datetime.now().astimezone().strftime("%Z") or "local"


def _iso(ms: int | None) -> str | None:
    """Milliseconds since the epoch as ISO 8601 UTC, to the millisecond (for --json/--csv)."""
    if ms is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _units(minor: int | None, currency: str) -> str | None:
    """Minor units as a plain decimal in currency units: ``123450`` -> ``"1234.50"``."""
    if minor is None:
        return None
    from bidwire.domain.money import format_amount

    return format_amount(minor, currency).rsplit(" ", 1)[0].replace(",", "")


def _money(minor: int | None, currency: str) -> str | None:
    if minor is None:
        return None
    from bidwire.domain.money import format_amount

    return format_amount(minor, currency)


BID_COLUMNS = [
    ("seq", "Seq"),
    ("time", "Time ({zone})"),
    ("bidder", "Bidder"),
    ("amount", "Amount"),
    ("max_amount", "Maximum"),
    ("notes", "Notes"),
]


def bid_rows(lot_id: str, currency: str, bids: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The admin's bid history as rows: amounts in currency units, times in ISO 8601 UTC
    (with ``ts``, the server's milliseconds), and what the table shows instead."""
    rows = []
    for bid in bids:
        notes = [
            *(["automatic"] if bid.get("auto") else []),
            *(["VOIDED"] if bid.get("voided") else []),
        ]
        rows.append(
            {
                "lot": lot_id,
                "seq": bid["seq"],
                "time": _iso(bid["ts"]),
                "ts": bid["ts"],
                "bidder": bid["bidder"],
                "amount": _units(bid["amount"], currency),
                "max_amount": _units(bid.get("max_amount"), currency),
                "currency": currency,
                "auto": bool(bid.get("auto")),
                "voided": bool(bid.get("voided")),
                # only the table shows these
                "time_shown": _time(bid["ts"]),
                "amount_shown": _money(bid["amount"], currency),
                "max_amount_shown": _money(bid.get("max_amount"), currency),
                "notes_shown": ", ".join(notes),
            }
        )
    return rows


def _plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows without what only the table shows."""
    return [{k: v for k, v in row.items() if not k.endswith("_shown")} for row in rows]


@admin.command("bids")
def lot_bids(
    lot_id: str,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
    url: ServerOption = "http://127.0.0.1:8000",
    user: UserOption = "admin",
    cafile: CaOption = None,
) -> None:
    """Every bid of a lot, newest first, with its real bidder, as a table (or --json, --csv).

    The real bidder also in anonymous sales, the bidder's maximum, and whether the house
    placed it for a maximum or an admin voided it. Amounts in the lot's currency; the table's
    times are this machine's local time, the JSON's and CSV's ISO 8601 in UTC."""

    _one_format(as_json, as_csv)

    def job(api: AdminApi) -> str | Table:
        currency = str(api.lot(lot_id)["currency"])
        rows = bid_rows(lot_id, currency, api.bids(lot_id))
        shown = rows if not (as_json or as_csv) else _plain(rows)
        return _output(
            shown, BID_COLUMNS, f"Bids on {lot_id}", f"{lot_id}: no bids yet", as_json, as_csv
        )

    _remote(url, user, cafile, job)


SALE_COLUMNS = [
    ("sale", "Sale id"),
    ("title", "Title"),
    ("state", "State"),
    ("mode", "Mode"),
    ("starts", "Start ({zone})"),
    ("lots", "Lots"),
    ("lot_ids", "Lot ids"),
]

_SALE_STATES = {"held": "held (not started)", "ended": "ended"}


def sale_rows(sales: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sales as rows: when each started (or is to start), and its lots in order."""
    rows = []
    for sale in sales:
        started, starts = sale.get("started_at"), sale.get("starts_at")
        lots = [lot["lot"] for lot in sale.get("lots", [])]
        rows.append(
            {
                "sale": sale["sale"],
                "title": sale["title"],
                "state": sale["state"],
                "mode": sale["mode"],
                "starts": _iso(started if started is not None else starts),
                "ended": _iso(sale.get("ended_at")),
                "lots": len(lots),
                "lot_ids": " ".join(lots),
                "state_shown": _SALE_STATES.get(sale["state"], sale["state"]),
                "starts_shown": _time(started if started is not None else starts) or "when started",
                "lot_ids_shown": "\n".join(lots[:8])
                + (f"\n... {len(lots) - 8} more" if len(lots) > 8 else ""),
            }
        )
    return rows


@admin.command("sales")
def list_sales(
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
    url: ServerOption = "http://127.0.0.1:8000",
    user: UserOption = "admin",
    cafile: CaOption = None,
) -> None:
    """Every sale on a running server: its id, state, mode, start time and lots.

    The ids are the ones the sale and lot commands take. State: held (waiting for a start),
    scheduled, running, paused or ended. Times: local in the table, ISO 8601 UTC in --json
    and --csv."""

    _one_format(as_json, as_csv)

    def job(api: AdminApi) -> str | Table:
        rows = sale_rows(api.sales())
        shown = rows if not (as_json or as_csv) else _plain(rows)
        return _output(shown, SALE_COLUMNS, "Sales", "no sales yet", as_json, as_csv)

    _remote(url, user, cafile, job)


@admin.command("void")
def void_bid(
    lot_id: str,
    seq: Annotated[int, typer.Argument(help="The bid's seq (see: bidwire admin bids LOT).")],
    url: ServerOption = "http://127.0.0.1:8000",
    user: UserOption = "admin",
    cafile: CaOption = None,
) -> None:
    """Void a bid of an open or paused lot (and the automatic bids it caused); audited."""

    def job(api: AdminApi) -> str:
        event = api.void(lot_id, seq)
        voided = ", ".join(f"#{n}" for n in event["voided"])
        if event.get("bidder") is None:
            return f"{lot_id}: voided {voided}; no bid stands"
        return f"{lot_id}: voided {voided}; {event['bidder']} leads at {event['amount']}"

    _remote(url, user, cafile, job)


@admin.command("buy-now")
def buy_now_price(
    lot_id: str,
    amount: Annotated[
        str, typer.Argument(help="In currency units as in a catalog (500 is 500.00), or none.")
    ],
    url: ServerOption = "http://127.0.0.1:8000",
    user: UserOption = "admin",
    cafile: CaOption = None,
) -> None:
    """Set (or, with none, remove) the buy-now price of a lot not yet open."""
    from bidwire.admin_client import AdminApiError
    from bidwire.domain.money import format_amount, parse_units

    def job(api: AdminApi) -> str:
        if amount.strip().lower() == "none":
            api.edit_lot(lot_id, {"buy_now": None})
            return f"{lot_id}: no buy-now price"
        currency = str(api.lot(lot_id)["currency"])
        try:
            minor = parse_units(amount, currency)  # refused here, with the reason, if unclear
        except ValueError as exc:
            raise AdminApiError(0, "bad_amount", f"{amount!r}: {exc}", []) from None
        api.edit_lot(lot_id, {"buy_now": amount.strip()})
        return f"{lot_id}: buy now at {format_amount(minor, currency)}"

    _remote(url, user, cafile, job)


@app.command("report")
def report(
    sale_id: Annotated[
        str | None, typer.Argument(help="The sale (see: bidwire admin sales); or --all.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="The report as the server's JSON, whole.")
    ] = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="One CSV row per lot: the report's per_lot.")
    ] = False,
    every: Annotated[
        bool, typer.Option("--all", help="Across sales: a row per sale started in the range.")
    ] = False,
    since: Annotated[
        str | None, typer.Option("--from", help="With --all: started at or after (ms or ISO).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="With --all: started before (ms or ISO date).")
    ] = None,
    url: ServerOption = "http://127.0.0.1:8000",
    user: UserOption = "admin",
    cafile: CaOption = None,
    chart: Annotated[str | None, typer.Option("--chart", help=CHART_HELP)] = None,
) -> None:
    """A sale's report from a running server, for admins: lots sold, unsold and withdrawn,
    sell-through, hammer, bids, bidders and sniping, per lot (a running sale: so far); with
    --all, the same figures per sale across the sales started in a range, and their totals."""
    _one_format(as_json, as_csv)
    _chart_format(chart)
    if every:
        if sale_id is not None:
            raise typer.BadParameter("give a sale or --all, not both")
        if chart is not None:
            raise typer.BadParameter("a chart draws one sale: give a sale, not --all")
        range_ms = (_instant_ms(since, "--from") or 0, _instant_ms(until, "--to"))
        _remote(url, user, cafile, lambda api: _sales_report(api, *range_ms, as_json, as_csv))
        return
    if sale_id is None or since is not None or until is not None:
        raise typer.BadParameter("give a sale (--from and --to go with --all)")
    wanted: str = sale_id

    def job(api: AdminApi) -> str | Table:
        import csv
        import io
        import json

        from bidwire.engine.report import CSV_FIELDS

        data = api.report(wanted)
        if chart:
            write_chart(api, data, chart)
        if as_json:
            return json.dumps(data, indent=1)
        if as_csv:
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
            writer.writeheader()
            writer.writerows({k: safe_cell(v) for k, v in row.items()} for row in data["per_lot"])
            return buffer.getvalue().rstrip("\n")
        return report_table(data)

    _remote(url, user, cafile, job)


def _instant_ms(text: str | None, option: str) -> int | None:
    """``--from``/``--to`` as ms since the epoch: digits as they are, else an ISO date or
    date and time (UTC unless it says otherwise)."""
    from datetime import UTC, datetime

    if text is None:
        return None
    if text.strip().isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither ms since the epoch nor a date such as 2026-12-01",
            param_hint=option,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0, int(moment.timestamp() * 1000))


def _sales_report(
    api: AdminApi, from_ms: int, to_ms: int | None, as_json: bool, as_csv: bool
) -> str | Table:
    import csv
    import io
    import json

    from bidwire.engine.report import SUMMARY_CSV_FIELDS

    data = api.sales_report(from_ms, to_ms)
    if as_json:
        return json.dumps(data, indent=1)
    if as_csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=SUMMARY_CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(
            {k: safe_cell(row[k]) for k in SUMMARY_CSV_FIELDS} for row in data["sales"]
        )
        return buffer.getvalue().rstrip("\n")
    return sales_table(data)


def _headline(data: dict[str, Any]) -> str:
    """The figures a sale's report and the across-sales totals share, in words."""
    from bidwire.domain.money import format_amount

    parts = [
        f"{data['sold']} sold, {data['unsold']} unsold ({data['bought_in']} bought in),"
        f" {data['withdrawn']} withdrawn, {data['open']} open of {data['lots']};"
        f" sell-through {data['sell_through_lots']:.0%}"
    ]
    totals = ", ".join(
        f"{format_amount(t['hammer_total'], t['currency'])}"
        f" ({t['sell_through_value']:.0%} of value)"
        for t in data["by_currency"]
    )
    parts.append(f"hammer {totals or 'none'}")
    if data["currency"] is not None and data["mean_hammer"] is not None:
        mean = format_amount(data["mean_hammer"], data["currency"])
        median = format_amount(data["median_hammer"], data["currency"])
        parts.append(f"mean {mean}, median {median}")
    parts.append(
        f"{_count(data['bids'], 'bid')} ({data['auto_share']:.0%} automatic) by"
        f" {_count(data['unique_bidders'], 'bidder')}"
    )
    parts.append(
        f"sniping: {data['sniping_share']:.0%} in the final 10%,"
        f" {data['sniping_extend_share']:.0%} in the extend window;"
        f" {_count(data['extensions'], 'extension')}"
    )
    if data["mean_time_to_sell_ms"] is not None:
        parts.append(f"mean time to sell {_duration(data['mean_time_to_sell_ms'])}")
    return "; ".join(parts)


def _count(n: int, word: str) -> str:
    """ "1 bid", "2 bids": a report read by people says it as they would."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# How a lot's result reads in the table, in the saleroom's words, short enough for 80 columns
# ("bought in": the reserve was not met and the house keeps the lot).
RESULT_WORDS = {
    "hammer": "sold",
    "buy_now": "bought now",
    "reserve_not_met": "bought in",
    "no_bids": "no bids",
    "withdrawn": "withdrawn",
}


def _numbers_column(table: Table, heading: str) -> None:
    """A right-aligned figure on one line: its heading and value never cut to "Bidd…"."""
    table.add_column(heading, justify="right", no_wrap=True)


def _duration(ms: int) -> str:
    seconds = ms // 1000
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


def sales_table(data: dict[str, Any]) -> Table:
    """The terminal's view of the across-sales report: a row per sale, the totals below."""
    from datetime import UTC, datetime

    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from bidwire.domain.money import format_amount

    table = Table(
        title=_count(len(data["sales"]), "sale"),
        caption="totals: " + _headline(data["totals"]),
        box=box.SIMPLE_HEAD,  # no rules between columns: 80 columns hold every figure whole
        collapse_padding=True,
        show_edge=False,
    )
    rows = []
    for row in data["sales"]:
        started = datetime.fromtimestamp(row["started_at"] / 1000, UTC)
        figures = (row["lots"], row["sold"], f"{row['sell_through_lots']:.0%}")
        hammer = "\n".join(  # a line per currency: the column stays narrow
            format_amount(t["hammer_total"], t["currency"]) for t in row["by_currency"]
        )
        counts = (row["bids"], row["unique_bidders"])
        rows.append(
            [escape(row["sale"]), escape(row["title"]), started.strftime("%Y-%m-%d")]
            + [str(f) for f in figures]
            + [hammer]
            + [str(c) for c in counts]
        )
    table.add_column("Sale", overflow="fold")  # an id is typed again: folded, never cut
    table.add_column("Title", overflow="fold")
    table.add_column("Started", min_width=10, no_wrap=True)  # a date cut short says nothing
    for heading in ("Lots", "Sold", "Sold %", "Hammer", "Bids", "Bidders"):
        _numbers_column(table, heading)
    for cells in rows:
        table.add_row(*cells)
    if data["next_from"] is not None:
        table.caption = f"{table.caption}\nmore sales: --from {data['next_from']}"
    return table


def report_table(data: dict[str, Any]) -> Table:
    """The terminal's view of a report: a line of totals, then one row per lot."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from bidwire.domain.money import format_amount

    def money(amount: int | None, currency: str) -> str:
        return "" if amount is None else format_amount(amount, currency)

    caption = f"{_headline(data)}; the top bidder placed {data['top_bidder_share']:.0%} of the bids"
    table = Table(
        title=escape(f"{data['title']} ({data['sale']})"),
        caption=caption,
        box=box.SIMPLE_HEAD,  # no rules between columns: 80 columns hold every figure whole
        collapse_padding=True,
        show_edge=False,
    )
    lots = data["per_lot"]
    one_currency = data["currency"]  # None when the sale mixes currencies
    extra = [
        (k, h)
        for k, h in (("estimate", "Estimate"), ("reserve_band", "Reserve"))
        if any(r[k] for r in lots)
    ]

    def hammer(row: dict[str, Any]) -> str:
        if row["hammer"] is None:
            return ""
        if one_currency is None:
            return format_amount(row["hammer"], row["currency"])
        return format_amount(row["hammer"], row["currency"]).removesuffix(f" {one_currency}")

    rows = [
        [
            f"{escape(row['title'])}\n[dim]{escape(row['lot'])}[/dim]"
            if row["title"] != row["lot"]
            else escape(row["lot"]),
            RESULT_WORDS.get(row["reason"] or "", row["outcome"]),
            escape(row["winner"] or ""),
            hammer(row),
            f"{row['bids']} by {row['bidders']}" if row["bids"] else "0",
            *(row[k] or "" for k, _ in extra),
        ]
        for row in lots
    ]
    # Every figure whole on one line; the lot (its title, its id under it) and the winner take
    # what is left and fold (an id is what a command takes: folded, never cut). The estimate
    # and reserve columns only when a lot has one. So a sale fits 80 columns.
    table.add_column("Lot", overflow="fold")
    table.add_column("Result", no_wrap=True)
    table.add_column("Winner", overflow="fold")
    _numbers_column(table, "Hammer" if one_currency is None else f"Hammer {one_currency}")
    _numbers_column(table, "Bids")
    for _, heading in extra:
        table.add_column(heading, no_wrap=True)
    for cells in rows:
        table.add_row(*cells)
    return table


# -- bidwire report --chart (issue 13, charts) -----------------------------------------------

CHART_HELP = "Also draw the report into FILE.png or FILE.svg: prices, hammer vs estimate, bids."


def _chart_format(path: str | None) -> None:
    """Refuse a chart file of another kind before asking the server anything."""
    if path is None:
        return
    from bidwire.charts import ChartError, chart_format

    try:
        chart_format(path)
    except ChartError as exc:
        raise typer.BadParameter(str(exc), param_hint="--chart") from None


def write_chart(api: AdminApi, data: dict[str, Any], path: str) -> None:
    """Draw the sale's report with each lot's bids (the admins' history, every page) and
    estimates (from the report's row where it has them, else the lot's public state)."""
    from bidwire.charts import chart_data, draw, save

    lots = [str(row["lot"]) for row in data["per_lot"]]
    histories = {lot: api.bids(lot) for lot in lots}
    estimates = {
        str(row["lot"]): row if "estimate_low" in row else api.lot(str(row["lot"]))
        for row in data["per_lot"]
    }
    try:
        fmt = save(draw(chart_data(data, histories, estimates)), path)
    except OSError as exc:
        typer.echo(f"bidwire report: cannot write {path}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"bidwire report: chart of {len(lots)} lots written to {path} ({fmt})", err=True)


HISTORY_COLUMNS = [
    ("time", "Time ({zone})"),
    ("lot", "Lot"),
    ("bidder", "Bidder"),
    ("amount", "Amount"),
    ("max_amount", "Maximum"),
    ("notes", "Notes"),
]


def history_rows(bids: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A history's bids (engine/history.py's entries) as rows: ``bid_rows``' with each bid's
    lot title and sale beside its lot, and the pseudonym the public saw beside its bidder."""
    rows = []
    for bid in bids:
        (base,) = bid_rows(bid["lot"], str(bid.get("currency", "")), [bid])
        alias = bid.get("alias")
        if alias:
            base["notes_shown"] = ", ".join(
                [*filter(None, [base["notes_shown"]]), f"seen as {alias}"]
            )
        row: dict[str, Any] = {}
        for key, value in base.items():
            row[key] = value
            if key == "lot":
                row.update(title=bid.get("title", ""), sale=bid.get("sale", ""))
            elif key == "bidder":
                row["alias"] = alias
        rows.append(row)
    return rows


@app.command("history")
def history(
    lot: Annotated[str | None, typer.Option("--lot", help="A lot's bids.")] = None,
    sale: Annotated[str | None, typer.Option("--sale", help="A sale's bids, every lot.")] = None,
    bidder: Annotated[
        str | None, typer.Option("--bidder", help="One bidder's bids, every sale.")
    ] = None,
    most: Annotated[
        int,
        typer.Option("--limit", min=1, max=100_000, help="The newest this many bids at most."),
    ] = 1_000,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
    url: ServerOption = "http://127.0.0.1:8000",
    user: UserOption = "admin",
    cafile: CaOption = None,
) -> None:
    """Bid history from a running server, for admins: of a lot, a sale or a bidder, newest
    first, as a table (or --json, --csv), with the real bidders (and the pseudonym the public
    saw in an anonymous sale), their maximums, automatic and voided bids marked."""
    _one_format(as_json, as_csv)
    if sum(x is not None for x in (lot, sale, bidder)) != 1:
        raise typer.BadParameter("give one of --lot LOT, --sale SALE or --bidder NAME")

    def job(api: AdminApi) -> str | Table:
        if lot is not None:
            state = api.lot(lot)
            bids = [
                {**b, "lot": lot, "title": state["title"], "currency": state["currency"]}
                for b in api.lot_history(lot, most)
            ]
            title, empty = f"Bids on {state['title']} ({lot})", f"{lot}: no bids yet"
        elif sale is not None:
            bids = api.sale_history(sale, most)
            title, empty = f"Bids in sale {sale}", f"sale {sale}: no bids yet"
        else:
            assert bidder is not None
            bids = api.bidder_history(bidder, most)
            title, empty = f"Bids of {bidder}", f"{bidder}: no bids"
        rows = history_rows(bids)
        shown = rows if not (as_json or as_csv) else _plain(rows)
        return _output(shown, HISTORY_COLUMNS, title, empty, as_json, as_csv)

    _remote(url, user, cafile, job)


def main() -> None:
    app()
