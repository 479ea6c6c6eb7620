"""The ``bidwire`` command: ``serve``, ``client`` and ``admin``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import typer

from bidwire.settings import Settings

if TYPE_CHECKING:
    from bidwire.accounts.records import UserRole
    from bidwire.accounts.service import Accounts
    from bidwire.admin_client import AdminApi

app = typer.Typer(help="bidwire: a real-time auction house.", no_args_is_help=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    tcp_port: Annotated[int | None, typer.Option(help="TCP port (default 65432).")] = None,
    http_port: Annotated[int | None, typer.Option(help="HTTP/WebSocket port (8000).")] = None,
    store: Annotated[
        str | None, typer.Option(help="Store URL, e.g. sqlite:///bidwire.db or memory://.")
    ] = None,
    data_dir: Annotated[str | None, typer.Option(help="Where the default store lives.")] = None,
    catalog: Annotated[
        str | None, typer.Option(help="Lots and sales from a .toml, .json or .csv file.")
    ] = None,
    demo: Annotated[
        bool | None, typer.Option("--demo/--no-demo", help="The five sample items.")
    ] = None,
    extend_seconds: Annotated[float | None, typer.Option(help="Countdown after a bid.")] = None,
    opening_seconds: Annotated[float | None, typer.Option(help="Wait for a first bid.")] = None,
    lot_gap_seconds: Annotated[float | None, typer.Option(help="Pause between lots.")] = None,
    synchronous: Annotated[
        str | None, typer.Option(help="SQLite synchronous mode (FULL survives power cuts).")
    ] = None,
    guests: Annotated[bool | None, typer.Option("--guests/--no-guests")] = None,
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
    host: Annotated[str, typer.Argument()] = "127.0.0.1",
    port: Annotated[int, typer.Argument()] = 65432,
    name: Annotated[str | None, typer.Option(help="Your name in the room.")] = None,
) -> None:
    """Join a sale from the terminal: type an amount to bid, 'quit' to leave."""
    from bidwire.client.terminal import main as client_main

    raise typer.Exit(client_main(host, port, name))


admin = typer.Typer(help="Accounts and sales, without a running server.", no_args_is_help=True)
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
    """Block a user: their tokens are revoked and they cannot log in or bid."""

    async def job(accounts: Accounts) -> str:
        user = await accounts.block(name, not unblock, by="cli")
        return f"{user.username} is {'blocked' if user.blocked else 'unblocked'}"

    _admin_run(store, job)


@admin.command("users")
def list_users(store: StoreOption = None) -> None:
    """List accounts with their roles."""

    async def job(accounts: Accounts) -> str:
        users = await accounts.store.list_users()
        rows = [f"{u.username:32} {u.role:8} {'blocked' if u.blocked else ''}" for u in users]
        return "\n".join(rows) or "no users yet"

    _admin_run(store, job)


ServerOption = Annotated[
    str, typer.Option("--url", envvar="BIDWIRE_URL", help="The running server's HTTP address.")
]
UserOption = Annotated[
    str, typer.Option("--user", envvar="BIDWIRE_ADMIN_USER", help="An admin account.")
]
CaOption = Annotated[
    str | None, typer.Option("--cafile", help="CA certificate to trust (a TLS server).")
]


def _remote(url: str, user: str, cafile: str | None, job: Callable[[AdminApi], str]) -> None:
    """Log in to a running server as an admin, run one job, print its result."""
    import os

    from bidwire.admin_client import AdminApi, AdminApiError

    password = os.environ.get("BIDWIRE_ADMIN_PASSWORD") or typer.prompt(
        f"Password for {user}", hide_input=True
    )
    api = AdminApi(url, cafile=cafile)
    try:
        api.login(user, password)
        typer.echo(job(api))
    except AdminApiError as exc:
        typer.echo(f"bidwire admin: {exc}", err=True)
        raise typer.Exit(1) from None


@admin.command("import")
def import_catalog(
    path: str,
    start: Annotated[bool, typer.Option("--start", help="Start the sales at once.")] = False,
    url: ServerOption = "http://127.0.0.1:8000",
    user: UserOption = "admin",
    cafile: CaOption = None,
) -> None:
    """Import sales from a catalog file (.csv, .json, .toml) into a running server; bad rows
    are reported with their line numbers and nothing is created."""
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
    """Start, pause, resume or cancel a sale on a running server."""
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
    """Withdraw a lot from its sale: it closes unsold."""
    _remote(url, user, cafile, lambda api: (api.withdraw(lot_id), f"{lot_id}: withdrawn")[1])


@admin.command("bids")
def lot_bids(
    lot_id: str,
    url: ServerOption = "http://127.0.0.1:8000",
    user: UserOption = "admin",
    cafile: CaOption = None,
) -> None:
    """Every bid of a lot with its real bidder, newest first."""

    def job(api: AdminApi) -> str:
        rows = api.bids(lot_id)["bids"]
        return "\n".join(_bid_row(b) for b in rows)

    _remote(url, user, cafile, job)


def _bid_row(bid: dict[str, object]) -> str:
    notes = [
        *(["auto"] if bid.get("auto") else []),
        *([f"max {bid['max_amount']}"] if bid.get("max_amount") is not None else []),
        *(["VOIDED"] if bid.get("voided") else []),
    ]
    row = f"{bid['seq']:>6} {bid['amount']:>14} {bid['bidder']}"
    return f"{row}  ({', '.join(notes)})" if notes else row


@admin.command("void")
def void_bid(
    lot_id: str,
    seq: Annotated[int, typer.Argument(help="The bid's seq (see: bidwire admin bids LOT).")],
    url: ServerOption = "http://127.0.0.1:8000",
    user: UserOption = "admin",
    cafile: CaOption = None,
) -> None:
    """Void a bid of an open lot (and the automatic bids it caused); audited."""

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


def main() -> None:
    app()
