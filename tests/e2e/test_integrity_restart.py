"""A restarted server rebuilds the integrity signals of a running sale from its SQLite log:
real server processes, bids over the wire, the admin's ``integrity`` asked before a SIGTERM
and after the start again. Figures that do not move with the clock are equal; the sale is
followed live again (``live`` true), and bids after the restart count on top."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import JsonClient, write_catalog

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

STEADY = ("bidding_ratio", "successive_outbidding", "auction_bids")
"""Features that do not move with the clock while lots are open (early and last bidding and
the winning ratio so far do)."""


def steady(report: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {
        b["bidder"]: (b["bids"], b["lots"], b["wins"], *(b["features"][f] for f in STEADY))
        for b in report["bidders"]
    }


async def ask(admin: JsonClient, n: int) -> dict[str, Any]:
    report = await admin.request({"type": "integrity", "sale": "test-sale", "id": f"i{n}"})
    assert report["type"] == "integrity", report
    return report


async def admin_of(port: int) -> JsonClient:
    admin = await JsonClient.connect(port)
    welcome = await admin.request(
        {"type": "login", "username": "admin", "password": "an admin password", "id": "l"}
    )
    assert welcome["type"] == "welcome" and welcome["role"] == "admin", welcome
    return admin


async def bid(client: JsonClient, lot: str, amount: int, n: int) -> None:
    reply = await client.request({"type": "bid", "lot": lot, "amount": amount, "id": f"b{n}"})
    assert reply["type"] == "bid_accepted", reply


async def test_a_restart_rebuilds_a_running_sales_signals(
    server_factory: Any, tmp_path: Path
) -> None:
    catalog = write_catalog(
        tmp_path,
        [
            {"id": "a", "title": "Lot A", "starting_price": 1, "increment": 0.01},
            {"id": "b", "title": "Lot B", "starting_price": 1, "increment": 0.01},
        ],
        mode="timed",
    )
    args = ("--catalog", catalog, "--opening-seconds", "600", "--extend-seconds", "60")
    env = {"BIDWIRE_ADMIN_PASSWORD": "an admin password"}
    server = server_factory(*args, env=env)
    sam, hal = (
        await JsonClient.connect(server.port, "sam"),
        await JsonClient.connect(server.port, "hal"),
    )
    amount, n = 100, 0
    for lot in ("a", "b"):
        for who in (sam, hal, sam, hal, sam):  # sam answers at once: successive outbidding
            await bid(who, lot, amount, n)
            amount, n = amount + 10, n + 1
    admin = await admin_of(server.port)
    before = await ask(admin, 1)
    assert before["live"] is True
    assert steady(before)["sam"][:2] == (6, 2) and steady(before)["hal"][:2] == (4, 2)
    for client in (sam, hal, admin):
        await client.close()
    assert "bidwire stopped" in server.terminate()

    again = server_factory(*args, env=env)
    admin = await admin_of(again.port)
    after = await ask(admin, 2)
    assert after["live"] is True  # followed again, rebuilt from the log
    assert steady(after) == steady(before)
    hal = await JsonClient.connect(again.port, "hal")
    await bid(hal, "a", amount, n)
    for tries in range(40):  # a running sale's report is made again twice a second
        later = await ask(admin, 3 + tries)
        if sum(b["bids"] for b in later["bidders"]) == 11:
            break
        await asyncio.sleep(0.1)
    assert sum(b["bids"] for b in later["bidders"]) == 11  # a bid after the restart counts
    refused = await hal.request({"type": "integrity", "sale": "test-sale", "id": "x"})
    assert (refused["type"], refused["code"]) == ("error", "forbidden")
    for client in (hal, admin):
        await client.close()
    again.terminate()
