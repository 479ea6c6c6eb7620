"""GET /api/admin/sales/{id}/report: admins only, the engine's figures, in the schema."""

from __future__ import annotations

import msgspec
import pytest
from test_web_admin import open_the_first_lot
from web_helpers import GuestTokens, in_process

from bidwire.engine.report import sale_report

pytestmark = pytest.mark.timeout(60)


async def test_the_report_is_for_admins_and_counts_the_bids_so_far() -> None:
    async with in_process() as server:
        await open_the_first_lot(server)
        sale_id = next(iter(server.ctx.house.sales))
        url = f"/api/admin/sales/{sale_id}/report"
        async with (
            server.client() as anonymous,
            server.client(server.bidder_token) as bidder,
            server.client(server.admin_token) as admin,
        ):
            guests = GuestTokens()
            for amount, name in ((10_000, "ann"), (20_000, "bob")):
                body = {"amount": amount, "bidder": name}
                reply = guests.keep(
                    body,
                    await anonymous.post("/api/lots/vintage-watch/bids", json=guests.body(body)),
                )
                assert reply.status_code == 200, reply.text
            refused = await anonymous.get(url)
            assert (refused.status_code, refused.json()["code"]) == (401, "not_authenticated")
            refused = await bidder.get(url)
            assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
            reply = await admin.get(url)
            assert reply.status_code == 200, reply.text
            spec = server.ctx.house.sales[sale_id].spec
            expected = await sale_report(server.ctx.house.store, spec, server.clock.now_ms())
            assert reply.json() == msgspec.to_builtins(expected)
            assert (reply.json()["bids"], reply.json()["unique_bidders"]) == (2, 2)
            watch = next(row for row in reply.json()["per_lot"] if row["lot"] == "vintage-watch")
            assert (watch["outcome"], watch["bids"], watch["bidders"]) == ("open", 2, 2)
            missing = await admin.get("/api/admin/sales/nothing/report")
            assert (missing.status_code, missing.json()["code"]) == (404, "unknown_sale")
            schema = (await admin.get("/openapi.json")).json()
            assert "SaleReport" in schema["components"]["schemas"]
            assert url.replace(sale_id, "{sale_id}") in schema["paths"]


async def test_the_across_sales_report_is_for_admins_and_checks_its_range() -> None:
    async with in_process() as server:
        await open_the_first_lot(server)
        sale_id = next(iter(server.ctx.house.sales))
        started = server.ctx.house.sales[sale_id].started_at
        assert started is not None
        async with (
            server.client() as anonymous,
            server.client(server.bidder_token) as bidder,
            server.client(server.admin_token) as admin,
        ):
            refused = await anonymous.get("/api/admin/report")
            assert (refused.status_code, refused.json()["code"]) == (401, "not_authenticated")
            refused = await bidder.get("/api/admin/report")
            assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
            reply = await admin.get("/api/admin/report")
            assert reply.status_code == 200, reply.text
            assert sale_id in [row["sale"] for row in reply.json()["sales"]]
            after = await admin.get("/api/admin/report", params={"from": started + 1})
            assert sale_id not in [row["sale"] for row in after.json()["sales"]]
            backwards = await admin.get("/api/admin/report", params={"from": 10, "to": 5})
            assert backwards.status_code == 422 and backwards.json()["code"] == "bad_request"
            assert "before it starts" in backwards.json()["message"]
            huge = await admin.get("/api/admin/report", params={"limit": 10**6})
            assert huge.status_code == 422, huge.text
            schema = (await admin.get("/openapi.json")).json()
            assert "SalesReport" in schema["components"]["schemas"]
