"""One schema source for each wire shape: the HTTP API answers and documents the msgspec
Structs the wire encodes, with no pydantic copy beside them."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
from web_helpers import in_process

from bidwire.domain.events import BidVoided
from bidwire.engine.queries import BidHistory, LotsPage, SalesPage
from bidwire.engine.views import Snapshot
from bidwire.transports.http import models
from bidwire.transports.http.edge import WIRE_SHAPES

pytestmark = pytest.mark.timeout(30)
LOT = "vintage-watch"


async def test_answers_decode_strictly_as_the_wire_shapes_and_are_documented_from_them() -> None:
    async with in_process() as server, server.client() as http:
        shapes: dict[str, type[Any]] = {
            "/api/sales": SalesPage,
            "/api/lots": LotsPage,
            f"/api/lots/{LOT}": Snapshot,
            f"/api/lots/{LOT}/bids": BidHistory,
        }
        for path, shape in shapes.items():
            reply = await http.get(path)
            assert reply.status_code == 200, reply.text
            msgspec.json.decode(reply.content, type=shape, strict=True)  # every field, exactly
        document = (await http.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    _, expected = msgspec.json.schema_components(
        [SalesPage, LotsPage, Snapshot, BidHistory], ref_template="#/components/schemas/{name}"
    )
    for name, schema in expected.items():
        assert schemas[name] == schema, name
    operation = document["paths"]["/api/lots/{lot_id}"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Snapshot"
    }


def test_no_pydantic_model_copies_a_wire_shape() -> None:
    copies = {shape.__name__ for shape in WIRE_SHAPES} & set(vars(models))
    assert not copies, copies


async def test_the_issue_11_shapes_are_documented_as_they_are_sent() -> None:
    async with (
        in_process() as server,
        server.client(server.admin_token) as admin,
        server.client(server.bidder_token) as bea,
    ):
        document = (await admin.get("/openapi.json")).json()
        paths, schemas = document["paths"], document["components"]["schemas"]
        # The void answers the BidVoided event itself, documented from its Struct.
        void = paths["/api/admin/lots/{lot_id}/void"]["post"]
        assert void["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/BidVoided"
        }
        _, expected = msgspec.json.schema_components(
            [BidVoided, BidHistory], ref_template="#/components/schemas/{name}"
        )
        for name in ("BidVoided", "HistoryBid"):
            assert schemas[name] == expected[name], name
        assert {"auto", "voided", "max_amount"} <= set(schemas["HistoryBid"]["properties"])
        # The edit documents buy_now as the other prices of a catalog row, in currency units
        # (a number or a string such as "499.50"); the buy-now answer is the Bought model.
        edit = paths["/api/admin/lots/{lot_id}"]["put"]["requestBody"]
        assert edit["content"]["application/json"]["schema"]["$ref"].endswith("/LotEdit")
        buy_now = schemas["LotEdit"]["properties"]["buy_now"]
        assert buy_now["anyOf"] == schemas["LotEdit"]["properties"]["reserve"]["anyOf"]
        bought = paths["/api/lots/{lot_id}/buy-now"]["post"]["responses"]
        assert bought["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Bought")
        assert {"409", "404", "401", "429", "503"} <= set(bought)
        # What is sent is what is documented: every field, nothing more.
        reply = await admin.put(f"/api/admin/lots/{LOT}", json={"buy_now": 500})
        assert reply.status_code == 200, reply.text
        server.ctx.house.start()
        await asyncio.wait_for(server.ctx.house.settled(), 5)
        sent = (await bea.post(f"/api/lots/{LOT}/buy-now")).json()
        documented = schemas["Bought"]["properties"]
        assert set(sent) == set(documented)
        assert set(schemas["Bought"]["required"]) <= set(sent)
        models.Bought.model_validate(sent, strict=True)
