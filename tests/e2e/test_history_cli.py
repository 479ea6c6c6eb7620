"""Bid histories against a running server: `bidwire history --lot/--sale/--bidder` (a table,
--json, --csv that reads back as the JSON) and the terminal client's `history` command."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import JsonClient

pytestmark = pytest.mark.timeout(120)


def bidwire(server: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIDWIRE_")}
    env["BIDWIRE_ADMIN_PASSWORD"] = "first admin pw"
    url = ("--url", f"http://127.0.0.1:{server.http_port}")
    return subprocess.run(
        [sys.executable, "-m", "bidwire", *args, *url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


async def test_history_from_the_command_line_and_the_terminal_client(
    server_factory: Any, tmp_path: Path
) -> None:
    from bidwire.client.terminal import TerminalClient

    server = server_factory(
        "--opening-seconds", "120", env={"BIDWIRE_ADMIN_PASSWORD": "first admin pw"}
    )
    catalog = tmp_path / "two.csv"
    catalog.write_text("title,starting_price\nClock,10\nLamp,20\n")
    made = bidwire(server, "admin", "import", str(catalog), "--start")
    assert made.returncode == 0, made.stderr
    sale_id = made.stdout.split("created ")[1].split()[0].rstrip(",")

    vera = await JsonClient.connect(server.port, "vera")
    opened = await vera.wait_for(lambda m: m["type"] in ("lot_opened", "snapshot"))
    lot = opened["lot"]
    placed = await vera.request({"type": "bid", "id": 1, "lot": lot, "max_amount": 5_000})
    assert placed["type"] == "bid_accepted", placed

    said: asyncio.Queue[str] = asyncio.Queue()
    client = TerminalClient("127.0.0.1", server.port, "walt", said.put_nowait)
    running = asyncio.create_task(client.run(None))

    async def expect(pattern: str) -> str:
        async def scan() -> str:
            while not re.search(pattern, line := await said.get()):
                pass
            return line

        return await asyncio.wait_for(scan(), 15)

    try:
        await expect(r"^Connected as walt \(guest\)\.$")
        await client.handle_line("12")
        await expect(r"accepted|outbid")
        await client.handle_line("history")
        await expect(r"^Bids on Clock, newest first:$")
        auto = await expect(r" by vera \(automatic\)$")
        assert "12.50 USD" in auto
        await expect(r"12\.00 USD by you$")
        await client.handle_line(f"history sale {sale_id}")
        await expect(r"^Bids in .*, newest first:$")
        await client.handle_line("history mine")
        await expect(r"^Your bids, newest first:$")
        assert re.search(r"12\.00 USD on Clock by you$", await said.get())
        await client.handle_line("history sale nope")
        await expect(r"^Cannot show the history: there is no sale 'nope'\.$")
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await vera.close()

    table = bidwire(server, "history", "--sale", sale_id)
    assert table.returncode == 0, table.stderr
    assert "vera" in table.stdout and "walt" in table.stdout and "automatic" in table.stdout
    as_json = bidwire(server, "history", "--bidder", "vera", "--json")
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    assert [(r["bidder"], r["amount"], r["auto"]) for r in rows] == [
        ("vera", "12.50", True),
        ("vera", "10.00", False),
    ]
    assert rows[0]["max_amount"] == "50.00" and rows[0]["lot"] == lot
    lot_json = json.loads(bidwire(server, "history", "--lot", lot, "--json").stdout)
    as_csv = bidwire(server, "history", "--lot", lot, "--csv")
    assert as_csv.returncode == 0, as_csv.stderr
    parsed = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["seq"] for r in parsed] == [str(r["seq"]) for r in lot_json]
    assert [r["amount"] for r in parsed] == ["12.50", "12.00", "10.00"]
    assert [r["auto"] for r in parsed] == ["true", "false", "false"]
    limited = json.loads(
        bidwire(server, "history", "--sale", sale_id, "--json", "--limit", "1").stdout
    )
    assert len(limited) == 1

    for args, said_in_words in (
        ((), "one of --lot"),
        (("--lot", lot, "--sale", sale_id), "one of --lot"),
        (("--sale", sale_id, "--json", "--csv"), "--json or --csv"),
    ):
        refused = bidwire(server, "history", *args)
        assert refused.returncode == 2 and said_in_words in refused.stderr, refused.stderr
    unknown = bidwire(server, "history", "--sale", "nope")
    assert unknown.returncode == 1 and "unknown_sale" in unknown.stderr
    assert "Traceback" not in unknown.stderr
