"""The ``bidwire`` command: ``serve`` and ``client``."""

from __future__ import annotations

from typing import Annotated

import typer

from bidwire.settings import Settings

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


def main() -> None:
    app()
