"""Issue 13, point 2: a sale's public results and its admin settlement export, over HTTP, from a
scripted sale whose figures are worked out by hand below (on the memory store and SQLite, whose
bid counts are SQL aggregates)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.store.any_store import KINDS, store_of
from web_helpers import GuestTokens, InProcess, in_process

from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.engine.results import premium_of
from bidwire.store.memory import MemoryStore
from bidwire.store.sqlite import SqliteStore

pytestmark = pytest.mark.timeout(60)
MINUTE = 60_000


def sale_lots() -> list[LotSpec]:
    timed = {"opening_ms": MINUTE, "extend_ms": 10_000, "starting_price": 1_000}
    return [
        LotSpec("clock", "Mantel Clock", **timed),  # type: ignore[arg-type]
        LotSpec("vase", "Blue Vase", reserve=5_000, **timed),  # type: ignore[arg-type]
        LotSpec("car", "Toy Car", buy_now=9_000, **timed),  # type: ignore[arg-type]
        LotSpec("lamp", "Brass Lamp", **timed),  # type: ignore[arg-type]
        LotSpec("desk", "Oak Desk", **timed),  # type: ignore[arg-type]
    ]


SPRING = SaleSpec(
    "spring",
    "Spring Sale",
    ("clock", "vase", "car", "lamp", "desk"),
    mode="timed",
    buyers_premium=0.125,
)
QUIET = SaleSpec("quiet", "Quiet Sale", ("ring",), mode="timed", anonymous=True)


@contextlib.asynccontextmanager
async def server_on(kind: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with contextlib.AsyncExitStack() as stack:
        if kind == "postgres":
            store: Any = await stack.enter_async_context(store_of(kind, tmp_path))
        elif kind == "sqlite":
            store = await stack.enter_async_context(SqliteStore(str(tmp_path / "r.db")))
        else:
            store = MemoryStore()
        server = await stack.enter_async_context(in_process(demo=False, store=store))
        house = server.ctx.house
        await house.add_sale(SPRING, sale_lots())
        ring = LotSpec("ring", "Silver Ring", opening_ms=MINUTE, starting_price=1_000)
        await house.add_sale(QUIET, [ring])
        yield server


async def settled(server: InProcess) -> None:
    await asyncio.wait_for(server.ctx.house.settled(), 5)
    await asyncio.wait_for(server.ctx.feed.flushed(), 5)


class Guests:
    """Guests bidding over HTTP, each keeping their guest session."""

    def __init__(self, http: Any) -> None:
        self.http, self.tokens = http, GuestTokens()

    async def bid(self, lot: str, who: str, amount: int) -> dict[str, Any]:
        body = self.tokens.body({"bidder": who, "amount": amount})
        reply = self.tokens.keep(body, await self.http.post(f"/api/lots/{lot}/bids", json=body))
        assert reply.status_code == 200, reply.text
        answer: dict[str, Any] = reply.json()
        return answer

    async def buy_now(self, lot: str, who: str) -> None:
        body = self.tokens.body({"bidder": who})
        reply = self.tokens.keep(body, await self.http.post(f"/api/lots/{lot}/buy-now", json=body))
        assert reply.status_code == 200, reply.text


def by_lot(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["lot"]: row for row in results["lots"]}


def row(
    outcome: str | None,
    reason: str | None,
    hammer: int | None,
    winner: str | None,
    bids: int,
    bidders: int,
    state: str = "closed",
) -> dict[str, Any]:
    return {
        "state": state,
        "outcome": outcome,
        "reason": reason,
        "hammer": hammer,
        "winner": winner,
        "bids": bids,
        "bidders": bidders,
        "currency": "USD",
    }


def without_ids(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rows = by_lot(results).items()
    return {k: {f: v for f, v in r.items() if f not in ("lot", "title")} for k, r in rows}


@pytest.mark.parametrize("kind", KINDS)
async def test_results_and_settlement_of_a_scripted_sale_equal_the_hand_figures(
    kind: str, tmp_path: Path
) -> None:
    async with (
        server_on(kind, tmp_path) as server,
        server.client(server.admin_token) as admin,
        server.client() as anyone,
    ):
        guests = Guests(anyone)
        house = server.ctx.house
        house.start()
        await settled(server)
        # clock: four bids by two people, the last voided: 3 bids count, gus leads at 17.00
        await guests.bid("clock", "gus", 1_000)
        await guests.bid("clock", "ivy", 1_200)
        await guests.bid("clock", "gus", 1_700)
        typo = await guests.bid("clock", "ivy", 2_000)
        await settled(server)
        voided = await admin.post("/api/admin/lots/clock/void", json={"seq": typo["seq"]})
        assert voided.status_code == 200, voided.text
        # vase: two bids under its reserve of 50.00
        await guests.bid("vase", "ivy", 1_000)
        await guests.bid("vase", "hal", 2_000)
        # car: bought now at 90.00, no bid
        await guests.buy_now("car", "gus")
        # lamp: one bid, then withdrawn
        await guests.bid("lamp", "hal", 1_000)
        await settled(server)
        withdrawn = await admin.post("/api/admin/lots/lamp/withdraw")
        assert withdrawn.status_code == 200, withdrawn.text
        # ring (anonymous sale): ivy outbids gus
        await guests.bid("ring", "gus", 1_000)
        await guests.bid("ring", "ivy", 1_500)
        await settled(server)

        # While the sale runs: what closed so far, the rest open with no outcome yet.
        running = (await anyone.get("/api/sales/spring/results")).json()
        assert (running["sale"], running["title"], running["state"]) == (
            "spring",
            "Spring Sale",
            "running",
        )
        assert [r["lot"] for r in running["lots"]] == ["clock", "vase", "car", "lamp", "desk"]
        assert without_ids(running) == {
            "clock": row(None, None, None, None, 3, 2, "open"),
            "vase": row(None, None, None, None, 2, 2, "open"),
            "car": row("bought_now", "buy_now", 9_000, "gus", 0, 0),
            "lamp": row("withdrawn", "withdrawn", None, None, 1, 1),
            "desk": row(None, None, None, None, 0, 0, "open"),
        }
        so_far = (await admin.get("/api/admin/sales/spring/settlement")).json()
        assert [r["lot"] for r in so_far["rows"]] == ["car"]

        # The hammer falls on every lot.
        server.clock.advance(2 * MINUTE)
        house.run_due()
        await settled(server)
        ended = (await anyone.get("/api/sales/spring/results")).json()
        assert ended["state"] == "ended"
        assert by_lot(ended)["clock"]["title"] == "Mantel Clock"
        assert without_ids(ended) == {
            "clock": row("sold", "hammer", 1_700, "gus", 3, 2),
            "vase": row("unsold", "reserve_not_met", None, None, 2, 2),
            "car": row("bought_now", "buy_now", 9_000, "gus", 0, 0),
            "lamp": row("withdrawn", "withdrawn", None, None, 1, 1),
            "desk": row("unsold", "no_bids", None, None, 0, 0),
        }

        # Settlement at 12.5%: 1700 x 0.125 = 212.5, half up 213 (a float's round gives 212);
        # 9000 x 0.125 = 1125.
        settled_json = (await admin.get("/api/admin/sales/spring/settlement")).json()
        assert settled_json["buyers_premium"] == 0.125
        assert settled_json["rows"] == [
            {
                "lot": "clock",
                "title": "Mantel Clock",
                "winner": "gus",
                "hammer": 1_700,
                "buyers_premium": 0.125,
                "premium": 213,
                "total": 1_913,
                "currency": "USD",
            },
            {
                "lot": "car",
                "title": "Toy Car",
                "winner": "gus",
                "hammer": 9_000,
                "buyers_premium": 0.125,
                "premium": 1_125,
                "total": 10_125,
                "currency": "USD",
            },
        ]
        # The CSV, read back by Python's csv module, is the JSON's rows.
        exported = await admin.get("/api/admin/sales/spring/settlement", params={"format": "csv"})
        assert exported.status_code == 200, exported.text
        assert exported.headers["content-type"].startswith("text/csv")
        parsed = list(csv.DictReader(io.StringIO(exported.text)))
        numbers = ("hammer", "premium", "total")
        typed = [
            {
                **r,
                **{k: int(r[k]) for k in numbers},
                "buyers_premium": float(r["buyers_premium"]),
            }
            for r in parsed
        ]
        assert typed == settled_json["rows"]

        # The anonymous sale: the public sees the pseudonym its lot shows, never a name.
        quiet = await anyone.get("/api/sales/quiet/results")
        shown = (await anyone.get("/api/lots/ring")).json()["high_bid"]["bidder"]
        ring = by_lot(quiet.json())["ring"]
        assert shown != "ivy" and ring["winner"] == shown
        assert (ring["outcome"], ring["hammer"], ring["bids"], ring["bidders"]) == (
            "sold",
            1_500,
            2,
            2,
        )
        assert "ivy" not in quiet.text and "gus" not in quiet.text
        admin_quiet = (await admin.get("/api/admin/sales/quiet/settlement")).json()
        assert [(r["winner"], r["premium"], r["total"]) for r in admin_quiet["rows"]] == [
            ("ivy", 0, 1_500)
        ]


async def test_the_settlement_is_for_admins_only_and_unknown_sales_are_said_so() -> None:
    async with (
        in_process() as server,
        server.client() as anyone,
        server.client(server.bidder_token) as bea,
        server.client(server.admin_token) as admin,
    ):
        url = "/api/admin/sales/demo/settlement"
        for http, status, code in ((anyone, 401, "not_authenticated"), (bea, 403, "forbidden")):
            for params in ({}, {"format": "csv"}):
                refused = await http.get(url, params=params)
                assert (refused.status_code, refused.json()["code"]) == (status, code)
        assert (await admin.get(url)).json()["rows"] == []
        nowhere = ((anyone, "/api/sales/nope/results"), (admin, f"{url.replace('demo', 'nope')}"))
        for http, path in nowhere:
            missing = await http.get(path)
            assert (missing.status_code, missing.json()["code"]) == (404, "unknown_sale")
        bad = await admin.get(url, params={"format": "xls"})
        assert (bad.status_code, bad.json()["code"]) == (422, "bad_request")
        # A scheduled sale's results list every lot, none with an outcome yet.
        demo = (await anyone.get("/api/sales/demo/results")).json()
        assert {(r["state"], r["outcome"], r["bids"]) for r in demo["lots"]} == {
            ("scheduled", None, 0)
        }
        schema = (await anyone.get("/openapi.json")).json()
        assert {"SaleResults", "Settlement"} <= set(schema["components"]["schemas"])


def test_the_premium_rounds_half_up_to_a_minor_unit() -> None:
    assert [premium_of(h, r) for h, r in ((1_700, 0.125), (100, 0.005), (3, 0.5), (0, 0.2))] == [
        213,
        1,
        2,
        0,
    ]
    assert premium_of(1_999, 0.2) == 400 and premium_of(10, 1) == 10
