"""`bidwire report SALE` against a running server: the table, --json as the HTTP route gives
it, and --csv that Python's csv module reads back as the JSON's per_lot."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import JsonClient

pytestmark = pytest.mark.timeout(120)

PASSWORD = "first admin pw"


def report(server: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIDWIRE_")}
    env["BIDWIRE_ADMIN_PASSWORD"] = PASSWORD
    env["COLUMNS"] = "80"  # the terminal a table must fit
    url = f"http://127.0.0.1:{server.http_port}"
    return subprocess.run(
        [sys.executable, "-m", "bidwire", "report", *args, "--url", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def http_report(server: Any, sale_id: str) -> dict[str, Any]:
    base = f"http://127.0.0.1:{server.http_port}"
    login = urllib.request.Request(
        f"{base}/api/login",
        json.dumps({"username": "admin", "password": PASSWORD}).encode(),
        {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(login, timeout=10) as reply:
        token = json.loads(reply.read())["token"]
    asked = urllib.request.Request(
        f"{base}/api/admin/sales/{sale_id}/report", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(asked, timeout=10) as reply:
        body: dict[str, Any] = json.loads(reply.read())
    return body


def fits_80_columns(printed: str, headings: tuple[str, ...]) -> None:
    """Every heading whole, nothing cut to "…" or past the right edge."""
    assert "…" not in printed, printed
    assert max(len(line) for line in printed.splitlines()) <= 80, printed
    heading_line = next(line for line in printed.splitlines() if headings[0] in line)
    assert " ".join(heading_line.split()) == " ".join(headings), heading_line


def without_ts(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "ts"}


async def test_report_as_a_table_as_json_and_as_csv(server_factory: Any, tmp_path: Path) -> None:
    server = server_factory("--opening-seconds", "60", env={"BIDWIRE_ADMIN_PASSWORD": PASSWORD})
    catalog = tmp_path / "sale.csv"
    catalog.write_text("title,starting_price,estimate_low\nClock,10,50\nLamp,20,\n")
    made = subprocess.run(
        [
            *(sys.executable, "-m", "bidwire", "admin", "import", str(catalog), "--start"),
            *("--url", f"http://127.0.0.1:{server.http_port}"),
        ],
        env={**os.environ, "BIDWIRE_ADMIN_PASSWORD": PASSWORD},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert made.returncode == 0, made.stderr
    sale_id = made.stdout.split("created ")[1].split()[0].rstrip(",")
    vera = await JsonClient.connect(server.port, "vera")
    opened = await vera.wait_for(lambda m: m["type"] in ("lot_opened", "snapshot"))
    placed = await vera.request(
        {"type": "bid", "id": 1, "lot": opened["lot"], "amount": opened["min_amount"]}
    )
    assert placed["type"] == "bid_accepted", placed
    await vera.close()

    as_json = report(server, sale_id, "--json")
    assert as_json.returncode == 0, as_json.stderr
    printed = json.loads(as_json.stdout)
    assert without_ts(printed) == without_ts(http_report(server, sale_id))
    assert (printed["bids"], printed["unique_bidders"], printed["open"]) == (1, 1, 2)

    as_csv = report(server, sale_id, "--csv")
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert rows == [
        {k: "" if v is None else str(v) for k, v in lot.items()} for lot in printed["per_lot"]
    ]

    table = report(server, sale_id)
    assert table.returncode == 0, table.stderr
    assert "clock" in table.stdout and "vera" not in table.stdout  # nobody has won yet
    assert "1 bid (" in table.stdout and "by 1 bidder;" in table.stdout, table.stdout
    fits_80_columns(table.stdout, ("Lot", "Result", "Winner", "Hammer USD", "Bids"))
    unknown = report(server, "nothing")
    assert unknown.returncode == 1 and "unknown_sale" in unknown.stderr
    assert "Traceback" not in unknown.stderr


async def test_report_all_across_sales_as_table_json_and_csv(
    server_factory: Any, tmp_path: Path
) -> None:
    server = server_factory("--opening-seconds", "60", env={"BIDWIRE_ADMIN_PASSWORD": PASSWORD})
    catalog = tmp_path / "sale.csv"
    catalog.write_text("title,starting_price\nClock,10\n")
    made = subprocess.run(
        [
            *(sys.executable, "-m", "bidwire", "admin", "import", str(catalog), "--start"),
            *("--url", f"http://127.0.0.1:{server.http_port}"),
        ],
        env={**os.environ, "BIDWIRE_ADMIN_PASSWORD": PASSWORD},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert made.returncode == 0, made.stderr
    sale_id = made.stdout.split("created ")[1].split()[0].rstrip(",")
    base = f"http://127.0.0.1:{server.http_port}"
    try:
        urllib.request.urlopen(f"{base}/api/admin/report", timeout=10)
        raise AssertionError("an anonymous caller read the across-sales report")
    except urllib.error.HTTPError as refused:
        assert refused.code == 401 and json.loads(refused.read())["code"] == "not_authenticated"

    as_json = report(server, "--all", "--json")
    assert as_json.returncode == 0, as_json.stderr
    printed = json.loads(as_json.stdout)
    sales = [row["sale"] for row in printed["sales"]]
    assert sale_id in sales, printed
    assert printed["totals"]["lots"] == sum(row["lots"] for row in printed["sales"])
    one = report(server, sale_id, "--json")
    alone = json.loads(one.stdout)
    row = printed["sales"][sales.index(sale_id)]
    assert {k: v for k, v in row.items() if k != "started_at"} == {
        k: alone[k] for k in row if k != "started_at"
    }

    as_csv = report(server, "--all", "--csv")
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["sale"] for r in rows] == sales
    assert rows[0]["lots"] == str(printed["sales"][0]["lots"])
    assert "by_currency" not in rows[0]

    table = report(server, "--all", "--from", "2000-01-01")
    assert table.returncode == 0, table.stderr
    assert sale_id in table.stdout and "totals:" in table.stdout
    sales_headings = ("Sale", "Title", "Started", "Lots", "Sold", "Sold %", "Hammer", "Bids")
    fits_80_columns(table.stdout, (*sales_headings, "Bidders"))
    future = report(server, "--all", "--from", "2999-01-01", "--json")
    assert json.loads(future.stdout)["sales"] == []
    bad = report(server, "--all", "--from", "soon")
    assert bad.returncode != 0 and "neither ms since the epoch nor a date" in bad.stderr
    assert "Traceback" not in bad.stderr
    both = report(server, sale_id, "--all")
    assert both.returncode != 0 and "not both" in both.stderr
