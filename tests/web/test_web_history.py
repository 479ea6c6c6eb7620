"""Issue 13, point 1: bid histories over HTTP, per sale (public and admin) and per bidder (your
own, and any for admins), from a scripted sale: automatic bids marked, voided ones shown as
voided, pseudonyms in an anonymous sale for everyone but admins, every page bounded and its
cursor leading to the next, on the memory store and SQLite."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.store.any_store import KINDS, store_of
from web_helpers import GuestTokens, InProcess, in_process

from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.store.memory import MemoryStore
from bidwire.store.sqlite import SqliteStore

pytestmark = pytest.mark.timeout(60)
MINUTE = 60_000

SPRING = SaleSpec("spring", "Spring Sale", ("clock", "vase"), mode="timed")
QUIET = SaleSpec("quiet", "Quiet Sale", ("ring",), mode="timed", anonymous=True)


@contextlib.asynccontextmanager
async def server_on(kind: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with contextlib.AsyncExitStack() as stack:
        if kind == "postgres":
            store: Any = await stack.enter_async_context(store_of(kind, tmp_path))
        elif kind == "sqlite":
            store = await stack.enter_async_context(SqliteStore(str(tmp_path / "h.db")))
        else:
            store = MemoryStore()
        server = await stack.enter_async_context(in_process(demo=False, store=store))
        house = server.ctx.house
        timed = {"opening_ms": MINUTE, "starting_price": 1_000}
        await house.add_sale(
            SPRING,
            [
                LotSpec("clock", "Mantel Clock", **timed),  # type: ignore[arg-type]
                LotSpec("vase", "Blue Vase", **timed),  # type: ignore[arg-type]
            ],
        )
        await house.add_sale(QUIET, [LotSpec("ring", "Silver Ring", **timed)])  # type: ignore[arg-type]
        yield server


class Bidders:
    """Guests bidding over HTTP (each keeping their guest session) and bea, an account; the
    clock moves a millisecond after each bid, so the order of the history is known."""

    def __init__(self, server: InProcess, anyone: Any, bea: Any) -> None:
        self.server, self.anyone, self.bea, self.tokens = server, anyone, bea, GuestTokens()

    async def bid(self, lot: str, who: str, amount: int | None = None, **extra: Any) -> Any:
        if who == "bea":
            body: dict[str, Any] = {"amount": amount, **extra}
            reply = await self.bea.post(f"/api/lots/{lot}/bids", json=body)
        else:
            body = self.tokens.body({"bidder": who, "amount": amount, **extra})
            reply = self.tokens.keep(
                body, await self.anyone.post(f"/api/lots/{lot}/bids", json=body)
            )
        assert reply.status_code == 200, reply.text
        self.server.clock.advance(1)
        await self.server.ctx.house.settled()
        return reply.json()


async def every_page(http: Any, path: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Every bid of a history, page after page of ``limit``; and how many pages it took."""
    bids: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    for pages in range(1, 100):
        reply = await http.get(path, params=params)
        assert reply.status_code == 200, reply.text
        page = reply.json()
        assert page["type"] == "history" and len(page["bids"]) <= limit
        bids += page["bids"]
        if page["next_before"] is None:
            return bids, pages
        params = {"limit": limit, "before": page["next_before"]}
    raise AssertionError("the pages never ended")


def brief(bids: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (b["lot"], b["amount"], b["bidder"], b.get("auto", False), b.get("voided", False))
        for b in bids
    ]


