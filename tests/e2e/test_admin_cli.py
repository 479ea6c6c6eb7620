"""The first admin from the environment, then `bidwire admin ...` against the running server:
import a catalog (bad rows by line), start, withdraw, list bids with bidders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.conftest import JsonClient

GOOD = "title,starting_price\nClock,10\nLamp,20\n"
BAD = "title,starting_price\nClock,10\n,20\nLamp,-4\n"


def admin(
    server: Any, *args: str, password: str = "first admin pw"
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIDWIRE_")}
    env["BIDWIRE_ADMIN_PASSWORD"] = password
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "bidwire",
            "admin",
            *args,
            "--url",
            f"http://127.0.0.1:{server.http_port}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


async def test_the_admin_commands_drive_a_running_server(
    server_factory: Any, tmp_path: Path
) -> None:
    server = server_factory(
        "--opening-seconds", "60", env={"BIDWIRE_ADMIN_PASSWORD": "first admin pw"}
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD)
    refused = admin(server, "import", str(bad))
    assert refused.returncode == 1
    assert "line 3" in refused.stderr and "line 4" in refused.stderr
    assert "Traceback" not in refused.stderr
    wrong = admin(server, "sale", "start", "x", password="not the password")
    assert wrong.returncode == 1 and "not_authenticated" in wrong.stderr

    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    made = admin(server, "import", str(good), "--start")
    assert made.returncode == 0, made.stderr
    sale_id = made.stdout.split("created ")[1].split()[0].rstrip(",")
    bidder = await JsonClient.connect(server.port, "vera")
    opened = await bidder.wait_for(lambda m: m["type"] in ("lot_opened", "snapshot"))
    lot = opened["lot"]
    reply = await bidder.request(
        {"type": "bid", "id": 1, "lot": lot, "amount": opened["min_amount"]}
    )
    assert reply["type"] == "bid_accepted"
    listed = admin(server, "bids", lot)
    assert "vera" in listed.stdout
    withdrawn = admin(server, "withdraw", lot)
    assert withdrawn.returncode == 0, withdrawn.stderr
    closed = await bidder.wait_for(lambda m: m["type"] == "lot_closed")
    assert closed["reason"] == "withdrawn" and closed["by"] == "admin"
    cancelled = admin(server, "sale", "cancel", sale_id)
    assert cancelled.returncode == 0, cancelled.stderr
    ended = await bidder.wait_for(lambda m: m["type"] == "sale_ended")
    assert ended["reason"] == "cancelled"
    await bidder.close()


async def test_buy_now_prices_and_voids_from_the_command_line(
    server_factory: Any, tmp_path: Path
) -> None:
    import json
    import urllib.request

    server = server_factory(
        "--opening-seconds", "60", env={"BIDWIRE_ADMIN_PASSWORD": "first admin pw"}
    )

    def lot_state(lot: str) -> dict[str, Any]:
        url = f"http://127.0.0.1:{server.http_port}/api/lots/{lot}"
        with urllib.request.urlopen(url, timeout=10) as reply:
            body: dict[str, Any] = json.loads(reply.read())
        return body

    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    made = admin(server, "import", str(good))
    assert made.returncode == 0, made.stderr
    sale_id = made.stdout.split("created ")[1].split()[0].rstrip(",")
    priced = admin(server, "buy-now", "clock", "49.50")
    assert priced.returncode == 0, priced.stderr
    assert "clock: buy now at 49.50 USD" in priced.stdout
    assert lot_state("clock")["buy_now"] == 4_950
    for bad, said in (("5", "starting price"), ("cheap", "not a number")):
        refused = admin(server, "buy-now", "clock", bad)
        assert refused.returncode == 1 and said in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    assert lot_state("clock")["buy_now"] == 4_950
    cleared = admin(server, "buy-now", "clock", "none")
    assert cleared.returncode == 0 and "no buy-now price" in cleared.stdout, cleared.stderr
    assert lot_state("clock")["buy_now"] is None
    unknown = admin(server, "buy-now", "nope", "10")
    assert unknown.returncode == 1 and "unknown_lot" in unknown.stderr

    assert admin(server, "sale", "start", sale_id).returncode == 0
    vera = await JsonClient.connect(server.port, "vera")
    opened = await vera.wait_for(lambda m: m["type"] in ("lot_opened", "snapshot"))
    assert opened["lot"] == "clock"
    first = await vera.request({"type": "bid", "id": 1, "lot": "clock", "amount": 1_000})
    assert first["type"] == "bid_accepted", first
    walt = await JsonClient.connect(server.port, "walt")
    typo = await walt.request({"type": "bid", "id": 1, "lot": "clock", "amount": 900_000})
    assert typo["type"] == "bid_accepted", typo
    voided = admin(server, "void", "clock", str(typo["seq"]))
    assert voided.returncode == 0, voided.stderr
    assert f"clock: voided #{typo['seq']}; vera leads at 1000" in voided.stdout
    announced = await walt.wait_for(lambda m: m["type"] == "bid_voided")
    assert announced["voided"] == [typo["seq"]] and announced["bidder"] == "vera"
    listed = admin(server, "bids", "clock", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["bidder"]: row for row in json.loads(listed.stdout)}
    assert rows["walt"]["voided"] is True and rows["walt"]["amount"] == "9000.00"
    assert rows["vera"]["voided"] is False and rows["vera"]["amount"] == "10.00"
    table = admin(server, "bids", "clock").stdout
    walt_line = next(line for line in table.splitlines() if "walt" in line)
    assert "9,000.00 USD" in walt_line and "VOIDED" in walt_line, table
    again = admin(server, "void", "clock", str(typo["seq"]))
    assert again.returncode == 1 and "bad_request" in again.stderr
    await vera.close()
    await walt.close()


def test_version_and_help_texts_say_what_is_true() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIDWIRE_")}
    env["COLUMNS"] = "200"

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "bidwire", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    from importlib.metadata import version

    assert run("--version").strip() == f"bidwire {version('bidwire')}"
    admin_help = run("admin", "--help")
    assert "without a running server" not in admin_help  # most admin commands need one
    assert "through a running server" in admin_help and "sales" in admin_help
    assert "asked on start" in run("client", "--help")
    assert "0 picks a free one" in run("serve", "--help")


async def test_admin_bids_and_sales_as_tables_json_and_csv(
    server_factory: Any, tmp_path: Path
) -> None:
    import csv
    import io
    import json
    from datetime import datetime

    server = server_factory(
        "--opening-seconds", "60", env={"BIDWIRE_ADMIN_PASSWORD": "first admin pw"}
    )
    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    started = admin(server, "import", str(good), "--start")
    assert started.returncode == 0, started.stderr
    held = admin(server, "import", str(good))  # a second sale, waiting for its start
    assert held.returncode == 0, held.stderr
    held_id = held.stdout.split("created ")[1].split()[0].rstrip(",")

    sales = json.loads(admin(server, "sales", "--json").stdout)
    by_state = {sale["state"]: sale for sale in sales}
    assert set(by_state) == {"running", "held"}
    assert by_state["held"]["sale"] == held_id and by_state["held"]["starts"] is None
    assert by_state["running"]["lot_ids"] == "clock lamp"
    assert by_state["running"]["mode"] == "live" and by_state["running"]["lots"] == 2
    datetime.fromisoformat(by_state["running"]["starts"])  # a real time, not a count of ms
    sales_csv = list(csv.DictReader(io.StringIO(admin(server, "sales", "--csv").stdout)))
    assert [row["sale"] for row in sales_csv] == [sale["sale"] for sale in sales]
    sales_table = admin(server, "sales").stdout
    assert held_id in sales_table and "held (not started)" in sales_table

    vera = await JsonClient.connect(server.port, "vera")
    opened = await vera.wait_for(lambda m: m["type"] in ("lot_opened", "snapshot"))
    assert opened["lot"] == "clock"
    for request_id, amount in ((1, 1_000), (2, 123_450)):
        await vera.request({"type": "bid", "id": request_id, "lot": "clock", "max_amount": amount})
    walt = await JsonClient.connect(server.port, "walt")
    answer = await walt.request({"type": "bid", "id": 1, "lot": "clock", "amount": 2_500})
    assert answer["type"] == "bid_accepted", answer

    rows = json.loads(admin(server, "bids", "clock", "--json").stdout)
    assert [row["bidder"] for row in rows] == ["vera", "walt", "vera"]  # newest first
    assert [row["amount"] for row in rows] == ["26.00", "25.00", "10.00"]
    assert rows[0]["auto"] is True and rows[0]["currency"] == "USD"
    assert {row["lot"] for row in rows} == {"clock"}
    assert datetime.fromisoformat(rows[0]["time"]).timestamp() * 1000 == rows[0]["ts"]
    read_back = list(csv.DictReader(io.StringIO(admin(server, "bids", "clock", "--csv").stdout)))
    assert [row["seq"] for row in read_back] == [str(row["seq"]) for row in rows]
    assert [row["amount"] for row in read_back] == [row["amount"] for row in rows]
    assert list(read_back[0]) == list(rows[0])  # the same columns as the JSON's keys
    table = admin(server, "bids", "clock").stdout
    assert "26.00 USD" in table and "automatic" in table and str(rows[0]["ts"]) not in table
    empty = admin(server, "bids", "lamp")
    assert empty.returncode == 0 and "no bids yet" in empty.stdout
    both = admin(server, "bids", "clock", "--json", "--csv")
    assert both.returncode == 2 and "not both" in both.stderr
    await vera.close()
    await walt.close()


async def test_the_terminal_client_shows_what_the_auctioneer_does(
    server_factory: Any, tmp_path: Path
) -> None:
    """Against a real server: login (then a reconnect by token), a pause with the clock
    stopped, the resume's new deadline, a withdrawal and a cancelled sale, in words."""
    import asyncio
    import re

    from bidwire.client.terminal import TerminalClient

    server = server_factory(
        "--opening-seconds", "60", env={"BIDWIRE_ADMIN_PASSWORD": "first admin pw"}
    )
    catalog = tmp_path / "three.csv"
    catalog.write_text("title,starting_price\nClock,10\nLamp,20\nVase,30\n")
    made = admin(server, "import", str(catalog), "--start")
    assert made.returncode == 0, made.stderr
    sale_id = made.stdout.split("created ")[1].split()[0].rstrip(",")

    said: asyncio.Queue[str] = asyncio.Queue()
    client = TerminalClient("127.0.0.1", server.port, "vera", said.put_nowait)
    running = asyncio.create_task(client.run(None))

    async def expect(pattern: str) -> str:
        async def scan() -> str:
            while not re.search(pattern, line := await said.get()):
                pass
            return line

        return await asyncio.wait_for(scan(), 15)

    async def act(*args: str) -> None:
        done = await asyncio.to_thread(admin, server, *args)
        assert done.returncode == 0, done.stderr

    try:
        await expect(r"^Connected as vera \(guest\)\.$")
        await client.handle_line("login admin")
        await client.handle_line("first admin pw")
        await expect(r"^Logged in as admin \(admin\)\.$")
        assert client.state.on_block is not None and client.state.on_block.lot == "clock"
        await client.handle_line("10")
        await expect(r"^Your bid of 10\.00 USD on Clock was accepted\.$")

        await act("sale", "pause", sale_id)
        paused = await expect("^PAUSED by the auctioneer: Clock")
        assert "left when it resumes" in paused
        frozen = client.toolbar()
        assert "PAUSED by the auctioneer" in frozen
        refused = await client.handle_line("20")
        assert refused
        await expect("^Clock is PAUSED by the auctioneer: bidding waits")

        await act("sale", "resume", sale_id)
        await expect(r"^Resumed: Clock is open for bids again, ends in \d:\d\d\.$")
        assert "PAUSED" not in client.toolbar()

        await act("withdraw", "clock")
        await expect("^Clock: withdrawn by the auctioneer$")
        await expect("^On the block: Lamp")
        await act("sale", "cancel", sale_id)
        await expect("^Lamp: withdrawn by the auctioneer$")
        await expect(f"^Sale cancelled by the auctioneer: ({sale_id}|Three)")
    finally:
        running.cancel()
        with __import__("contextlib").suppress(asyncio.CancelledError):
            await running
    assert client.state.token is not None  # the next connection says auth, not hello
