"""An admin adds lots to a sale and edits a scheduled lot's reserve, increment and buy-now
over HTTP (issue 12, defect 9): the house decides what is allowed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from web_helpers import InProcess, in_process

from bidwire.catalog import Defaults

pytestmark = pytest.mark.timeout(60)

ONE_SECOND = Defaults(opening_seconds=1, extend_seconds=1, gap_seconds=0)


async def settled(server: InProcess) -> None:
    """Every commit made and published: what the next request reads."""
    await asyncio.wait_for(server.ctx.house.settled(), 5)
    await asyncio.wait_for(server.ctx.feed.flushed(), 5)


async def sale_of(http: Any, sale_id: str) -> dict[str, Any]:
    sales = (await http.get("/api/sales")).json()["sales"]
    (sale,) = [s for s in sales if s["sale"] == sale_id]
    found: dict[str, Any] = sale
    return found


async def test_lots_added_to_a_held_sale_go_at_its_end_with_fresh_ids() -> None:
    async with in_process() as server, server.client(server.admin_token) as admin:
        created = await admin.post(
            "/api/admin/sales",
            json={"title": "Spring sale", "lots": [{"title": "Lamp", "starting_price": 10}]},
        )
        assert created.status_code == 200, created.text
        added = await admin.post(
            "/api/admin/sales/spring-sale/lots",
            json={
                "lots": [
                    # the demo has a vintage-watch already: this one gets a suffix
                    {"title": "Vintage Watch", "starting_price": "99.50", "reserve": 150},
                    {"title": "Rug", "starting_price": 40, "buy_now": 90},
                ]
            },
        )
        assert added.status_code == 200, added.text
        assert added.json()["lots"] == ["vintage-watch-2", "rug"]
        sale = await sale_of(admin, "spring-sale")
        assert [lot["lot"] for lot in sale["lots"]] == ["lamp", "vintage-watch-2", "rug"]
        assert sale["lots"][1]["starting_price"] == 9950 and sale["lots"][1]["reserve"] is True
        assert sale["lots"][2]["buy_now"] == 9000
        audit = (await admin.get("/api/admin/audit")).json()["entries"]
        assert any(e["action"] == "add-lots" and "spring-sale" in e["detail"] for e in audit)


async def test_a_lot_added_to_a_running_live_sale_comes_up_after_its_others() -> None:
    async with (
        in_process(demo=False, catalog_defaults=ONE_SECOND) as server,
        server.client(server.admin_token) as admin,
    ):
        house, clock = server.ctx.house, server.clock
        house.start()
        rows = [{"title": t, "starting_price": 10} for t in ("Tea set", "Clock")]
        created = await admin.post("/api/admin/sales", json={"title": "Evening", "lots": rows})
        assert created.status_code == 200, created.text
        assert (await admin.post("/api/admin/sales/evening/start")).status_code == 200
        await settled(server)
        assert (await sale_of(admin, "evening"))["lots"][0]["state"] == "open"
        added = await admin.post(
            "/api/admin/sales/evening/lots",
            json={"lots": [{"title": "Late entry", "starting_price": 5}]},
        )
        assert added.status_code == 200, added.text
        opened = []
        for _ in range(3):  # each lot's second runs out and the next opens (no gap)
            sale = await sale_of(admin, "evening")
            opened += [lot["lot"] for lot in sale["lots"] if lot["state"] == "open"]
            clock.advance(1_000)
            house.run_due()
            await settled(server)
        assert opened == ["tea-set", "clock", "late-entry"]
        sale = await sale_of(admin, "evening")
        assert sale["state"] == "ended"
        # An ended sale takes no more lots, in words.
        refused = await admin.post(
            "/api/admin/sales/evening/lots",
            json={"lots": [{"title": "Too late", "starting_price": 5}]},
        )
        assert (refused.status_code, refused.json()["code"]) == (422, "bad_request")
        assert "has ended" in refused.json()["message"]


async def test_adding_lots_refuses_bad_rows_and_unknown_sales() -> None:
    async with in_process() as server, server.client(server.admin_token) as admin:
        unknown = await admin.post(
            "/api/admin/sales/nope/lots", json={"lots": [{"title": "X", "starting_price": 1}]}
        )
        assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_sale")
        bad = await admin.post(
            "/api/admin/sales/demo/lots",
            json={
                "lots": [
                    {"title": "Fine", "starting_price": 1},
                    {"title": "Odd", "starting_price": "250,00"},
                ]
            },
        )
        assert (bad.status_code, bad.json()["code"]) == (422, "bad_catalog"), bad.text
        (problem,) = bad.json()["problems"]
        assert problem["line"] == 2 and "Odd" in problem["message"]
        assert len((await sale_of(admin, "demo"))["lots"]) == 5  # nothing was added
        empty = await admin.post("/api/admin/sales/demo/lots", json={"lots": []})
        assert (empty.status_code, empty.json()["code"]) == (422, "bad_request")


async def test_reserve_increment_and_buy_now_of_a_scheduled_lot_are_edited() -> None:
    async with in_process() as server, server.client(server.admin_token) as admin:
        before = (await admin.get("/api/admin/lots/antique-vase")).json()
        assert before["editable"] is True and before["state"] == "scheduled"
        assert (before["reserve"], before["increment"], before["buy_now"]) == (None, None, None)
        edit = await admin.put(
            "/api/admin/lots/antique-vase",
            json={"reserve": "75.00", "increment": 5, "buy_now": 200},
        )
        assert edit.status_code == 200, edit.text
        after = (await admin.get("/api/admin/lots/antique-vase")).json()
        assert (after["reserve"], after["increment"], after["buy_now"]) == (7500, 500, 20000)
        assert after["title"] == "Antique Vase"  # what was not sent stays
        cleared = await admin.put(
            "/api/admin/lots/antique-vase", json={"reserve": None, "increment": None}
        )
        assert cleared.status_code == 200, cleared.text
        again = (await admin.get("/api/admin/lots/antique-vase")).json()
        assert (again["reserve"], again["increment"], again["buy_now"]) == (None, None, 20000)
        # The public learns only that there is a reserve, never its amount.
        public = (await admin.get("/api/lots/antique-vase")).json()
        assert "75" not in str(public.get("reserve"))
        # An open lot is not edited: the house says why.
        server.ctx.house.start()
        await settled(server)
        assert (await admin.get("/api/admin/lots/vintage-watch")).json()["editable"] is False
        refused = await admin.put("/api/admin/lots/vintage-watch", json={"reserve": 500})
        assert (refused.status_code, refused.json()["code"]) == (422, "bad_request")
        assert "only lots not yet open" in refused.json()["message"]
        missing = await admin.get("/api/admin/lots/nope")
        assert (missing.status_code, missing.json()["code"]) == (404, "unknown_lot")