@pytest.mark.parametrize("kind", KINDS)
async def test_histories_of_a_scripted_sale(kind: str, tmp_path: Path) -> None:
    async with (
        server_on(kind, tmp_path) as server,
        server.client(server.admin_token) as admin,
        server.client(server.bidder_token) as bea,
        server.client() as anyone,
    ):
        server.ctx.house.start()
        await server.ctx.house.settled()
        people = Bidders(server, anyone, bea)
        await people.bid("clock", "gus", 1_000)
        await people.bid("clock", "ivy", 1_200)
        await people.bid("clock", "gus", 1_700)
        typo = await people.bid("clock", "ivy", 2_000)
        voided = await admin.post("/api/admin/lots/clock/void", json={"seq": typo["seq"]})
        assert voided.status_code == 200, voided.text
        await people.bid("vase", "bea", None, max_amount=5_000)  # bea leads at 10.00
        await people.bid("vase", "ivy", 1_500)  # and her maximum answers at once: automatic
        await people.bid("ring", "gus", 1_000)
        await people.bid("ring", "bea", 1_500)

        # The sale's history, newest first, two to a page: every bid once, in order.
        spring, pages = await every_page(anyone, "/api/sales/spring/bids", 2)
        assert pages == 4
        assert brief(spring) == [
            ("vase", 1_550, "bea", True, False),
            ("vase", 1_500, "ivy", False, False),
            ("vase", 1_000, "bea", False, False),
            ("clock", 2_000, "ivy", False, True),
            ("clock", 1_700, "gus", False, False),
            ("clock", 1_200, "ivy", False, False),
            ("clock", 1_000, "gus", False, False),
        ]
        assert {(b["title"], b["sale"], b["currency"]) for b in spring[:3]} == {
            ("Blue Vase", "spring", "USD")
        }
        assert all("max_amount" not in b for b in spring)  # the public never sees a maximum
        whole = (await anyone.get("/api/sales/spring/bids")).json()
        assert (whole["scope"], whole["sale"], whole["title"]) == ("sale", "spring", "Spring Sale")
        assert whole["bids"] == spring and whole["next_before"] is None
        # An admin on the public route sees the maximums, as on a lot's bids.
        as_admin = (await admin.get("/api/sales/spring/bids")).json()["bids"]
        assert as_admin[0]["max_amount"] == 5_000

        # The anonymous sale: pseudonyms, as the lot's own history has them, for everyone...
        ring = (await anyone.get("/api/sales/quiet/bids")).json()
        lot_names = [b["bidder"] for b in (await anyone.get("/api/lots/ring/bids")).json()["bids"]]
        assert [b["bidder"] for b in ring["bids"]] == lot_names
        assert not {"gus", "bea"} & set(lot_names)
        for http in (anyone, bea):  # bea too: the sale's history is everyone's
            text = (await http.get("/api/sales/quiet/bids")).text
            assert '"gus"' not in text and '"bea"' not in text
        # ...but admins, who read the names on the admin route.
        named = (await admin.get("/api/admin/sales/quiet/bids")).json()
        assert [b["bidder"] for b in named["bids"]] == ["bea", "gus"]

        # bea's own history: her bids in every sale, as hers, with her maximum and, in the
        # anonymous sale, the pseudonym the others saw.
        mine, _ = await every_page(bea, "/api/me/bids", 1)
        assert brief(mine) == [
            ("ring", 1_500, "bea", False, False),
            ("vase", 1_550, "bea", True, False),
            ("vase", 1_000, "bea", False, False),
        ]
        assert mine[0]["alias"] == lot_names[0] and "alias" not in mine[1]
        assert mine[2]["max_amount"] == 5_000
        # An admin reads anyone's: gus's, with his pseudonym in the quiet sale.
        gus = (await admin.get("/api/admin/bidders/gus/bids")).json()
        assert (gus["scope"], gus["bidder"]) == ("bidder", "gus")
        assert brief(gus["bids"]) == [
            ("ring", 1_000, "gus", False, False),
            ("clock", 1_700, "gus", False, False),
            ("clock", 1_000, "gus", False, False),
        ]
        assert gus["bids"][0]["alias"] == lot_names[1]
        nobody = (await admin.get("/api/admin/bidders/nobody/bids")).json()
        assert nobody["bids"] == [] and nobody["next_before"] is None


async def test_who_may_read_what_and_bad_input_in_words() -> None:
    async with (
        in_process() as server,
        server.client() as anyone,
        server.client(server.bidder_token) as bea,
        server.client(server.admin_token) as admin,
    ):
        for path in ("/api/admin/bidders/bea/bids", "/api/admin/sales/demo/bids"):
            for http, status, code in ((anyone, 401, "not_authenticated"), (bea, 403, "forbidden")):
                refused = await http.get(path)
                assert (refused.status_code, refused.json()["code"]) == (status, code)
        mine = await anyone.get("/api/me/bids")
        assert (mine.status_code, mine.json()["code"]) == (401, "not_authenticated")
        assert (await bea.get("/api/me/bids")).json()["bids"] == []
        for http, path in ((anyone, "/api/sales/nope/bids"), (admin, "/api/admin/sales/nope/bids")):
            missing = await http.get(path)
            assert (missing.status_code, missing.json()["code"]) == (404, "unknown_sale")
        for params in ({"limit": 0}, {"limit": 201}, {"before": "x" * 300}):
            bad = await anyone.get("/api/sales/demo/bids", params=params)
            assert (bad.status_code, bad.json()["code"]) == (422, "bad_request"), params
        for before in ("yesterday", "12:x:lot", "1:2:"):
            bad = await bea.get("/api/me/bids", params={"before": before})
            assert (bad.status_code, bad.json()["code"]) == (422, "bad_request"), before
            assert "next_before" in bad.json()["message"]
        schema = (await anyone.get("/openapi.json")).json()
        assert {"History", "HistoryEntry"} <= set(schema["components"]["schemas"])
        paths = schema["paths"]
        assert {
            "/api/sales/{sale_id}/bids",
            "/api/me/bids",
            "/api/admin/sales/{sale_id}/bids",
            "/api/admin/bidders/{name}/bids",
        } <= set(paths)
